import Logging
import PostgresNIO

/// Runs `body` with a connection pool that lives exactly as long as the call: for one-shot work
/// such as `migrate` or provisioning from the command line.
public func withPostgresClient<Result: Sendable>(
    _ url: DatabaseURL, logger: Logger, maximumConnections: Int = 4,
    isolation: isolated (any Actor)? = #isolation,
    _ body: (PostgresClient) async throws -> Result
) async throws -> Result {
    let client = PostgresClient(
        configuration: try url.clientConfiguration(maximumConnections: maximumConnections), backgroundLogger: logger)
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
