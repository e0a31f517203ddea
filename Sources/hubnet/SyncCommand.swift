import ArgumentParser
import Foundation
import HubNetCore
import HubNetPostgres
import HubNetServer
import PostgresNIO

struct SyncCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sync", abstract: "Maintain the sync change log.", subcommands: [Compact.self, NewEpoch.self])

    struct Compact: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete change-log entries older than N days, tenant by tenant; devices behind the cut re-sync from a snapshot.")

        @Option(help: "Keep this many days of changes.") var keepDays = 30

        func run() async throws {
            let logger = makeLogger(default: .warning)
            try await reportingErrors {
                let cut = Date().addingTimeInterval(-Double(keepDays) * 86_400)
                let sync = PostgresSyncRepository(logger: logger)
                try await withAdminDatabase(logger: logger) { database in
                    var tenants: [Tenant] = []
                    var page = try PageRequest(limit: 200)
                    while true {
                        let result = try await PostgresTenantRepository(database: database).list(page)
                        tenants += result.items
                        guard let next = result.nextCursor else { break }
                        page = try PageRequest(limit: 200, after: next)
                    }
                    var total = 0
                    for tenant in tenants {
                        let removed = try await database.withTenant(tenant.id) { transaction in
                            try await sync.compact(before: cut, now: Date(), in: transaction)
                        }
                        if removed > 0 { say("\(tenant.slug): \(removed) changes removed") }
                        total += removed
                    }
                    say("Compacted \(tenants.count) tenants: \(total) changes older than \(keepDays) days removed.")
                }
            }
        }
    }

    struct NewEpoch: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "new-epoch",
            abstract: "Start a new sync epoch after restoring the database from a backup: every device re-syncs.",
            discussion: "Runs on HUBNET_MIGRATION_DATABASE_URL (the schema owner), since the server role may not change the epoch.")

        func run() async throws {
            let logger = makeLogger(default: .warning)
            try await reportingErrors {
                guard let url = try ServerConfiguration().migrationDatabaseURL ?? ServerConfiguration().databaseURL else {
                    throw ConfigurationError("set HUBNET_MIGRATION_DATABASE_URL (or DATABASE_URL) to the database to renew")
                }
                let epoch = try await withPostgresClient(url, logger: logger) { client in
                    try await client.withConnection { connection in
                        try await PostgresSyncRepository(logger: logger).renewEpoch(on: connection)
                    }
                }
                say("New sync epoch \(epoch.uuidString.lowercased()): devices will re-sync from a snapshot.")
            }
        }
    }
}
