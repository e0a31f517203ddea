import Logging
import PostgresNIO

/// Runs `body` with a connection pool that lives exactly as long as the call: for one-shot work
/// such as `migrate` or provisioning from the command line.
///
/// One connection is tried first, so a database that cannot be reached is one readable error at
/// once (`DatabaseConnectError`: where, as whom, why) instead of a pool retrying for a while and
/// failing with its circuit breaker.
public func withPostgresClient<Result: Sendable>(
    _ url: DatabaseURL, logger: Logger, maximumConnections: Int = 4,
    isolation: isolated (any Actor)? = #isolation,
    _ body: (PostgresClient) async throws -> Result
) async throws -> Result {
    try await url.checkReachable(logger: logger)
    let client = PostgresClient(
        configuration: try url.clientConfiguration(maximumConnections: maximumConnections), backgroundLogger: logger.forPool)
    return try await withThrowingTaskGroup(of: Void.self, isolation: isolation) { group in
        group.addTask { await client.run() }
        defer { group.cancelAll() }
        return try await body(client)
    }
}

extension DatabaseURL {
    /// A configuration for a single `PostgresConnection`, outside any pool.
    public func connectionConfiguration() throws -> PostgresConnection.Configuration {
        if let socketDirectory {
            return PostgresConnection.Configuration(
                unixSocketPath: "\(socketDirectory)/.s.PGSQL.\(port)", username: username, password: password,
                database: database)
        }
        let tls: PostgresConnection.Configuration.TLS =
            switch self.tls {
            case .disable: .disable
            case .prefer: .prefer(try .init(configuration: .makeClientConfiguration()))
            case .require: .require(try .init(configuration: .makeClientConfiguration()))
            }
        return PostgresConnection.Configuration(
            host: host ?? "127.0.0.1", port: port, username: username, password: password, database: database, tls: tls)
    }
}

extension DatabaseURL {
    /// Opens and closes one connection; a failure says where the database was looked for and why.
    public func checkReachable(logger: Logger) async throws {
        var configuration = try connectionConfiguration()
        configuration.options.connectTimeout = .seconds(5)
        do {
            let connection = try await PostgresConnection.connect(configuration: configuration, id: 0, logger: logger)
            try? await connection.close()
        } catch {
            throw DatabaseConnectError(url: self, cause: error)
        }
    }
}

/// PostgreSQL could not be reached or refused the login, in one line for the operator.
public struct DatabaseConnectError: Error, Sendable, CustomStringConvertible {
    public var url: DatabaseURL
    public var reason: String

    init(url: DatabaseURL, cause: any Error) {
        self.url = url
        if let error = cause as? PSQLError, let message = error.serverInfo?[.message] {
            reason = message
        } else if let error = cause as? PSQLError, let underlying = error.underlying {
            reason = String(describing: underlying)
        } else {
            reason = String(describing: cause)
        }
    }

    public var description: String {
        let place = url.socketDirectory.map { "the socket in \($0)" } ?? "\(url.host ?? "127.0.0.1"):\(url.port)"
        return "cannot connect to PostgreSQL at \(place), database \(url.database), as role \(url.username): \(reason). "
            + "Check that PostgreSQL is running there and that the URL's host, port, database, role and password are right (\(url))."
    }
}
