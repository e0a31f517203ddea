import Foundation
import HubNetCore
import HubNetPostgres
import HubNetTestSupport
import Logging
import PostgresNIO
import Testing

/// `StoreRefusal`: the one reading of PostgreSQL's refusals that the HTTP API and a push share,
/// checked against errors a real server raises.
@Suite("What PostgreSQL refused")
struct StoreRefusalTests {
    let logger = Logger(label: "test")

    /// The error PostgreSQL raises for this statement.
    private func failure(of statement: PostgresQuery, on connection: PostgresConnection) async -> (any Error)? {
        do {
            try await connection.rows(statement, logger: logger)
            return nil
        } catch {
            return error
        }
    }

    @Test("a value out of range or malformed is invalid_value, a contradicted constraint constraint_violated, anything else no refusal")
    func refusalsByClass() async throws {
        try await withTestDatabase { database in
            try await withPostgresClient(database.ownerURL, logger: logger) { client in
                try await client.withConnection { connection in
                    try await connection.rows(
                        "CREATE TEMPORARY TABLE things (id INTEGER PRIMARY KEY, size INTEGER CHECK (size > 0))", logger: logger)
                    try await connection.rows("INSERT INTO things VALUES (1, 1)", logger: logger)
                    let cases: [(PostgresQuery, String?, DomainError.Kind?)] = [
                        ("SELECT \("99999999999")::INTEGER", "invalid_value", .invalid),
                        ("SELECT 1 / \(0)::INTEGER", "invalid_value", .invalid),
                        ("SELECT \("2026-13-45")::DATE", "invalid_value", .invalid),
                        ("INSERT INTO things VALUES (1, 2)", "constraint_violated", .conflict),
                        ("INSERT INTO things VALUES (2, -1)", "constraint_violated", .conflict),
                        ("INSERT INTO things VALUES (NULL, 1)", "constraint_violated", .conflict),
                        ("SELECT nothing FROM things", nil, nil),
                    ]
                    for (statement, code, kind) in cases {
                        let error = try #require(await failure(of: statement, on: connection), "\(statement.sql) did not fail")
                        let refusal = StoreRefusal.domainError(error)
                        #expect(refusal?.code == code, "\(statement.sql): \(String(reflecting: error))")
                        #expect(refusal?.kind == kind, "\(statement.sql)")
                        #expect(!StoreRefusal.isCollision(error), "\(statement.sql)")
                    }
                }
            }
        }
    }

    @Test("a deadlock and a serialization failure are collisions to send again, not refusals")
    func collisions() async throws {
        try await withTestDatabase { database in
            try await withPostgresClient(database.ownerURL, logger: logger) { client in
                try await client.withConnection { connection in
                    let statements: [PostgresQuery] = [
                        "DO $$ BEGIN RAISE EXCEPTION 'collided' USING ERRCODE = 'deadlock_detected'; END $$",
                        "DO $$ BEGIN RAISE EXCEPTION 'collided' USING ERRCODE = 'serialization_failure'; END $$",
                    ]
                    for statement in statements {
                        let error = try #require(await failure(of: statement, on: connection))
                        #expect(StoreRefusal.isCollision(error), "\(statement.sql)")
                        #expect(StoreRefusal.domainError(error) == nil, "\(statement.sql)")
                    }
                }
            }
        }
        struct Unrelated: Error {}
        #expect(!StoreRefusal.isCollision(Unrelated()) && StoreRefusal.domainError(Unrelated()) == nil)
    }
}
