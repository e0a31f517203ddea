import Foundation
import HubNetPostgres
import Logging
import PostgresNIO

#if canImport(Glibc)
import Glibc
#endif

/// The PostgreSQL server a test process uses, and the template every test database is cloned from.
///
/// With `HUBNET_TEST_DATABASE_URL` (a role that may create databases and roles) it uses that server;
/// otherwise it starts one embedded throwaway cluster for the whole process and stops it at exit.
/// The template is migrated once per process; each test database is a cheap copy of it, so test
/// suites run in parallel and leave nothing behind.
public actor TestPostgres {
    public static let shared = TestPostgres()

    /// The login role test servers connect as: a member of `hubnet_app`, owning nothing.
    public static let serverRole = "hubnet_test_server"

    private var adminURL: DatabaseURL?
    // Tasks, not values: the actor is re-entered at every await, and concurrent tests must share
    // one connection and one template instead of racing to make their own.
    private var connection: Task<PostgresConnection, any Error>?
    private var templateName: Task<String, any Error>?
    private let logger: Logger = {
        var logger = Logger(label: "hubnet.test-postgres")
        logger.logLevel = .warning
        return logger
    }()

    /// A new, migrated, empty database of its own.
    public func makeDatabase() async throws -> TestDatabase {
        let template = try await template()
        let name = "hubnet_test_\(UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(16).lowercased())"
        // Database names cannot be bound; both are made here from hex digits.
        try await admin().rows(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name) TEMPLATE \(template)"), logger: logger)
        let url = try await server().with(database: name)
        return TestDatabase(name: name, ownerURL: url, serverURL: url.with(username: Self.serverRole))
    }

    /// Drops a database made by `makeDatabase`, closing any connection still open to it.
    public func drop(_ database: TestDatabase) async {
        guard database.name.hasPrefix("hubnet_test_"), database.name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" })
        else { return }
        do {
            try await admin().rows(PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(database.name) WITH (FORCE)"), logger: logger)
        } catch {
            logger.warning("could not drop test database \(database.name): \(error)")
        }
    }

    /// A URL of the server's administrative role on `database`.
    public func server() throws -> DatabaseURL {
        if let adminURL { return adminURL }
        if let text = ProcessInfo.processInfo.environment["HUBNET_TEST_DATABASE_URL"], !text.isEmpty {
            adminURL = try DatabaseURL(text)
        } else {
            let cluster = try EmbeddedPostgres(logger: logger)
            try cluster.start()
            embeddedClusterForExit = cluster
            atexit { embeddedClusterForExit?.stop() }
            adminURL = cluster.superuserURL()
        }
        return adminURL!
    }

    private func admin() async throws -> PostgresConnection {
        if let connection { return try await connection.value }
        let url = try server()
        let logger = logger
        let task = Task { try await PostgresConnection.connect(configuration: try url.connectionConfiguration(), id: 1, logger: logger) }
        connection = task
        return try await task.value
    }

    /// Creates and migrates the template once; its name carries the migrations' checksum, so a
    /// changed schema never reuses a stale template on a shared server.
    private func template() async throws -> String {
        if let templateName { return try await templateName.value }
        let task = Task { try await buildTemplate() }
        templateName = task
        return try await task.value
    }

    private func buildTemplate() async throws -> String {
        let migrations = try Migration.bundled()
        let digest = Migration(version: 1, name: "all", sql: migrations.map(\.checksum).joined()).checksum.prefix(12)
        let name = "hubnet_template_\(digest)"
        let admin = try await admin()
        let exists = try await admin.rows("SELECT count(*) FROM pg_database WHERE datname = \(name)", logger: logger)
            .first?.decode(Int.self) ?? 0
        if exists == 0 {
            let building = "\(name)_building_\(UUID().uuidString.prefix(8).lowercased().replacingOccurrences(of: "-", with: ""))"
            try await admin.rows(PostgresQuery(unsafeSQL: "CREATE DATABASE \(building)"), logger: logger)
            let url = try server().with(database: building)
            try await withPostgresClient(url, logger: logger, maximumConnections: 1) { client in
                try await Migrator(client: client, migrations: migrations, logger: logger).migrate()
                try await client.withConnection { connection in
                    try await DatabaseRoles.ensureServerLogin(Self.serverRole, on: connection, logger: logger)
                }
            }
            // Renaming into place makes the template appear whole or not at all, even when two test
            // processes share one server. A rename fails while a connection to the database is
            // still closing (a busy machine) or when another process renamed its own first.
            var attempts = 0
            while true {
                do {
                    try await admin.rows(PostgresQuery(unsafeSQL: "ALTER DATABASE \(building) RENAME TO \(name)"), logger: logger)
                    break
                } catch {
                    let made = try await admin.rows("SELECT count(*) FROM pg_database WHERE datname = \(name)", logger: logger)
                        .first?.decode(Int.self) ?? 0
                    if made > 0 {
                        try? await admin.rows(PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(building) WITH (FORCE)"), logger: logger)
                        break
                    }
                    attempts += 1
                    guard attempts < 50 else { throw error }
                    _ = try? await admin.rows(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = \(building) AND pid <> pg_backend_pid()",
                        logger: logger)
                    try await Task.sleep(for: .milliseconds(100))
                }
            }
        }
        return name
    }
}

/// One test's database: the owner's URL (for schema checks and raw SQL) and the server's (RLS applies).
public struct TestDatabase: Sendable {
    public let name: String
    public let ownerURL: DatabaseURL
    public let serverURL: DatabaseURL
}

/// Runs `body` with a fresh database and drops it afterwards, whatever `body` did.
///
/// At most `HUBNET_TEST_CONCURRENCY` (default 12) test databases are in use at once: Swift Testing
/// starts every test at the same time, and each test's server holds several connections, which
/// would otherwise exhaust the cluster and starve the machine.
public func withTestDatabase<Result: Sendable>(_ body: (TestDatabase) async throws -> Result) async throws -> Result {
    await TestSlots.shared.acquire()
    do {
        let result = try await withOwnTestDatabase(body)
        await TestSlots.shared.release()
        return result
    } catch {
        await TestSlots.shared.release()
        throw error
    }
}

/// Runs `body` with a fresh database as the server reaches it: the server's role, row-level
/// security applied (`withTestDatabase`, then a client on its `serverURL`).
public func withTestStore<Result: Sendable>(
    logger: Logger = Logger(label: "test"), _ body: (Database) async throws -> Result
) async throws -> Result {
    try await withTestDatabase { database in
        try await withPostgresClient(database.serverURL, logger: logger) { client in
            try await body(Database(client: client, logger: logger))
        }
    }
}

private func withOwnTestDatabase<Result: Sendable>(_ body: (TestDatabase) async throws -> Result) async throws -> Result {
    let database = try await TestPostgres.shared.makeDatabase()
    do {
        let result = try await body(database)
        await TestPostgres.shared.drop(database)
        return result
    } catch {
        await TestPostgres.shared.drop(database)
        throw error
    }
}

nonisolated(unsafe) private var embeddedClusterForExit: EmbeddedPostgres?

/// A counting semaphore for test databases, granted first come first served.
///
/// A test that must have the machine to itself (a drill that restarts PostgreSQL under load and
/// measures how fast the server notices) takes every slot with `withTestMachineToItself`.
public actor TestSlots {
    public static let shared = TestSlots(
        limit: ProcessInfo.processInfo.environment["HUBNET_TEST_CONCURRENCY"].flatMap(Int.init).map { max(1, $0) } ?? 12)

    public let limit: Int
    private var inUse = 0
    private var waiting: [(weight: Int, continuation: CheckedContinuation<Void, Never>)] = []

    init(limit: Int) { self.limit = limit }

    func acquire(_ weight: Int = 1) async {
        let weight = min(max(1, weight), limit)
        if waiting.isEmpty, inUse + weight <= limit {
            inUse += weight
            return
        }
        await withCheckedContinuation { waiting.append((weight, $0)) }
    }

    func release(_ weight: Int = 1) {
        inUse -= min(max(1, weight), limit)
        while let first = waiting.first, inUse + first.weight <= limit {
            waiting.removeFirst()
            inUse += first.weight
            first.continuation.resume()
        }
    }
}

/// Runs `body` while no test database is in use by any other test.
public func withTestMachineToItself<Result: Sendable>(_ body: () async throws -> Result) async throws -> Result {
    let slots = TestSlots.shared
    await slots.acquire(slots.limit)
    do {
        let result = try await body()
        await slots.release(slots.limit)
        return result
    } catch {
        await slots.release(slots.limit)
        throw error
    }
}
