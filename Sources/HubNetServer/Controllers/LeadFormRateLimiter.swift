import Foundation

/// Counts public lead-form submissions per client address in one-minute windows.
///
/// Kept in memory: each server process counts its own clients, so behind a load balancer the
/// effective limit is per process. That bounds abuse without a database write per attempt.
actor LeadFormRateLimiter {
    private let limit: Int
    private var windows: [String: (minute: Int64, count: Int)] = [:]

    init(limit: Int) { self.limit = limit }

    /// Whether one more submission from `client` is allowed now; counts it if so. When refused,
    /// also returns the seconds until the window resets.
    func admit(_ client: String, now: Date) -> (allowed: Bool, retryAfter: Int) {
        let minute = Int64(now.timeIntervalSince1970 / 60)
        if windows.count > 50_000 { windows = windows.filter { $0.value.minute == minute } }
        var window = windows[client] ?? (minute, 0)
        if window.minute != minute { window = (minute, 0) }
        let retryAfter = max(1, 60 - Int(now.timeIntervalSince1970) % 60)
        guard window.count < limit else { return (false, retryAfter) }
        window.count += 1
        windows[client] = window
        return (true, retryAfter)
    }
}
