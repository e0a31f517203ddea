import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Synchronization

/// A real HTTP server on loopback that records the webhook calls it receives, and can be told to
/// fail the first few with a 500, to exercise retries.
public final class WebhookReceiver: Sendable {
    public struct Call: Sendable {
        public var headers: HTTPFields
        public var body: String
    }

    final class Log: Sendable {
        let state: Mutex<(calls: [Call], failuresLeft: Int)>
        init(failing: Int) { state = Mutex(([], failing)) }
    }

    private let log: Log
    private let task: Mutex<Task<Void, any Error>?> = Mutex(nil)
    public let port: Int

    /// Starts the receiver; the first `failing` calls are answered 500.
    public init(failing: Int = 0) async throws {
        let log = Log(failing: failing)
        self.log = log
        let router = Router()
        router.post("hook") { request, context -> HTTPResponse.Status in
            let body = try await request.body.collect(upTo: 1 << 20)
            return log.state.withLock { state in
                state.calls.append(Call(headers: request.headers, body: String(buffer: body)))
                if state.failuresLeft > 0 {
                    state.failuresLeft -= 1
                    return .internalServerError
                }
                return .ok
            }
        }
        let (stream, continuation) = AsyncStream<Int>.makeStream()
        var logger = Logger(label: "webhook-receiver")
        logger.logLevel = .error
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in continuation.yield(channel.localAddress?.port ?? 0) }, logger: logger)
        task.withLock { $0 = Task { try await app.runService(gracefulShutdownSignals: []) } }
        var iterator = stream.makeAsyncIterator()
        self.port = await iterator.next() ?? 0
    }

    public var url: String { "http://127.0.0.1:\(port)/hook" }
    public var calls: [Call] { log.state.withLock { $0.calls } }

    public func stop() { task.withLock { $0?.cancel() } }
}
