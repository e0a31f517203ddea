import Foundation
import HubNetServer
import Synchronization

/// Where a run's wall time went (`hubnet simulate --profile`): each phase of the simulation's hour,
/// each virtual day, and the server's own view of the requests it answered (with the database's
/// share). Timings differ from run to run, so they are printed beside the report, never in it.
public final class SimulationProfiler: Sendable {
    public enum Phase: String, CaseIterable, Sendable {
        case provision = "provisioning the network"
        case arrivals = "arrivals (lead forms, imports, sourcing companies)"
        case timers = "timer passes"
        case lanes = "which pushes may go side by side (simulator)"
        case syncs = "device syncs (SDK and server)"
        case viewChecks = "view checks after pulls (checker)"
        case decisions = "people deciding on their devices (SDK)"
        case meddling = "sourcing companies meddling"
        case viewChanges = "admins changing advisors' views"
        case delivery = "delivery passes (outbox to SMTP)"
        case faults = "database crashes and restarts"
        case homeTime = "home time (the last tick; its syncs count as device syncs)"
        case checking = "invariant check and report (checker)"
    }

    struct State {
        var phases: [Phase: Duration] = [:]
        /// The machine's processor ticks during each phase (idle and in all).
        var machine: [Phase: MachineCPU] = [:]
        var days: [Day] = []
        /// The server's totals when the last day ended.
        var requestsBefore = 0
        var statementsBefore = 0
        var serverTimeBefore = Duration.zero
    }

    /// One virtual day: its wall time, and the requests the server answered in it with their time.
    struct Day {
        var wall: Duration
        var requests: Int
        var statements: Int
        var serverTime: Duration
    }

    private let state = Mutex(State())
    /// The in-process server records every request here.
    public let requests = RequestTimings()

    /// The time since some fixed start: the machine's monotonic clock, or a test's own.
    let now: @Sendable () -> Duration

    public init() {
        let start = ContinuousClock.now
        now = { ContinuousClock.now - start }
    }

    init(now: @escaping @Sendable () -> Duration) { self.now = now }

    /// The phase being measured in this task, to which a phase measured inside it (home time's
    /// syncs) gives its time back: each second counts once, in the innermost phase.
    final class Frame: Sendable {
        let inner = Mutex(Duration.zero)
    }
    @TaskLocal static var frame: Frame?

    /// Runs `body` and adds its wall time to `phase`, less the time of phases measured inside it.
    func measure<Result>(_ phase: Phase, _ body: () async throws -> Result) async rethrows -> Result {
        let started = now()
        let machineBefore = MachineCPU.now()
        let outer = Self.frame
        let frame = Frame()
        defer {
            let spent = now() - started
            outer?.inner.withLock { $0 += spent }
            add(spent - frame.inner.withLock { $0 }, to: phase)
            if let machineBefore, let machineAfter = MachineCPU.now() {
                let spent = machineAfter.since(machineBefore)
                state.withLock { $0.machine[phase] = ($0.machine[phase] ?? MachineCPU(idle: 0, total: 0)) + spent }
            }
        }
        return try await Self.$frame.withValue(frame) { try await body() }
    }

    func add(_ duration: Duration, to phase: Phase) { state.withLock { $0.phases[phase, default: .zero] += duration } }

    /// Ends a virtual day that took `duration`: the requests answered since the day before are its own.
    func finishDay(_ duration: Duration) {
        let routes = requests.snapshot.values
        let count = routes.reduce(0) { $0 + $1.count }
        let statements = routes.reduce(0) { $0 + $1.statements }
        let time = routes.reduce(Duration.zero) { $0 + $1.total }
        state.withLock { state in
            state.days.append(
                Day(
                    wall: duration, requests: count - state.requestsBefore, statements: statements - state.statementsBefore,
                    serverTime: time - state.serverTimeBefore))
            (state.requestsBefore, state.statementsBefore, state.serverTimeBefore) = (count, statements, time)
        }
    }

    /// The breakdown as text: phases by share of the whole, the server's requests and the
    /// database's share, the slowest routes by total time with their mean statements and p50/p99,
    /// and the cost per day.
    public func rendered(total: Duration) -> String {
        let (phases, machine, days) = state.withLock { ($0.phases, $0.machine, $0.days) }
        let routes = requests.snapshot
        func seconds(_ duration: Duration) -> String { String(format: "%.1f s", duration.seconds) }
        func millis(_ duration: Duration) -> String { String(format: "%.1f ms", duration.seconds * 1000) }
        func share(_ duration: Duration) -> String {
            total == .zero ? "-" : String(format: "%3.0f%%", 100 * duration.seconds / total.seconds)
        }
        func right(_ text: String, _ width: Int) -> String { String(repeating: " ", count: max(0, width - text.count)) + text }
        var lines = ["Where the time went (\(seconds(total)) wall time; the machine's cores idle during each phase, where measured):"]
        for phase in Phase.allCases {
            let spent = phases[phase] ?? .zero
            // A phase whose cores sit idle waits on one step after another: the place for more side by side.
            let idle = machine[phase]?.idleShare.map { String(format: "%3.0f%% idle", 100 * $0) } ?? "        "
            lines.append(
                "  \(share(spent))  \(seconds(spent).padding(toLength: 9, withPad: " ", startingAt: 0))  \(idle)  \(phase.rawValue)")
        }
        // What no phase holds: the simulator's own steps between them (drawing the hour, applying
        // outcomes, revocations and wipes). Growing with the days, it is where to look next.
        let outside = total - phases.values.reduce(Duration.zero, +)
        lines.append("  \(share(outside))  \(seconds(outside).padding(toLength: 9, withPad: " ", startingAt: 0))            outside every phase (the simulator between them)")
        let serverTotal = routes.values.reduce(Duration.zero) { $0 + $1.total }
        let databaseTotal = routes.values.reduce(Duration.zero) { $0 + $1.database }
        let requestCount = routes.values.reduce(0) { $0 + $1.count }
        lines.append(
            "Server: \(requestCount) requests answered in \(seconds(serverTotal)) in all; waiting on PostgreSQL \(seconds(databaseTotal)) of it"
                + (serverTotal == .zero ? "" : String(format: " (%.0f%%)", 100 * databaseTotal.seconds / serverTotal.seconds)))
        lines.append("  route                                        requests      total   database  statements       p50       p99")
        for (route, figures) in routes.sorted(by: { ($0.value.total, $1.key) > ($1.value.total, $0.key) }).prefix(12) {
            let columns = [
                (String(figures.count), 11), (seconds(figures.total), 11), (seconds(figures.database), 11),
                (figures.count == 0 ? "-" : String(format: "%.1f", Double(figures.statements) / Double(figures.count)), 12),
                (millis(figures.percentile(0.5)), 10), (millis(figures.percentile(0.99)), 10),
            ]
            lines.append("  " + route.padding(toLength: 42, withPad: " ", startingAt: 0) + columns.map { right($0.0, $0.1) }.joined())
        }
        if !days.isEmpty {
            let shown = days.enumerated().map { "\($0.offset + 1): \(seconds($0.element.wall))" }
            lines.append("Wall time per virtual day: " + shown.joined(separator: ", "))
            // What a day cost beside the work it brought: flat per request while the days grow
            // means the cost follows the work, not the network's age.
            let perRequest = days.enumerated().map { offset, day in
                "\(offset + 1): \(day.requests) requests, " + (day.requests == 0 ? "-" : millis(day.serverTime / day.requests)) + " each, "
                    + "\(day.statements) statements"
            }
            lines.append("Server requests per virtual day: " + perRequest.joined(separator: "; "))
        }
        return lines.joined(separator: "\n")
    }
}
