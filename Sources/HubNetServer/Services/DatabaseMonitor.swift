import HubNetPostgres
import Logging
import PostgresNIO
import ServiceLifecycle

/// Looks at the database every `interval` on a connection of its own, so the server knows within a
/// second or two when the database is gone (requests then answer 503 at once and `/readyz` says
/// not ready) and when it is back. Its own connection, not the pool's: a pool busy with requests is
/// not an outage, and neither is one slow look on a busy machine: a refused or closed connection or
/// a server shutting down counts at once, other failures (timeouts) after three looks in a row.
struct DatabaseMonitor: Service {
    let database: Database
    let configuration: PostgresConnection.Configuration
    let interval: Duration

    func run() async throws {
        let logger = database.logger
        var configuration = configuration
        configuration.options.connectTimeout = .seconds(2)
        var connection: PostgresConnection?
        var nextID = 1
        var failuresInARow = 0
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                if connection == nil || connection?.isClosed == true {
                    nextID += 1
                    connection = try await PostgresConnection.connect(configuration: configuration, id: nextID, logger: logger)
                }
                if let connection { try await Database.probe(connection, logger: logger) }
                failuresInARow = 0
                database.availability.markUp(logger: logger)
            } catch {
                try? await connection?.close()
                connection = nil
                failuresInARow += 1
                if Self.isOutage(error) || failuresInARow >= 3 { database.availability.markDown(logger: logger, cause: error) }
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
        try? await connection?.close()
    }

    /// A failure that says the database is not there (rather than slow): a refused or missing socket,
    /// a closed connection, a server shutting down or starting up.
    static func isOutage(_ error: any Error) -> Bool {
        if let unavailable = error as? DatabaseUnavailable { return unavailable.reason == .connectionLost }
        guard let error = error as? PSQLError else { return false }
        switch error.code {
        case .serverClosedConnection, .uncleanShutdown: return true
        case .connectionError:
            let cause = String(describing: error.underlying ?? error)
            return cause.contains("refused") || cause.contains("No such file") || cause.contains("reset by peer")
        case .server: return error.serverInfo?[.sqlState]?.hasPrefix("57P") == true
        default: return false
        }
    }
}
