import Foundation
import HubNetCore
import HubNetPostgres
import HubNetTestSupport
import Logging
import PostgresNIO
import Testing

/// The store's helpers for parts of a transaction: a savepoint around one step, and the directory's
/// view added for one read. Both must leave the transaction as they found it, whether the step
/// returns or throws. A transaction-local setting shows what was undone: a rolled-back savepoint
/// takes back `set_config(…, true)` as it takes back rows.
@Suite("Transaction scopes")
struct TransactionScopeTests {
    let logger = Logger(label: "test")

    struct Refused: Error {}

    func setting(_ name: String, on connection: PostgresConnection) async throws -> String? {
        try await connection.rows("SELECT current_setting(\(name), true)", logger: logger).decode(String?.self).first ?? nil
    }

    @Test("a savepoint keeps what its step did when it returns, takes it back when the step throws a refusal the caller accepts (the transaction goes on), and leaves it for the transaction to fail otherwise")
    func savepoints() async throws {
        try await withTestDatabase { database in
            try await withPostgresClient(database.serverURL, logger: logger) { client in
                let store = Database(client: client, logger: logger)
                let tenant = try await Fixtures(database: store).tenant(.hub).tenant.id
                let seen = try await store.withTenant(tenant) { transaction -> [String?] in
                    var seen: [String?] = []
                    let kept = try await transaction.connection.withSavepoint(logger: logger, undoing: { _ in true }) {
                        try await transaction.connection.rows("SELECT set_config('hubnet.probe', 'kept', true)", logger: logger)
                        return 1
                    }
                    #expect(kept == 1)
                    seen.append(try await setting("hubnet.probe", on: transaction.connection))
                    return seen
                }
                #expect(seen == ["kept"])

                let undone = try await store.withTenant(tenant) { transaction -> [String?] in
                    try await transaction.connection.rows("SELECT set_config('hubnet.probe', 'before', true)", logger: logger)
                    await #expect(throws: Refused.self) {
                        try await transaction.connection.withSavepoint(logger: logger, undoing: { $0 is Refused }) {
                            try await transaction.connection.rows("SELECT set_config('hubnet.probe', 'refused', true)", logger: logger)
                            throw Refused()
                        }
                    }
                    // Taken back, and the transaction goes on.
                    let after = try await setting("hubnet.probe", on: transaction.connection)
                    try await transaction.connection.rows("SELECT set_config('hubnet.probe', 'went on', true)", logger: logger)
                    return [after, try await setting("hubnet.probe", on: transaction.connection)]
                }
                #expect(undone == ["before", "went on"])

                let left = try await store.withTenant(tenant) { transaction -> String? in
                    await #expect(throws: Refused.self) {
                        try await transaction.connection.withSavepoint(logger: logger, undoing: { _ in false }) {
                            try await transaction.connection.rows("SELECT set_config('hubnet.probe', 'not undone', true)", logger: logger)
                            throw Refused()
                        }
                    }
                    return try await setting("hubnet.probe", on: transaction.connection)
                }
                #expect(left == "not undone")
            }
        }
    }

    @Test("the directory's view is added for one read inside a tenant's transaction and taken away after it, whether the read returns or throws")
    func directoryForOneRead() async throws {
        try await withTestDatabase { database in
            try await withPostgresClient(database.serverURL, logger: logger) { client in
                let store = Database(client: client, logger: logger)
                let tenant = try await Fixtures(database: store).tenant(.hub).tenant.id
                let scopes = try await store.withTenant(tenant) { transaction -> [String?] in
                    var scopes: [String?] = []
                    let inside = try await Database.readingDirectory(on: transaction.connection, logger: logger) {
                        try await setting("hubnet.scope", on: transaction.connection)
                    }
                    scopes.append(inside)
                    scopes.append(try await setting("hubnet.scope", on: transaction.connection))
                    await #expect(throws: Refused.self) {
                        try await Database.readingDirectory(on: transaction.connection, logger: logger) {
                            scopes.append(try await setting("hubnet.scope", on: transaction.connection))
                            throw Refused()
                        }
                    }
                    scopes.append(try await setting("hubnet.scope", on: transaction.connection))
                    scopes.append(try await setting("hubnet.tenant_id", on: transaction.connection))
                    return scopes
                }
                #expect(scopes == ["directory", "", "directory", "", tenant.description])
            }
        }
    }
}

private enum ProbeLead: PreparedStatementKey {}

/// `withTenant(…, genericPlans: true)`: the write path's transactions run their prepared statements
/// on generic plans, and only they.
@Suite("Generic plans")
struct GenericPlanTests {
    let logger = Logger(label: "test")

    @Test("a transaction asked for generic plans runs its prepared statements on one (PostgreSQL counts no custom plan), and the next transaction on the connection plans as before")
    func genericPlansForOneTransaction() async throws {
        try await withTestDatabase { database in
            // One connection: both transactions, and the counts, are on it.
            try await withPostgresClient(database.serverURL, logger: logger, maximumConnections: 1) { client in
                let store = Database(client: client, logger: logger)
                let tenant = try await Fixtures(database: store).tenant(.hub).tenant.id
                func probe(_ transaction: TenantTransaction) async throws -> String? {
                    try await transaction.connection.rows(
                        "SELECT current_setting('plan_cache_mode') FROM leads WHERE tenant_id = \(transaction.tenant) AND id = \(UUID()) UNION ALL SELECT current_setting('plan_cache_mode')",
                        preparedAs: ProbeLead.self, logger: logger
                    ).decode(String.self).first
                }
                func plans() async throws -> (generic: Int, custom: Int) {
                    try await client.withConnection { connection in
                        let rows = try await connection.rows(
                            "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement LIKE '%current_setting(''plan_cache_mode'') FROM leads%'",
                            logger: logger
                        ).decode((Int, Int).self)
                        return try #require(rows.first)
                    }
                }
                let generic = try await store.withTenant(tenant, genericPlans: true) { transaction in
                    [try await probe(transaction), try await probe(transaction)]
                }
                #expect(generic == ["force_generic_plan", "force_generic_plan"])
                let afterGeneric = try await plans()
                #expect(afterGeneric.generic == 2 && afterGeneric.custom == 0, "\(afterGeneric)")
                let perCall = try await store.withTenant(tenant) { transaction in try await probe(transaction) }
                #expect(perCall == "auto")
                let afterPerCall = try await plans()
                #expect(afterPerCall.custom == 1 && afterPerCall.generic == 2, "\(afterPerCall)")
            }
        }
    }
}
