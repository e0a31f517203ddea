import Foundation
import HubNetPostgres
import HubNetServer
import Logging

/// One whole simulation: a mail sink, a server on the virtual clock, the run, the invariants, the report.
public enum SimulationRunner {
    public static func run(
        _ scenario: Scenario, databaseURL: DatabaseURL?, ownerURL: DatabaseURL?, serverBinary: String? = ServerProcess.currentExecutable,
        logger: Logger, profiler: SimulationProfiler? = nil, concurrency: Int = 8,
        progress: @escaping @Sendable (Int, Int) -> Void
    ) async throws -> SimulationReport {
        try scenario.validate()
        let sink = try await MailSink()
        let clock = SimulationClock(Simulation.start)
        do {
            let crashes = scenario.databaseRestartHours?.isEmpty == false
            // A scenario that kills the server runs it as its own process, to kill.
            var process: (binary: String, environment: [String: String])?
            if scenario.serverKillHours?.isEmpty == false {
                guard let serverBinary else {
                    throw ScenarioError("server_kill_hours: the server runs as its own process of the hubnet binary; run `hubnet simulate`")
                }
                process = (
                    serverBinary,
                    [
                        "HUBNET_SMTP_URL": "smtp://127.0.0.1:\(sink.port)", "HUBNET_MAIL_FROM": "simulator@hubnet.test",
                        "HUBNET_LEAD_FORM_RATE": "100000", "HUBNET_DB_POOL_SIZE": "10",
                    ]
                )
            }
            let report = try await LocalServer.run(
                databaseURL: databaseURL, ownerURL: ownerURL, crashSafe: crashes, process: process, logger: logger,
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
                    scenario: scenario, server: server, clock: clock, sink: sink, profiler: profiler, concurrency: concurrency,
                    progress: progress)
                defer { simulation.deviceStorage.remove() }
                // The live channel's stand-in reads across tenants, as the schema owner.
                try await withPostgresClient(owner, logger: logger, maximumConnections: 1) { client in
                    simulation.liveChannel = client
                    defer { simulation.liveChannel = nil }
                    try await simulation.run()
                }
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
