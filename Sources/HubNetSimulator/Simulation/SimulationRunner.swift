import Foundation
import HubNetPostgres
import HubNetServer
import Logging

/// One whole simulation: a mail sink, a server on the virtual clock, the run, the invariants, the report.
public enum SimulationRunner {
    public static func run(
        _ scenario: Scenario, databaseURL: DatabaseURL?, ownerURL: DatabaseURL?, logger: Logger, profiler: SimulationProfiler? = nil,
        progress: @escaping @Sendable (Int, Int) -> Void
    ) async throws -> SimulationReport {
        try scenario.validate()
        let sink = try await MailSink()
        let clock = SimulationClock(Simulation.start)
        do {
            let crashes = scenario.databaseRestartHours?.isEmpty == false
            let report = try await LocalServer.run(
                databaseURL: databaseURL, ownerURL: ownerURL, crashSafe: crashes, logger: logger,
                configure: {
                    $0.now = clock.function
                    $0.timerInterval = nil
                    $0.deliveryInterval = nil
                    $0.leadFormSubmissionsPerMinute = 1_000_000
                    $0.databasePoolSize = 10
                    $0.requestTimings = profiler?.requests
                }
            ) { server in
                guard let owner = server.ownerURL else {
                    throw ScenarioError("the invariant checks read across tenants: set HUBNET_MIGRATION_DATABASE_URL to the schema owner")
                }
                let simulation = Simulation(
                    scenario: scenario, server: server, clock: clock, sink: sink, profiler: profiler, progress: progress)
                try await simulation.run()
                return try await simulation.measure(.checking) {
                    let world = try await simulation.world(ownerURL: owner, logger: logger)
                    return try await simulation.report(ownerURL: owner, invariants: InvariantChecker.check(world), logger: logger)
                }
            }
            await sink.close()
            return report
        } catch {
            await sink.close()
            throw error
        }
    }
}
