import ArgumentParser
import HubNetPostgres
import HubNetServer

struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Apply pending schema migrations from sql/.",
        discussion: """
            Connects as the schema owner: HUBNET_MIGRATION_DATABASE_URL, or DATABASE_URL. Each migration runs \
            in its own transaction and is recorded with its checksum; a changed or unknown applied migration \
            stops with a message. --server-role makes a login role for the server (a member of hubnet_app that \
            owns nothing), which needs CREATEROLE.
            """)

    @Flag(help: "Only report what is applied and pending.") var status = false
    @Option(help: "Create (if needed) this login role and make it a member of hubnet_app.") var serverRole: String?

    func run() async throws {
        let logger = makeLogger(default: .warning)
        try await reportingErrors {
            let configuration = try ServerConfiguration()
            guard let url = configuration.migrationDatabaseURL ?? configuration.databaseURL else {
                throw ConfigurationError("set HUBNET_MIGRATION_DATABASE_URL or DATABASE_URL to the database to migrate")
            }
            try await withPostgresClient(url, logger: logger, maximumConnections: 1) { client in
                let migrator = Migrator(client: client, migrations: try Migration.bundled(), logger: logger)
                if status {
                    let current = try await migrator.status()
                    say("applied: \(current.applied.count), pending: \(current.pending.count)")
                    for migration in current.pending { say("  pending \(migration.fileName)") }
                    if let problem = current.blockingProblem { throw MigrationError(description: problem) }
                    return
                }
                let applied = try await migrator.migrate()
                say(applied.isEmpty ? "schema is current" : "applied \(applied.map(\.fileName).joined(separator: ", "))")
                if let serverRole {
                    try await client.withConnection { connection in
                        try await DatabaseRoles.ensureServerLogin(serverRole, on: connection, logger: logger)
                    }
                    say("role \(serverRole) may now serve (member of \(DatabaseRoles.appRole))")
                }
            }
        }
    }
}
