import Logging
import ServiceLifecycle

/// Runs `pass` every `interval` until graceful shutdown; a failed pass is logged and retried on the
/// next tick, so a database hiccup delays work without stopping the service.
func runPeriodically(every interval: Duration, name: String, logger: Logger, _ pass: () async throws -> Void) async {
    while !Task.isCancelled && !Task.isShuttingDownGracefully {
        do {
            try await pass()
        } catch {
            logger.warning("\(name): pass failed, retrying", metadata: ["error": "\(String(reflecting: error))"])
        }
        try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
    }
}
