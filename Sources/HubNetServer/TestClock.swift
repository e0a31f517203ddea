import Foundation
import HubNetCore
import Synchronization

/// The server's clock for integrators' test suites (`hubnet serve --test-clock`): real time plus an
/// offset that only grows, or, frozen (`--test-clock=frozen`), a time that stands still until it is
/// moved. `POST /v1/test-clock/advance` lets days pass or moves it to a given instant; timers,
/// reminders and deliveries then run on the moved clock as they would after that much real time.
public final class TestClock: Sendable {
    /// Real time plus `ahead` seconds, or (frozen) `ahead` seconds after the frozen start.
    private let offset = Mutex<TimeInterval>(0)
    private let real: @Sendable () -> Date
    /// Set when the clock is frozen: the time it stood at when it was made.
    private let frozenAt: Date?
    /// Moves and the background timer and delivery passes take turns through it.
    public let passes = PassGate()

    public init(real: @escaping @Sendable () -> Date = { Date() }, frozen: Bool = false) {
        self.real = real
        // Whole seconds, so moves to whole-second instants land on them exactly.
        self.frozenAt = frozen ? Date(timeIntervalSinceReferenceDate: real().timeIntervalSinceReferenceDate.rounded(.down)) : nil
    }

    /// Whether time stands still between moves.
    public var isFrozen: Bool { frozenAt != nil }

    private var base: Date { frozenAt ?? real() }

    public var now: Date { base + offset.withLock { $0 } }

    /// How far ahead of real time the clock is.
    public var ahead: TimeInterval { (base + offset.withLock { $0 }).timeIntervalSince(real()) }

    /// The longest single move: ten years, so no date ever leaves the range HubNet keeps.
    public static let maximumStep: TimeInterval = 10 * 366 * 86_400

    /// Moves the clock forward by `seconds` (from 0 up to ten years); returns the new time.
    @discardableResult
    public func advance(by seconds: TimeInterval) throws(DomainError) -> Date {
        guard seconds.isFinite, (0...Self.maximumStep).contains(seconds) else {
            throw .invalid("seconds", "must be from 0 to \(Int(Self.maximumStep)) (the clock only moves forward)")
        }
        let moved = offset.withLock { value -> Bool in
            guard Timestamp.validDates.contains(base + value + seconds + Self.maximumStep) else { return false }
            value += seconds
            return true
        }
        guard moved else { throw .invalid("seconds", "would move the clock past the dates HubNet keeps") }
        return now
    }

    /// Moves the clock forward to `instant` (not before the clock's time, at most ten years on);
    /// a frozen clock then reads exactly `instant`. Returns the new time.
    @discardableResult
    public func advance(to instant: Date) throws(DomainError) -> Date {
        let moved = offset.withLock { value -> DomainError? in
            let current = base + value
            guard instant >= current else { return .invalid("to", "is before the clock's time \(Timestamp.rfc3339(current)) (the clock only moves forward)") }
            guard instant.timeIntervalSince(current) <= Self.maximumStep, Timestamp.validDates.contains(instant + Self.maximumStep) else {
                return .invalid("to", "is more than ten years ahead, or past the dates HubNet keeps")
            }
            value = instant.timeIntervalSince(base)
            return nil
        }
        if let moved { throw moved }
        return now
    }

    /// The clock as a `now` function for `ServerConfiguration.now` and the services.
    public var function: @Sendable () -> Date { { [self] in self.now } }
}
