import HubNetPostgres
import Logging
import ServiceLifecycle

/// Looks at the database every `interval` so that the server knows within a second or two when it
/// is gone (requests then answer 503 at once and `/readyz` says not ready) and when it is back.
struct DatabaseMonitor: Service {
    let database: Database
    let interval: Duration

    func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            await database.ping()
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }
}
