import Foundation
import HubNetCore
import HubNetPostgres
import HubNetTestSupport
import Logging
import PostgresNIO
import Testing

/// The schema rules that keep tenants apart and make the schema distributable by tenant.
@Suite("Tenant tables")
struct TenancySchemaTests {
    let logger = Logger(label: "test")
    /// Tables that are not owned by a tenant: the registry of tenants, the migration log, the sync epoch.
    static let globalTables: Set<String> = ["tenants", "schema_migrations", "sync_epoch", "network_secrets"]

    @Test("every tenant table leads with tenant_id, keys on it, references through it, and has row-level security")
    func catalogRules() async throws {
        try await withTestDatabase { database in
            try await withPostgresClient(database.ownerURL, logger: logger) { client in
                var problems: [String] = []
                let tables = try await client.query(
                    """
                    SELECT c.relname::TEXT, c.relrowsecurity,
                           (SELECT a.attname::TEXT FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum = 1),
                           (SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid)
                    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                    WHERE n.nspname = 'public' AND c.relkind = 'r'
                    """, logger: logger)
                var tenantTables: [String] = []
                for try await (table, rls, firstColumn, policies) in tables.decode((String, Bool, String, Int).self) {
                    guard !Self.globalTables.contains(table) else { continue }
                    tenantTables.append(table)
                    if firstColumn != "tenant_id" { problems.append("\(table): first column is \(firstColumn)") }
                    if !rls { problems.append("\(table): row-level security is off") }
                    if policies == 0 { problems.append("\(table): no policy") }
                }
                #expect(tenantTables.contains("users") && tenantTables.contains("listings"))
                let constraints = try await client.query(
                    """
                    SELECT c.conrelid::regclass::TEXT, c.conname::TEXT, c.contype::TEXT,
                           (SELECT a.attname::TEXT FROM pg_attribute a WHERE a.attrelid = c.conrelid AND a.attnum = c.conkey[1]),
                           EXISTS (SELECT 1 FROM unnest(c.conkey) k JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k
                                   WHERE a.attname = 'tenant_id'),
                           c.confrelid::regclass::TEXT
                    FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
                    WHERE n.nspname = 'public' AND c.contype IN ('p', 'f', 'u')
                    """, logger: logger)
                var tablesWithKey = Set<String>()
                for try await (table, name, type, firstKey, includesTenant, referenced) in constraints.decode(
                    (String, String, String, String, Bool, String).self)
                {
                    guard !Self.globalTables.contains(table) else { continue }
                    switch type {
                    case "p":
                        tablesWithKey.insert(table)
                        if firstKey != "tenant_id" { problems.append("\(table): primary key \(name) does not start with tenant_id") }
                    case "u":
                        if !includesTenant { problems.append("\(table): unique \(name) lacks tenant_id") }
                    default:
                        // A reference to the tenant registry is by tenant_id itself.
                        if !includesTenant { problems.append("\(table): foreign key \(name) to \(referenced) lacks tenant_id") }
                    }
                }
                for table in tenantTables where !tablesWithKey.contains(table) { problems.append("\(table): no primary key") }
                #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
            }
        }
    }

    @Test("a query with no tenant set sees no rows, and one tenant's transaction sees only its own")
    func rowLevelSecurity() async throws {
        try await withTestDatabase { database in
            let (first, second) = try await withPostgresClient(database.serverURL, logger: logger) { client in
                let fixtures = Fixtures(database: Database(client: client, logger: logger))
                let first = try await fixtures.tenant(.hub, users: [[.moderator]], listings: [ListingDraft(name: "A", serviceAreas: ["X"])])
                let second = try await fixtures.tenant(.hub, users: [[.advisor]], listings: [ListingDraft(name: "B", serviceAreas: ["Y"])])
                return (first.tenant.id, second.tenant.id)
            }
            try await withPostgresClient(database.serverURL, logger: logger) { client in
                let database = Database(client: client, logger: logger)
                for table in ["users", "listings", "api_tokens"] {
                    // No tenant set: the server's role sees nothing, whatever the query asks for.
                    let unscoped = try await database.withNetwork { connection in
                        try await connection.query(PostgresQuery(unsafeSQL: "SELECT count(*) FROM \(table)"), logger: logger)
                            .collect().first?.decode(Int.self)
                    }
                    #expect(unscoped == 0, "\(table) leaked rows without a tenant")
                    // A tenant set: only its own rows, even without a WHERE clause.
                    let visible = try await database.withTenant(first) { transaction in
                        try await transaction.connection.query(
                            PostgresQuery(unsafeSQL: "SELECT DISTINCT tenant_id FROM \(table)"), logger: logger
                        ).collect().map { try $0.decode(Tenant.ID.self) }
                    }
                    #expect(visible == [first], "\(table) showed another tenant's rows")
                }
                // Writing a row for another tenant is refused by the policy's check.
                await #expect(throws: PSQLError.self) {
                    try await database.withTenant(first) { transaction in
                        try await transaction.connection.query(
                            "INSERT INTO units (tenant_id, id, name) VALUES (\(second), \(UUID()), 'smuggled')", logger: logger)
                    }
                }
            }
        }
    }

    @Test("a visit to another tenant sees that tenant's rows and comes back, also when its body throws; after a failed statement the error is the statement's own")
    func visitsComeBack() async throws {
        try await withTestDatabase { database in
            let (home, other) = try await withPostgresClient(database.serverURL, logger: logger) { client in
                let fixtures = Fixtures(database: Database(client: client, logger: logger))
                return (try await fixtures.tenant(.hub).tenant.id, try await fixtures.tenant(.partnerCompany).tenant.id)
            }
            try await withPostgresClient(database.serverURL, logger: logger) { client in
                let database = Database(client: client, logger: logger)
                func tenantsSeen(_ connection: PostgresConnection) async throws -> [Tenant.ID] {
                    try await connection.query("SELECT DISTINCT tenant_id FROM users", logger: logger).collect().map { try $0.decode(Tenant.ID.self) }
                }
                let seen = try await database.withTenant(home) { transaction in
                    let there = try await transaction.visiting(other) { visit in
                        #expect(visit.tenant == other)
                        return try await tenantsSeen(visit.connection)
                    }
                    #expect(transaction.tenant == home)
                    let back = try await tenantsSeen(transaction.connection)
                    // A refusal thrown inside the visit (no statement failed): the transaction goes on, at home.
                    do {
                        try await transaction.visiting(other) { _ in
                            throw DomainError.conflict("refused", "inside the visit")
                        }
                        Issue.record("the visit did not throw")
                    } catch let error as DomainError {
                        #expect(error.code == "refused")
                    }
                    let each = try await transaction.visiting([other, other, home, other], tenant: { $0 }) { item, visit in
                        #expect(visit.tenant == item)
                        return try await tenantsSeen(visit.connection)
                    }
                    return (there, back, try await tenantsSeen(transaction.connection), each)
                }
                #expect(seen.0 == [other])
                #expect(seen.1 == [home])
                #expect(seen.2 == [home], "a visit that threw did not come back")
                #expect(seen.3 == [[other], [other], [home], [other]])
                // A statement that fails inside a visit: its own error, not the aborted transaction's.
                await #expect(throws: PSQLError.self) {
                    try await database.withTenant(home) { transaction in
                        try await transaction.visiting(other) { visit in
                            try await visit.connection.query("SELECT 1 / \(0)::INTEGER", logger: logger)
                        }
                    }
                }
                do {
                    try await database.withTenant(home) { transaction in
                        try await transaction.visiting(other) { visit in
                            try await visit.connection.query("SELECT 1 / \(0)::INTEGER", logger: logger)
                        }
                    }
                } catch let error as PSQLError {
                    #expect(error.serverInfo?[.sqlState] == "22012", "\(String(reflecting: error))")
                }
            }
        }
    }

    @Test("the server refuses a role that could bypass row-level security, and accepts its own")
    func serverRoleIsVerified() async throws {
        try await withTestDatabase { database in
            try await withPostgresClient(database.ownerURL, logger: logger) { client in
                await #expect(throws: ConfigurationError.self) {
                    try await DatabaseRoles.verifyServerConnection(client, logger: logger)
                }
            }
            try await withPostgresClient(database.serverURL, logger: logger) { client in
                try await DatabaseRoles.verifyServerConnection(client, logger: logger)
            }
        }
    }
}
