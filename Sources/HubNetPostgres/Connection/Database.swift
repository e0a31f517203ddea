import HubNetCore
import Logging
import NIOConcurrencyHelpers
import PostgresNIO

/// The server's handle on PostgreSQL: a connection pool and the rule that every transaction says
/// whose data it touches, so row-level security can hold it to that.
///
/// No caller waits on the database without bound: a connection is waited for at most
/// `limits.connectionWait`, a statement runs at most `limits.statementTimeout`, a dead connection
/// fails its statement within a second (see `PostgresConnection.rows`), and while the database is
/// known to be down (`availability`, kept by `DatabaseMonitor`) transactions fail at once. Each of
/// these is a `DatabaseUnavailable`, which the server answers with 503 and `Retry-After`.
public struct Database: Sendable {
    public let client: PostgresClient
    public let logger: Logger
    public let limits: DatabaseLimits
    public let availability: DatabaseAvailability

    public init(
        client: PostgresClient, logger: Logger, limits: DatabaseLimits = DatabaseLimits(),
        availability: DatabaseAvailability = DatabaseAvailability()
    ) {
        self.client = client
        self.logger = logger
        self.limits = limits
        self.availability = availability
    }

    /// Runs `body` in one transaction that sees only `tenant`'s rows, handed to it as a
    /// `TenantTransaction`: the tenant and its transaction travel together from here on.
    /// - Parameters:
    ///   - lockTimeout: how long any statement of it may wait for a lock before it fails with
    ///     SQLSTATE 55P03 (`nil`: as long as the statement may run).
    ///   - genericPlans: PostgreSQL runs the transaction's statements on generic plans
    ///     (`plan_cache_mode`), for a write path of prepared set-based statements: their rows come
    ///     in arrays and JSON documents whose size no plan can see, so PostgreSQL's default
    ///     re-planned them at every call (planning cost as much as running them) for plans no
    ///     better than the generic one. A statement not prepared is planned at each call either
    ///     way, then without its values: not for reads whose best plan depends on them.
    public func withTenant<Result: Sendable>(
        _ tenant: Tenant.ID, lockTimeout: Duration? = nil, genericPlans: Bool = false, _ body: (TenantTransaction) async throws -> Result
    ) async throws -> Result {
        let logger = logger
        let settings =
            [("hubnet.tenant_id", tenant.description)] + (lockTimeout.map { [("lock_timeout", "\($0.milliseconds)")] } ?? [])
            + (genericPlans ? [("plan_cache_mode", "force_generic_plan")] : [])
        return try await transaction(settings: settings) { connection in
            try await body(TenantTransaction(tenant: tenant, connection: connection, logger: logger))
        }
    }

    /// One round trip that answers when the server is up (the database monitor's probe).
    public static func probe(_ connection: PostgresConnection, logger: Logger) async throws {
        try await connection.rows("SELECT 1", logger: logger)
    }

    /// Runs `body` inside the open transaction with the directory's view added (the published
    /// listings of every hub, as `withDirectory` sees them), then takes it away, whether `body`
    /// returns or throws: for a write that must read one listing of another hub.
    public static func readingDirectory<Result>(
        on connection: PostgresConnection, logger: Logger, _ body: () async throws -> Result
    ) async throws -> Result {
        try await connection.rows("SELECT set_config('hubnet.scope', 'directory', true)", logger: logger)
        let result: Result
        do {
            result = try await body()
        } catch {
            _ = try? await connection.rows("SELECT set_config('hubnet.scope', '', true)", logger: logger)
            throw error
        }
        try await connection.rows("SELECT set_config('hubnet.scope', '', true)", logger: logger)
        return result
    }

    /// Moves the open transaction to another tenant's rows; only `TenantTransaction.visiting` does,
    /// so that every visit comes back.
    static func enter(_ tenant: Tenant.ID, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.rows(
            "SELECT set_config('hubnet.tenant_id', \(tenant.description), true)", preparedAs: EnterTenant.self, logger: logger)
    }

    /// The statements every transaction and every move between tenants send, kept parsed per
    /// connection (`PreparedStatementKey`).
    enum EnterTenant: PreparedStatementKey {}
    enum ApplySettings: PreparedStatementKey {}

    /// Runs `body` in one read-only transaction that sees the published listings of every hub.
    public func withDirectory<Result: Sendable>(_ body: (PostgresConnection) async throws -> Result) async throws -> Result {
        try await transaction(readOnly: true, settings: [("hubnet.scope", "directory")], body)
    }

    /// Runs `body` in one read-only transaction that sees, across tenants, what the timer scheduler
    /// needs to find due work (and nothing else: see the `scheduler` policies).
    public func withSchedulerScan<Result: Sendable>(_ body: (PostgresConnection) async throws -> Result) async throws -> Result {
        try await transaction(readOnly: true, settings: [("hubnet.scope", "scheduler")], body)
    }

    /// Runs `body` in one transaction with no tenant set: only the network's global tables show.
    public func withNetwork<Result: Sendable>(_ body: (PostgresConnection) async throws -> Result) async throws -> Result {
        try await transaction(settings: [], body)
    }

    /// Runs `body`, one statement that scopes itself (a function that enters a tenant for its own
    /// implicit transaction, such as `hubnet_authenticate_device`), on a pooled connection without
    /// opening a transaction: one round trip instead of four. Fails as `transaction` does.
    public func withSingleStatement<Result: Sendable>(_ body: (PostgresConnection) async throws -> Result) async throws -> Result {
        if availability.isDown { throw DatabaseUnavailable(.noConnection) }
        do {
            return try await withConnection(body)
        } catch {
            guard let unavailable = DatabaseUnavailable.classify(error) else { throw error }
            throw unavailable
        }
    }

    /// One transaction with its settings (and the statement timeout) applied in one statement after
    /// `BEGIN`. The error thrown is the one that caused the rollback (a `DomainError`, a constraint
    /// violation) or a `DatabaseUnavailable`.
    private func transaction<Result: Sendable>(
        readOnly: Bool = false, settings: [(String, String)], _ body: (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        if availability.isDown { throw DatabaseUnavailable(.noConnection) }
        let logger = logger
        let names = ["statement_timeout"] + settings.map(\.0)
        let values = ["\(limits.statementTimeout.milliseconds)"] + settings.map(\.1)
        do {
            return try await withConnection { connection in
                try await connection.rows(readOnly ? "BEGIN READ ONLY" : "BEGIN", logger: logger)
                let value: Result
                do {
                    try await connection.rows(
                        "SELECT set_config(s.name, s.value, true) FROM unnest(\(names)::TEXT[], \(values)::TEXT[]) AS s(name, value)",
                        preparedAs: ApplySettings.self, logger: logger)
                    value = try await body(connection)
                } catch {
                    // A dead connection has no transaction left to roll back (and a statement sent
                    // on it would never be answered).
                    if !connection.isClosed && DatabaseUnavailable.classify(error)?.reason != .connectionLost {
                        _ = try? await connection.rows("ROLLBACK", logger: logger)
                    }
                    throw error
                }
                do {
                    try await connection.rows("COMMIT", logger: logger)
                } catch {
                    if let unavailable = DatabaseUnavailable.classify(error), unavailable.reason != .statementTimeout {
                        throw DatabaseUnavailable(.commitUnknown)
                    }
                    throw error
                }
                return value
            }
        } catch {
            guard let unavailable = DatabaseUnavailable.classify(error) else { throw error }
            throw unavailable
        }
    }

    /// Leases a pooled connection for `body`, waiting for one at most `wait` (default
    /// `limits.connectionWait`), and no longer once the database is known to be down.
    ///
    /// PostgresNIO's pool waits for a connection as long as it takes; a request during an outage
    /// must not. The lease runs in a child task beside a timer: when the timer ends first (or the
    /// monitor has seen the database gone) and the lease has not started, the lease is cancelled
    /// (the pool supports it) and the caller gets `DatabaseUnavailable(.noConnection)`. Once `body`
    /// has started it is never abandoned.
    public func withConnection<Result: Sendable>(
        wait: Duration? = nil, _ body: (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        try await lease(wait: wait ?? limits.connectionWait, givingUpWhenDown: true, body)
    }

    private func lease<Result: Sendable>(
        wait: Duration, givingUpWhenDown: Bool, _ body: (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        try await withoutActuallyEscaping(body) { body in
            // `body` runs in exactly one child task while this task waits for the group, and the
            // group always finishes before `withoutActuallyEscaping` returns.
            let work = UncheckedSendableBox(body)
            let lease = LeaseState()
            let (client, availability) = (client, availability)
            return try await withThrowingTaskGroup(of: Result?.self) { group in
                group.addTask {
                    try await client.withConnection { connection in
                        guard lease.start() else { throw CancellationError() }
                        return try await work.value(connection)
                    }
                }
                group.addTask {
                    let deadline = ContinuousClock.now + wait
                    while ContinuousClock.now < deadline, !Task.isCancelled, !(givingUpWhenDown && availability.isDown) {
                        try? await Task.sleep(for: min(.milliseconds(100), deadline - ContinuousClock.now))
                    }
                    if lease.abandon() { throw DatabaseUnavailable(.noConnection) }
                    return nil
                }
                while let next = try await group.next() {
                    if let value = next {
                        group.cancelAll()
                        return value
                    }
                }
                throw DatabaseUnavailable(.noConnection)
            }
        }
    }

    /// Whether the database answers `SELECT 1` on a pooled connection within a second (`/readyz`).
    public func ping() async -> Bool {
        do {
            _ = try await lease(wait: .seconds(1), givingUpWhenDown: true) { connection in
                try await connection.rows("SELECT 1", logger: logger)
            }
            return true
        } catch {
            return false
        }
    }
}

/// How long the server waits on the database.
public struct DatabaseLimits: Sendable {
    /// `HUBNET_DB_WAIT_MS`: the longest a request waits for a pooled connection while the database
    /// is up (a busy pool); while it is down, requests do not wait at all. Default 10 s.
    public var connectionWait: Duration
    /// `HUBNET_DB_STATEMENT_TIMEOUT_MS`: the longest one statement may run. Default 30 s.
    public var statementTimeout: Duration

    public init(connectionWait: Duration = .seconds(10), statementTimeout: Duration = .seconds(30)) {
        self.connectionWait = connectionWait
        self.statementTimeout = statementTimeout
    }
}

/// Whether the database was reachable at the last look: while it is not, transactions fail at once
/// instead of queueing for a connection. `DatabaseMonitor` looks every second, on a connection of
/// its own (a busy pool is not an outage).
public final class DatabaseAvailability: Sendable {
    private let down = NIOLockedValueBox<ContinuousClock.Instant?>(nil)

    public init() {}

    public var isDown: Bool { down.withLockedValue { $0 != nil } }

    /// Since when the database has been unreachable, if it is.
    public var downSince: ContinuousClock.Instant? { down.withLockedValue { $0 } }

    public func markDown(logger: Logger, cause: (any Error)? = nil) {
        let changed = down.withLockedValue { since in
            guard since == nil else { return false }
            since = .now
            return true
        }
        if changed {
            logger.warning(
                "database unreachable: answering 503 until it is back", metadata: ["cause": "\(cause.map { String(reflecting: $0) } ?? "")"])
        }
    }

    public func markUp(logger: Logger) {
        let changed = down.withLockedValue { since in
            guard since != nil else { return false }
            since = nil
            return true
        }
        if changed { logger.notice("database reachable again") }
    }
}

/// Who got there first: the lease (`start`) or the timer (`abandon`).
private final class LeaseState: Sendable {
    private let state = NIOLockedValueBox<Int>(0)  // 0 waiting, 1 started, 2 abandoned

    func start() -> Bool {
        state.withLockedValue { value in
            guard value == 0 else { return false }
            value = 1
            return true
        }
    }

    func abandon() -> Bool {
        state.withLockedValue { value in
            guard value == 0 else { return false }
            value = 2
            return true
        }
    }
}

/// A value handed to exactly one child task while its owner waits; see `Database.withConnection`.
private struct UncheckedSendableBox<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}

extension Duration {
    /// Whole milliseconds, for settings that take them.
    var milliseconds: Int64 { components.seconds * 1_000 + components.attoseconds / 1_000_000_000_000_000 }
}

extension PSQLError {
    /// Whether this is a unique violation of the named constraint.
    public func violates(_ constraint: String) -> Bool {
        serverInfo?[.sqlState] == "23505" && serverInfo?[.constraintName] == constraint
    }
}
