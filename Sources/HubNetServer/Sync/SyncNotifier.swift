import Foundation
import HubNetCore
import Logging
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// Fans pokes out to the devices connected to this process, by tenant. Fed by `SyncListener`,
/// which hears every server process's commits through PostgreSQL's LISTEN/NOTIFY.
public final class SyncNotifier: Sendable {
    private struct Subscriber {
        var tenant: Tenant.ID
        var continuation: AsyncStream<Void>.Continuation
    }

    private let subscribers = Mutex<[UUID: Subscriber]>([:])

    public init() {}

    /// A stream that yields whenever the tenant's change log grows; it ends when the caller stops
    /// iterating. Pokes coalesce: a slow reader sees one, not a backlog.
    public func subscribe(_ tenant: Tenant.ID) -> AsyncStream<Void> {
        let id = UUID()
        let (stream, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        continuation.onTermination = { [weak self] _ in
            _ = self?.subscribers.withLock { $0.removeValue(forKey: id) }
        }
        subscribers.withLock { $0[id] = Subscriber(tenant: tenant, continuation: continuation) }
        return stream
    }

    public func poke(_ tenant: Tenant.ID) {
        let targets = subscribers.withLock { $0.values.filter { $0.tenant == tenant }.map(\.continuation) }
        for continuation in targets { continuation.yield() }
    }

    public var connectedCount: Int { subscribers.withLock { $0.count } }
}

/// Holds one connection that LISTENs on `hubnet_sync` (the change log trigger's channel) and pokes
/// the notifier; reconnects after a failure until the server shuts down.
struct SyncListener: Service {
    let client: PostgresClient
    let notifier: SyncNotifier
    let logger: Logger

    func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                try await cancelWhenGracefulShutdown {
                    try await client.withConnection { connection in
                        try await connection.listen(on: "hubnet_sync") { notifications in
                            for try await notification in notifications {
                                if let tenant = Tenant.ID(string: notification.payload) { notifier.poke(tenant) }
                            }
                        }
                    }
                }
            } catch {
                if Task.isCancelled || Task.isShuttingDownGracefully { return }
                logger.warning("sync listener lost its connection, reconnecting", metadata: ["error": "\(String(reflecting: error))"])
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(1)) }
            }
        }
    }
}
