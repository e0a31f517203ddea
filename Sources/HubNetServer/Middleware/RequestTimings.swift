import Foundation
import Synchronization

/// Every answered request's time and the database's share of it, per route, kept in memory for a
/// profile (the simulator's `--profile`). Attached through `ServerConfiguration.requestTimings`; a
/// server without one records nothing.
public final class RequestTimings: Sendable {
    /// One route's figures: how many requests, their total time, the database's share, and each
    /// request's time in microseconds for percentiles.
    public struct Route: Sendable {
        public var count = 0
        public var total: Duration = .zero
        public var database: Duration = .zero
        public var statements = 0
        var micros: [Int32] = []

        /// The time below which `fraction` (0…1) of this route's requests were answered.
        public func percentile(_ fraction: Double) -> Duration {
            guard !micros.isEmpty else { return .zero }
            let sorted = micros.sorted()
            let index = min(sorted.count - 1, max(0, Int((Double(sorted.count) * fraction).rounded(.up)) - 1))
            return .microseconds(Int64(sorted[index]))
        }
    }

    private let routes = Mutex<[String: Route]>([:])

    public init() {}

    func record(method: String, route: String, total: Duration, database: Duration, statements: Int) {
        let micros = Int32(clamping: total.components.seconds &* 1_000_000 &+ total.components.attoseconds / 1_000_000_000_000)
        routes.withLock { routes in
            routes["\(method) \(route)", default: Route()].count += 1
            routes["\(method) \(route)"]?.total += total
            routes["\(method) \(route)"]?.database += database
            routes["\(method) \(route)"]?.statements += statements
            routes["\(method) \(route)"]?.micros.append(micros)
        }
    }

    /// Every route so far, by "METHOD /route/template".
    public var snapshot: [String: Route] { routes.withLock { $0 } }
}
