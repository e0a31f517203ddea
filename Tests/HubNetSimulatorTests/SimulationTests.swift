import Foundation
import GRDB
import HubNetCore
import HubNetPostgres
@testable import HubNetSimulator
import HubNetSync
import HubNetTestSupport
import Logging
import PostgresNIO
import Testing

@Suite("Network simulator")
struct SimulationTests {
    let logger = Logger(label: "simulation-test")

    @Test("the same seed gives the same report, byte for byte, with faults injected (mail down, device wipes, view changes), and every invariant holds")
    func deterministic() async throws {
        var scenario = Scenario.small
        scenario.days = 2
        // Often enough that two days show them: moderators and advisors editing one lead in the
        // same hour (conflicts), admins widening and narrowing advisors' views (resets).
        scenario.doubleEditChance = 1
        scenario.viewChangesPerWeek = 40
        scenario.meanResponseHours = 6
        scenario.deviceWipesPerWeek = 10
        // Faults: the mail receiver down for two of the hours; the outbox retries.
        scenario.smtpOutageHours = [10, 30]
        // Device clocks up to four hours ahead or behind: the times devices stamp are off.
        scenario.deviceClockSkewHours = 4
        let chosen = scenario
        let (first, referrals) = try await withTestDatabase { database in
            // One request at a time here, eight at once in the second run: the same report.
            let report = try await SimulationRunner.run(
                chosen, databaseURL: database.serverURL, ownerURL: database.ownerURL, logger: logger, concurrency: 1) { _, _ in }
            // Counted here, apart from the report: referrals sent and accepted.
            let counted = try await withPostgresClient(database.ownerURL, logger: logger) { client in
                var counts = (sent: 0, accepted: 0)
                for (sent, accepted) in try await client.rows(
                    "SELECT count(*)::INTEGER, count(accepted_at)::INTEGER FROM referrals", logger: logger
                ).decode((Int, Int).self) { counts = (sent, accepted) }
                return counts
            }
            return (report, counted)
        }
        // The second run is profiled: measuring does not change what happens.
        let profiler = SimulationProfiler()
        let second = try await withTestDatabase { database in
            try await SimulationRunner.run(
                chosen, databaseURL: database.serverURL, ownerURL: database.ownerURL, logger: logger, profiler: profiler, concurrency: 8
            ) { _, _ in }
        }
        #expect(try first.json() == second.json())
        let routes = profiler.requests.snapshot
        let pulls = try #require(routes["GET /v1/sync/pull"])
        #expect(pulls.count == second.stats.pulls)
        #expect(pulls.database > .zero && pulls.database <= pulls.total)
        #expect((routes["POST /v1/sync/push"]?.count ?? 0) >= second.stats.pushes)
        // The page's latency table is the server's own timings of that run, route by route.
        let profiledPage = second.html(latency: routes)
        #expect(profiledPage.contains("Server latency per route"))
        #expect(profiledPage.contains(String(format: "<tr><td>GET /v1/sync/pull</td><td>%d</td><td>%.1f</td>", pulls.count, pulls.percentile(0.5).seconds * 1000)))
        #expect(!first.html().contains("Server latency per route"), "an unprofiled page has no latency table")
        let rendered = profiler.rendered(total: .seconds(60))
        for phase in SimulationProfiler.Phase.allCases { #expect(rendered.contains(phase.rawValue)) }
        #expect(rendered.contains("Wall time per virtual day: 1: "))
        #expect(first.summary == second.summary)
        #expect(first.allInvariantsHeld, "\(first.summary)")
        // It did something: leads arrived on every channel and people acted on them.
        #expect(first.organisations.reduce(0) { $0 + $1.leadsIn } > 0)
        #expect(first.stats.mutations > 0)
        #expect(first.stats.doubleEdits > 0 && first.stats.conflicts > 0, "\(first.summary)")
        #expect(first.stats.viewChanges > 0 && first.stats.resets > 0, "\(first.summary)")
        #expect(first.stats.deviceWipes > 0, "\(first.summary)")
        // Wiped, new and reset devices took their users' views again: those records, day by day,
        // are part of the changes pulled.
        #expect(first.stats.snapshotRecords > 0 && first.stats.snapshotRecords < first.stats.changesPulled, "\(first.summary)")
        #expect(first.daily.reduce(0) { $0 + $1.snapshotRecords } == first.stats.snapshotRecords)
        #expect(first.daily.allSatisfy { $0.snapshotRecords <= $0.changes })
        #expect(first.stats.smtpOutageHours == 2 && first.deliveryRetries > 0, "\(first.summary)")
        #expect(first.stats.clocksAhead > 0 && first.stats.clocksBehind > 0, "\(first.summary)")
        #expect(Set(first.funnels.map(\.template)).isSuperset(of: ["hub_moderation", "partner_lead", "status_path"]))
        // Sourcing companies work their own leads (the status path), not only refer them.
        #expect((first.funnels.first { $0.template == "status_path" }?.acted ?? 0) > 0, "\(first.summary)")
        // The referral flows account for every referral, and the page shows them and every figure as tables.
        #expect(referrals.sent > 0)
        #expect(first.flows.reduce(0) { $0 + $1.referred } == referrals.sent)
        #expect(first.flows.reduce(0) { $0 + $1.accepted } == referrals.accepted)
        let page = first.html()
        #expect(page.contains("Referral flows"))
        for flow in first.flows { #expect(page.contains("<tr><td>\(flow.from)</td><td>\(flow.to)</td><td>\(flow.referred)</td>")) }
        for organisation in first.organisations { #expect(page.contains("<tr><td>\(organisation.name)</td><td>\(organisation.kind)</td><td>\(organisation.leadsIn)</td>")) }
        for invariant in first.invariants { #expect(page.contains(invariant.name)) }
        #expect(!page.contains("<pre>"))
        // A different seed gives a different run.
        scenario.seed += 1
        let reseeded = scenario
        let other = try await withTestDatabase { database in
            try await SimulationRunner.run(reseeded, databaseURL: database.serverURL, ownerURL: database.ownerURL, logger: logger) { _, _ in }
        }
        #expect(try other.json() != first.json())

        // Side by side, each figure is the one its own report gives, and the differences are marked.
        let comparison = SimulationComparison(first, other)
        #expect(comparison.nameA == "small" && comparison.nameB == "small (varied)")
        for funnel in first.funnels {
            let row = try #require(comparison.rows.first { $0.section == "funnel \(funnel.template)" && $0.label == "created" })
            #expect(row.a == Double(funnel.created))
            #expect(row.b == Double(other.funnels.first { $0.template == funnel.template }?.created ?? 0))
        }
        let emails = try #require(comparison.rows.first { $0.label == "emails delivered" })
        #expect(emails.a == Double(first.emailsDelivered) && emails.b == Double(other.emailsDelivered))
        #expect(!comparison.differences.isEmpty && comparison.differences.allSatisfy { $0.a != $0.b })
        #expect(comparison.summary.contains("\(comparison.differences.count) of \(comparison.rows.count) figures differ"))
        #expect(comparison.html().contains("<svg"))
        #expect(SimulationComparison(first, second).differences.isEmpty)
    }

    /// The binary the test command built (`swift build --build-tests` builds it beside the tests).
    static var hubnetBinary: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent(".build/debug/hubnet").path
    }

    @Test("faults: PostgreSQL crashed under the server twice, the server process killed twice, devices revoked and people deactivated while offline: every request meanwhile is refused as documented, two runs give the same report, every invariant holds")
    func databaseCrashesAndRevocations() async throws {
        var scenario = Scenario.small
        scenario.days = 2
        scenario.databaseRestartHours = [5, 30]
        scenario.serverKillHours = [8, 33]
        scenario.deviceRevocationsPerWeek = 8
        scenario.userDeactivationsPerWeek = 30
        let chosen = scenario
        // No DATABASE_URL: the run starts its own PostgreSQL, the one it crashes.
        let binary = Self.hubnetBinary
        let first = try await SimulationRunner.run(chosen, databaseURL: nil, ownerURL: nil, serverBinary: binary, logger: logger) { _, _ in }
        let second = try await SimulationRunner.run(chosen, databaseURL: nil, ownerURL: nil, serverBinary: binary, logger: logger) { _, _ in }
        #expect(try first.json() == second.json())
        #expect(first.allInvariantsHeld, "\(first.summary)")
        #expect(first.invariants.contains { $0.name.hasPrefix("faults got their documented answers") && $0.held })
        #expect(first.stats.databaseRestarts == 2)
        // Each crash: one device's sync and one API read, both answered 503.
        #expect(first.stats.refusedWhileDatabaseDown == 4, "\(first.summary)")
        // Each kill: one device's sync got no answer (and kept its queue); a new process carried on.
        #expect(first.stats.serverKills == 2 && first.stats.failedWhileServerDown == 2, "\(first.summary)")
        #expect(first.stats.deviceRevocations > 0, "\(first.summary)")
        // Home time syncs every device, so every revoked device came back and was stopped.
        #expect(first.stats.revokedSyncsRefused == first.stats.deviceRevocations, "\(first.summary)")
        #expect(first.stats.userDeactivations > 0, "\(first.summary)")
        // Each deactivated person's devices came back (home time) and were stopped; the ninth
        // invariant holds that exactly the revoked devices and the departed people's are revoked.
        #expect(first.stats.deactivatedSyncsRefused > 0, "\(first.summary)")
        #expect(first.summary.contains("PostgreSQL crashed and restarted 2 times"))
        // Work went on after the crashes: mutations pushed and changes pulled on the second day.
        #expect((first.stats.dailyMutations[1] ?? 0) > 0 && (first.stats.dailyChanges[1] ?? 0) > 0, "\(first.summary)")
    }

    @Test("a second run on a database that holds the first run's network checks its own organisations: every invariant holds in both, and the seed gives the same report")
    func secondRunOnOneDatabase() async throws {
        var scenario = Scenario.small
        scenario.days = 1
        let chosen = scenario
        let (first, second, emails) = try await withTestDatabase { database in
            let first = try await SimulationRunner.run(chosen, databaseURL: database.serverURL, ownerURL: database.ownerURL, logger: logger) { _, _ in }
            let second = try await SimulationRunner.run(chosen, databaseURL: database.serverURL, ownerURL: database.ownerURL, logger: logger) { _, _ in }
            let emails = try await withPostgresClient(database.ownerURL, logger: logger) { client in
                try await client.rows("SELECT count(*)::INTEGER FROM outbox WHERE channel = 'email' AND delivered_at IS NOT NULL", logger: logger)
                    .decode(Int.self).reduce(0, +)
            }
            return (first, second, emails)
        }
        #expect(first.allInvariantsHeld, "\(first.summary)")
        #expect(second.allInvariantsHeld, "\(second.summary)")
        // Both networks' emails are in the database; each run counted its own.
        #expect(first.emailsDelivered > 0 && second.emailsDelivered > 0)
        #expect(emails >= first.emailsDelivered + second.emailsDelivered)
        #expect(try first.json() == second.json())
    }

    @Test("devices on the live channel pull only when poked: the report is that of devices pulling at every sync, but for the pulls not made, each of which would have found nothing")
    func pullWhenPoked() async throws {
        var scenario = Scenario.small
        scenario.days = 2
        scenario.meanResponseHours = 6
        // Resets and drops reach devices through the log too: views changed, storage wiped.
        scenario.viewChangesPerWeek = 40
        scenario.deviceWipesPerWeek = 10
        var reports: [SimulationReport] = []
        for live in [false, true] {
            scenario.liveChannel = live
            let chosen = scenario
            reports.append(
                try await withTestDatabase { database in
                    try await SimulationRunner.run(chosen, databaseURL: database.serverURL, ownerURL: database.ownerURL, logger: logger) { _, _ in }
                })
        }
        let (polled, poked) = (reports[0], reports[1])
        #expect(poked.allInvariantsHeld, "\(poked.summary)")
        #expect(polled.stats.pullsNotPoked == 0)
        #expect(poked.stats.pullsNotPoked > 0)
        // A device at its log's head pulls one page of nothing: every pull not made is one such page.
        #expect(poked.stats.pulls + poked.stats.pullsNotPoked == polled.stats.pulls)
        #expect(poked.stats.resets > 0 && poked.stats.drops > 0, "\(poked.summary)")
        var aligned = poked
        aligned.stats.pulls = polled.stats.pulls
        aligned.stats.pullsNotPoked = 0
        #expect(try aligned.json() == polled.json())
    }

    @Test("copies that crossed de-identified all show one placeholder name: each is still decided on, told apart by its need (the person's case number), where it came from and when, and two runs (one step at a time, then eight) give the same report")
    func deidentifiedCopiesAreToldApart() async throws {
        var scenario = Scenario.small
        scenario.days = 2
        scenario.leadsPerDay = 72
        scenario.partners = 1
        // One source: the hour's copies all come from it and land at one virtual instant, so only
        // their need tells them apart.
        scenario.sourcingCompanies = 1
        scenario.meanResponseHours = 2
        // Every lead the sourcing company refers reaches the one partner de-identified, and every
        // copy the partner's people decide on is accepted.
        scenario.channels = .init(leadForm: 0, hubImport: 0, sourcing: 1)
        scenario.consentShare = 0
        scenario.partnerOdds.accept = 1
        scenario.partnerOdds.decline = 0
        let chosen = scenario
        var reports: [SimulationReport] = []
        for concurrency in [1, 8] {
            reports.append(
                try await withTestDatabase { database in
                    try await SimulationRunner.run(
                        chosen, databaseURL: database.serverURL, ownerURL: database.ownerURL, logger: logger, concurrency: concurrency
                    ) { _, _ in }
                })
        }
        #expect(try reports[0].json() == reports[1].json())
        let report = reports[0]
        #expect(report.allInvariantsHeld, "\(report.summary)")
        let partnerLeads = try #require(report.funnels.first { $0.template == "partner_lead" })
        #expect(partnerLeads.created >= 120, "\(report.summary)")
        // Keyed by source and instant alone, the partner's people decided on one copy of each
        // hour's three and never on the others (which one followed the order of server-made ids,
        // so runs of one seed could differ); told apart, all but the last hours' are accepted.
        #expect(partnerLeads.accepted * 4 >= partnerLeads.created * 3, "\(partnerLeads)")
    }

    @Test("a database restart needs the simulator's own database, and a server kill the hubnet binary: otherwise the run refuses before it starts")
    func faultsNeedTheirParts() async throws {
        var scenario = Scenario.small
        scenario.days = 1
        scenario.databaseRestartHours = [3]
        let crashing = scenario
        scenario.databaseRestartHours = nil
        scenario.serverKillHours = [3]
        let killing = scenario
        try await withTestDatabase { database in
            await #expect(throws: ScenarioError.self) {
                try await SimulationRunner.run(crashing, databaseURL: database.serverURL, ownerURL: database.ownerURL, logger: logger) { _, _ in }
            }
        }
        // Refused before anything starts: no database is touched.
        await #expect(throws: ScenarioError.self) {
            try await SimulationRunner.run(killing, databaseURL: nil, ownerURL: nil, serverBinary: nil, logger: logger) { _, _ in }
        }
    }

    @Test("a scenario can name a distribution rule: sourcing companies route by it, slow partners lose leads to SLA pullback, and every invariant holds")
    func distributionRule() async throws {
        var scenario = Scenario.small
        scenario.days = 2
        scenario.meanResponseHours = 18
        scenario.channels = .init(leadForm: 0.2, hubImport: 0.1, sourcing: 0.7)
        scenario.distribution = .init(mode: "round_robin", slaHours: 12, slaBusinessDays: nil, maxHops: 2, staleAfterHours: nil)
        let chosen = scenario
        let (report, counted) = try await withTestDatabase { database in
            let report = try await SimulationRunner.run(chosen, databaseURL: database.serverURL, ownerURL: database.ownerURL, logger: logger) { _, _ in }
            // Counted apart from the report, in the sources' lead histories.
            let counted = try await withPostgresClient(database.ownerURL, logger: logger) { client in
                var counts = (routed: 0, pulled: 0)
                for (routed, pulled) in try await client.rows(
                    """
                    SELECT count(*) FILTER (WHERE action = 'route')::INTEGER, count(*) FILTER (WHERE action = 'pullback')::INTEGER
                    FROM lead_history
                    """, logger: logger
                ).decode((Int, Int).self) { counts = (routed, pulled) }
                return counts
            }
            return (report, counted)
        }
        #expect(report.allInvariantsHeld, "\(report.summary)")
        #expect(report.stats.routed > 0 && report.stats.pullbacks > 0, "\(report.summary)")
        #expect(counted.routed == report.stats.routed)
        #expect(counted.pulled == report.stats.pullbacks)
        #expect(report.summary.contains("Distribution: \(report.stats.routed) leads routed by rule, \(report.stats.pullbacks) pulled back"))
    }

    @Test("the invariant checker reports a corrupted device store, a mirrored status that disagrees with its target, a person's details in a copy that crossed without consent, and a revocation nobody made")
    func checkerFindsCorruption() async throws {
        var small = Scenario.small
        small.days = 2
        let scenario = small
        try await withTestDatabase { database in
            let sink = try await MailSink()
            let clock = SimulationClock(Simulation.start)
            try await LocalServer.run(
                databaseURL: database.serverURL, ownerURL: database.ownerURL, logger: logger,
                configure: {
                    $0.now = clock.function
                    $0.timerInterval = nil
                    $0.deliveryInterval = nil
                    $0.leadFormSubmissionsPerMinute = 1_000_000
                }
            ) { server in
                let simulation = Simulation(scenario: scenario, server: server, clock: clock, sink: sink) { _, _ in }
                defer { simulation.deviceStorage.remove() }
                try await simulation.run()
                // The devices' stores are files of the run (their memory does not grow with what they hold).
                let files = try FileManager.default.contentsOfDirectory(atPath: simulation.deviceStorage.directory.path)
                #expect(files.filter { $0.hasSuffix(".sqlite") }.count == simulation.people.flatMap(\.devices).count)
                let clean = InvariantChecker.check(try await simulation.world(ownerURL: database.ownerURL, logger: logger))
                #expect(clean.filter { !$0.held }.isEmpty, "\(clean.filter { !$0.held })")
                // With the default consent share, referrals crossed both whole and de-identified.
                let crossings = try await withPostgresClient(database.ownerURL, logger: logger) { client in
                    try await client.query(
                        "SELECT count(*) FILTER (WHERE consent_id IS NOT NULL)::INTEGER, count(*) FILTER (WHERE consent_id IS NULL)::INTEGER FROM referrals",
                        logger: logger
                    ).collect().first?.decode((Int, Int).self)
                }
                let (whole, bare) = try #require(crossings)
                #expect(whole > 0 && bare > 0, "\(whole) whole, \(bare) de-identified")

                // A device's store says a lead is in another status than the server's.
                let device = try #require(simulation.people.first { $0.kind == .moderator }?.devices.first)
                let lead = try #require(try await device.client.leads().first)
                try await device.client.store.queue.write { db in
                    try db.execute(
                        sql: """
                            UPDATE records SET json = CAST(json_set(CAST(json AS TEXT), '$.status', 'tampered') AS BLOB)
                            WHERE entity = 'lead' AND id = ?
                            """,
                        arguments: [lead.id.description])
                }
                #expect(try await device.client.lead(lead.id)?.status == "tampered")
                // A source's mirror of a referral disagrees with its target.
                let referral = try await withPostgresClient(database.ownerURL, logger: logger) { client in
                    try await client.query(
                        "UPDATE referrals SET status = 'tampered' WHERE id = (SELECT id FROM referrals WHERE withdrawn_at IS NULL LIMIT 1) RETURNING id::TEXT",
                        logger: logger
                    ).collect().first?.decode(String.self)
                }
                // A copy that crossed de-identified is given the person's email behind the policy's back.
                let breached = try await withPostgresClient(database.ownerURL, logger: logger) { client in
                    try await client.query(
                        """
                        UPDATE leads t SET contact_email = 'leak@sim.test' FROM referrals r
                        WHERE r.id = (SELECT id FROM referrals WHERE consent_id IS NULL ORDER BY id LIMIT 1)
                          AND t.tenant_id = r.target_tenant_id AND t.id = r.target_lead_id
                        RETURNING r.id::TEXT
                        """,
                        logger: logger
                    ).collect().first?.decode(String.self)
                }
                // A device revoked behind the simulation's back: the server holds one more than the admins revoked.
                let revoked = try await withPostgresClient(database.ownerURL, logger: logger) { client in
                    try await client.query(
                        "UPDATE devices SET revoked_at = now() WHERE id = \(device.id) RETURNING id::TEXT", logger: logger
                    ).collect().count
                }
                #expect(revoked == 1)
                let found = InvariantChecker.check(try await simulation.world(ownerURL: database.ownerURL, logger: logger))
                let faults = try #require(found.first { $0.name.hasPrefix("faults got their documented answers") })
                #expect(faults.violations == ["device \(device.id) is revoked, though nobody revoked it or deactivated its user"])
                let consent = try #require(found.first { $0.name.hasPrefix("a person's details crossed") })
                let leaked = try #require(breached)
                #expect(consent.violations == ["referral \(leaked): the target holds the person's details without a valid consent"])
                let converge = try #require(found.first { $0.name.hasPrefix("every device converges") })
                #expect(converge.violations.contains { $0.contains(device.label) && $0.contains(lead.id.description) })
                let mirrors = try #require(found.first { $0.name.hasPrefix("every referral's source copy") })
                let tampered = try #require(referral)
                #expect(mirrors.violations.contains { $0.contains(tampered) && $0.contains("tampered") })
                #expect(found.filter { !$0.held }.count == 4)
            }
            await sink.close()
        }
    }
}
