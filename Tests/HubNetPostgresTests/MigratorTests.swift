import Foundation
import HubNetPostgres
import HubNetTestSupport
import Logging
import PostgresNIO
import Testing

@Suite("Migrations")
struct MigratorTests {
    let logger = Logger(label: "test")

    @Test("migrations apply once, in order, each recorded with its checksum")
    func applyOnce() async throws {
        try await withTestDatabase { database in
            let raw = database.ownerURL.with(database: database.name)
            try await withPostgresClient(raw, logger: logger) { client in
                let migrations = try Migration.bundled()
                let migrator = Migrator(client: client, migrations: migrations, logger: logger)
                // The test database is cloned from a migrated template: nothing is pending.
                let status = try await migrator.status()
                #expect(status.isCurrent)
                #expect(status.applied.map(\.checksum) == migrations.map(\.checksum))
                #expect(try await migrator.migrate().isEmpty)
            }
        }
    }

    @Test("a fresh database gets every migration, and serving refuses while any is pending")
    func pendingBlocksServing() async throws {
        try await withTestDatabase { database in
            let fresh = "hubnet_test_fresh_\(UUID().uuidString.prefix(8).lowercased())"
            try await withPostgresClient(database.ownerURL, logger: logger) { client in
                try await client.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(fresh)"), logger: logger)
            }
            defer { Task { try? await dropDatabase(fresh, via: database.ownerURL) } }
            try await withPostgresClient(database.ownerURL.with(database: fresh), logger: logger) { client in
                let migrator = Migrator(client: client, migrations: try Migration.bundled(), logger: logger)
                let before = try await migrator.status()
                #expect(before.pending.count == (try Migration.bundled()).count)
                #expect(before.servingProblem?.contains("hubnet migrate") == true)
                let applied = try await migrator.migrate()
                #expect(applied.count == before.pending.count)
                #expect(try await migrator.status().servingProblem == nil)
            }
        }
    }

    @Test("an applied migration whose file changed stops migrate and serve")
    func alteredMigration() async throws {
        try await withTestDatabase { database in
            try await withPostgresClient(database.ownerURL, logger: logger) { client in
                try await client.query("UPDATE schema_migrations SET checksum = 'edited' WHERE version = 1", logger: logger)
                let migrator = Migrator(client: client, migrations: try Migration.bundled(), logger: logger)
                let status = try await migrator.status()
                #expect(status.altered.map(\.version) == [1])
                #expect(status.servingProblem?.contains("forward-only") == true)
                await #expect(throws: MigrationError.self) { try await migrator.migrate() }
            }
        }
    }

    @Test("a database newer than the build is refused")
    func unknownMigration() async throws {
        try await withTestDatabase { database in
            try await withPostgresClient(database.ownerURL, logger: logger) { client in
                try await client.query(
                    "INSERT INTO schema_migrations (version, name, checksum) VALUES (9999, 'future', 'x')", logger: logger)
                let status = try await Migrator(client: client, migrations: try Migration.bundled(), logger: logger).status()
                #expect(status.unknown.map(\.version) == [9999])
                #expect(status.servingProblem?.contains("newer hubnet") == true)
            }
        }
    }

    @Test("migration files are named NNNN_name.sql")
    func fileNames() throws {
        #expect(Migration(fileName: "0002_leads.sql", sql: "")?.version == 2)
        #expect(Migration(fileName: "0002_leads.sql", sql: "")?.name == "leads")
        #expect(Migration(fileName: "leads.sql", sql: "") == nil)
        #expect(Migration(fileName: "0002_leads.txt", sql: "") == nil)
    }
}

func dropDatabase(_ name: String, via url: DatabaseURL) async throws {
    let logger = Logger(label: "test")
    try await withPostgresClient(url, logger: logger) { client in
        try await client.query(PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(name) WITH (FORCE)"), logger: logger)
    }
}
