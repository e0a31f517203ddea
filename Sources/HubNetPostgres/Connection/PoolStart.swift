import PostgresNIO
import Synchronization

/// Runs a `PostgresClient` and tells whoever waits that it runs. A connection leased before the
/// pool's `run()` is still served, but PostgresNIO logs a warning for it, which every command and
/// every server start would print: code that leases right after starting the pool waits here first.
public final class PoolStart: Sendable {
    public let client: PostgresClient
    private let state = Mutex<(running: Bool, waiting: [CheckedContinuation<Void, Never>])>((false, []))

    public init(_ client: PostgresClient) { self.client = client }

    /// Runs the pool until it is cancelled (`PostgresClient.run()`), first releasing the waiters.
    public func run() async {
        let waiting = state.withLock { state in
            state.running = true
            defer { state.waiting = [] }
            return state.waiting
        }
        for waiter in waiting { waiter.resume() }
        await client.run()
    }

    /// Returns once `run()` has been called.
    public func untilRunning() async {
        await withCheckedContinuation { (waiter: CheckedContinuation<Void, Never>) in
            let running = state.withLock { state in
                if !state.running { state.waiting.append(waiter) }
                return state.running
            }
            if running { waiter.resume() }
        }
        // `run()` goes on into the pool's own without suspending; let it get there.
        await Task.yield()
    }
}
