import HubNetCore
import Logging
import PostgresNIO

/// The server's handle on PostgreSQL: a connection pool and the rule that every transaction says
/// whose data it touches, so row-level security can hold it to that.
public struct Database: Sendable {
    public let client: PostgresClient
    public let logger: Logger

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    /// Runs `body` in one transaction that sees only `tenant`'s rows.
    public func withTenant<Result: Sendable>(
        _ tenant: Tenant.ID, _ body: (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        try await transaction { connection in
            try await connection.query("SELECT set_config('hubnet.tenant_id', \(tenant.description), true)", logger: logger)
            return try await body(connection)
        }
    }

    /// Moves an open transaction to another tenant's rows, for the few operations that span two
    /// tenants on purpose (a referral lands in its target; a target's action updates the source's
    /// mirror). Callers return to their own tenant before doing anything else.
    public static func enter(_ tenant: Tenant.ID, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("SELECT set_config('hubnet.tenant_id', \(tenant.description), true)", logger: logger)
    }

    /// Runs `body` in one read-only transaction that sees the published listings of every hub.
    public func withDirectory<Result: Sendable>(_ body: (PostgresConnection) async throws -> Result) async throws -> Result {
        try await transaction { connection in
            try await connection.query("SET TRANSACTION READ ONLY", logger: logger)
            try await connection.query("SELECT set_config('hubnet.scope', 'directory', true)", logger: logger)
            return try await body(connection)
        }
    }

    /// Runs `body` in one read-only transaction that sees, across tenants, what the timer scheduler
    /// needs to find due work (and nothing else: see the `scheduler` policies).
    public func withSchedulerScan<Result: Sendable>(_ body: (PostgresConnection) async throws -> Result) async throws -> Result {
        try await transaction { connection in
            try await connection.query("SET TRANSACTION READ ONLY", logger: logger)
            try await connection.query("SELECT set_config('hubnet.scope', 'scheduler', true)", logger: logger)
            return try await body(connection)
        }
    }

    /// Runs `body` in one transaction with no tenant set: only the network's global tables show.
    public func withNetwork<Result: Sendable>(_ body: (PostgresConnection) async throws -> Result) async throws -> Result {
        try await transaction(body)
    }

    /// One transaction; the error thrown is the one that caused the rollback (a `DomainError`, a
    /// constraint violation), not PostgresNIO's wrapper around it.
    private func transaction<Result: Sendable>(_ body: (PostgresConnection) async throws -> Result) async throws -> Result {
        do {
            return try await client.withTransaction(logger: logger) { connection in try await body(connection) }
        } catch let error as PostgresTransactionError {
            throw error.closureError ?? error.beginError ?? error.commitError ?? error
        }
    }

    /// Whether the database answers at all.
    public func ping() async -> Bool {
        do {
            try await client.query("SELECT 1", logger: logger)
            return true
        } catch {
            return false
        }
    }
}

extension PSQLError {
    /// Whether this is a unique violation of the named constraint.
    public func violates(_ constraint: String) -> Bool {
        serverInfo?[.sqlState] == "23505" && serverInfo?[.constraintName] == constraint
    }

    /// Whether PostgreSQL refused the value itself (too long, out of range, bad encoding):
    /// the client sent something the domain checks did not catch.
    public var isDataException: Bool {
        serverInfo?[.sqlState]?.hasPrefix("22") == true
    }
}
