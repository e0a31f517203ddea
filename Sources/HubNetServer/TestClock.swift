import Foundation
import HubNetCore
import Synchronization

/// The server's clock for integrators' test suites (`hubnet serve --test-clock`): real time plus an
/// offset that only grows. `POST /v1/test-clock/advance` lets days pass; timers, reminders and
/// deliveries then run on the moved clock as they would after that much real time.
public final class TestClock: Sendable {
    private let offset = Mutex<TimeInterval>(0)
    private let real: @Sendable () -> Date
    /// Moves and the background timer and delivery passes take turns through it.
    public let passes = PassGate()

    public init(real: @escaping @Sendable () -> Date = { Date() }) { self.real = real }

    public var now: Date { real() + offset.withLock { $0 } }

    /// How far ahead of real time the clock is.
    public var ahead: TimeInterval { offset.withLock { $0 } }

    /// The longest single move: ten years, so no date ever leaves the range HubNet keeps.
    public static let maximumStep: TimeInterval = 10 * 366 * 86_400

    /// Moves the clock forward by `seconds` (from 0 up to ten years); returns the new time.
    @discardableResult
    public func advance(by seconds: TimeInterval) throws(DomainError) -> Date {
        guard seconds.isFinite, (0...Self.maximumStep).contains(seconds) else {
            throw .invalid("seconds", "must be from 0 to \(Int(Self.maximumStep)) (the clock only moves forward)")
        }
        let moved = offset.withLock { value -> Bool in
            guard Timestamp.validDates.contains(real() + value + seconds + Self.maximumStep) else { return false }
            value += seconds
            return true
        }
        guard moved else { throw .invalid("seconds", "would move the clock past the dates HubNet keeps") }
        return now
    }

    /// The clock as a `now` function for `ServerConfiguration.now` and the services.
    public var function: @Sendable () -> Date { { [self] in self.now } }
}
