import Foundation
import NIOCore

/// Admits at most `limit` attempts per key in any 60 seconds (a sliding window, not calendar
/// minutes: a burst that straddles a minute's turn is still one burst). Used for the public lead
/// form per client address and for console sign-in per address and per email.
///
/// Kept in memory: each server process counts its own clients, so behind a load balancer the
/// effective limit is per process. That bounds abuse without a database write per attempt.
actor RateLimiter {
    static let window: TimeInterval = 60
    /// Above this many keys, keys with nothing left in their window are dropped.
    static let keysBeforeSweep = 50_000

    private let limit: Int
    /// Each key's admitted attempts still inside the window, oldest first.
    private var attempts: [String: CircularBuffer<TimeInterval>] = [:]

    init(limit: Int) { self.limit = max(0, limit) }

    /// Whether one more attempt by `key` is allowed at `now`; counts it if so. Also returns the
    /// whole seconds until the oldest counted attempt leaves the window (at least 1).
    func admit(_ key: String, now date: Date) -> (allowed: Bool, retryAfter: Int) {
        let now = date.timeIntervalSince1970
        if attempts.count > Self.keysBeforeSweep { sweep(now) }
        var times = attempts.removeValue(forKey: key) ?? CircularBuffer(initialCapacity: min(limit, 16))
        // Leave the window: attempts a minute old, and any "from the future" after the clock stepped back.
        while let oldest = times.first, oldest <= now - Self.window || oldest > now + 1 { times.removeFirst() }
        let allowed = times.count < limit
        if allowed { times.append(now) }
        let wait = times.first.map { $0 + Self.window - now } ?? Self.window
        let retryAfter = Int(min(Self.window, max(1, wait.rounded(.up))))
        if !times.isEmpty { attempts[key] = times }
        return (allowed, retryAfter)
    }

    /// The number of keys held (for tests of the sweep).
    var keys: Int { attempts.count }

    private func sweep(_ now: TimeInterval) {
        attempts = attempts.filter { _, times in times.last.map { $0 > now - Self.window && $0 <= now + 1 } ?? false }
    }
}
