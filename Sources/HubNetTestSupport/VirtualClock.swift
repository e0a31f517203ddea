import Foundation
import Synchronization

/// A clock that only moves when told to, for timers in tests and the simulator.
public final class VirtualClock: Sendable {
    private let current: Mutex<Date>

    public init(_ start: Date = Date(timeIntervalSince1970: 1_900_000_000)) {
        self.current = Mutex(start)
    }

    public var now: Date { current.withLock { $0 } }

    /// Moves the clock forward.
    public func advance(by interval: TimeInterval) {
        current.withLock { $0 += interval }
    }

    /// The clock as a `now` function for `ServerConfiguration.now` and services.
    public var function: @Sendable () -> Date { { [self] in self.now } }
}
