import Foundation
import HubNetSimulator
import HubNetCore
import HubNetPostgres
import HubNetTestSupport
import Logging
import PostgresNIO
import Testing

/// The built `hubnet serve` on its own PostgreSQL cluster, which the test restarts and stops.
struct DrillServer {
    let cluster: EmbeddedPostgres
    let server: ServerProcess
    let client: LiveClient
    let ownerURL: DatabaseURL
    let adminToken: String
    static let operatorToken = "drill-operator-token-0123456789abcdef"

    static func start(_ name: String) async throws -> DrillServer {
        var logger = Logger(label: "drill")
        logger.logLevel = .warning
        // Durable: a throwaway cluster runs with synchronous_commit off, whose last commits an
        // immediate stop may lose; a production database does not.
        let cluster = try EmbeddedPostgres(durable: true, logger: logger)
        try cluster.start()
        let serverURL = try await EmbeddedDatabase.prepare(cluster, logger: logger)
        let port = ServerProcess.freePort()
        let server = try ServerProcess(environment: [
            "DATABASE_URL": serverURL.connectionString, "HUBNET_HOST": "127.0.0.1", "HUBNET_PORT": "\(port)",
            "HUBNET_OPERATOR_TOKEN": operatorToken, "LOG_LEVEL": "warning", "HUBNET_DB_WAIT_MS": "1000",
        ])
        let client = LiveClient(baseURL: "http://127.0.0.1:\(port)")
        try await client.waitUntilReady()
        let tenant = try await client.send(
            "POST", "/v1/tenants", token: operatorToken,
            json: #"{"kind":"hub","name":"\#(name)","slug":"drill","admin":{"email":"admin@drill.test","display_name":"Admin"}}"#)
        let token = try #require(tenant.json?["admin_token"] as? String, "\(String(decoding: tenant.body, as: UTF8.self))")
        return DrillServer(
            cluster: cluster, server: server, client: client, ownerURL: cluster.superuserURL(database: EmbeddedDatabase.name),
            adminToken: token)
    }

    func stop() {
        server.stop()
        cluster.stop()
    }
}

/// What the load saw: answers by status, and requests that got no answer at all.
actor DrillTally {
    private(set) var byStatus: [Int: Int] = [:]
    private(set) var unanswered = 0
    private(set) var unexpected: [String] = []

    func record(_ answer: LiveClient.Answer, _ what: String) {
        byStatus[answer.status, default: 0] += 1
        let ok = (200..<300).contains(answer.status) || (answer.status == 503 && answer.header("Retry-After") != nil)
        if !ok { unexpected.append("\(what): \(answer.status) \(String(decoding: answer.body.prefix(200), as: UTF8.self))") }
    }

    func recordUnanswered(_ what: String) {
        unanswered += 1
        unexpected.append("\(what): no answer")
    }
}

@Suite("Database restarts and outages (process level)")
struct DatabaseRestartTests {
    @Test("10 PostgreSQL restarted immediately 10 times under load: the server lives, answers every request (503 while the database is away), loses nothing acknowledged and creates nothing twice")
    func restartsUnderLoad() async throws {
        try await withTestMachineToItself { try await restartDrill() }
    }

    private func restartDrill() async throws {
        let drill = try await DrillServer.start("Restart drill")
        defer { drill.stop() }
        let client = drill.client
        let admin = drill.adminToken
        var leads: [String] = []
        var devices: [String] = []
        for index in 0..<2 {
            let lead = try await client.send("POST", "/v1/leads", token: admin, json: #"{"contact":{"name":"Device lead \#(index)","email":"d\#(index)@drill.test"}}"#)
            leads.append(try #require(lead.json?["id"] as? String))
            let device = try await client.send("POST", "/v1/devices", token: admin, json: #"{"name":"Tablet \#(index)"}"#)
            devices.append(try #require(device.json?["token"] as? String))
        }
        let tally = DrillTally()
        let stopping = Flag()
        let (deviceLeads, deviceTokens) = (leads, devices)

        // Devices push notes in batches; a batch that got no 200 is sent again, same ids.
        let pushers = (0..<2).map { index in
            Task { () -> Int64 in
                var next: Int64 = 1
                while !(await stopping.isSet) {
                    let mutations = (next..<next + 10).map {
                        #"{"id":\#($0),"name":"note.add","lead_id":"\#(deviceLeads[index])","record_id":"\#(Self.noteID(device: index, mutation: $0))","body":"note \#($0)"}"#
                    }
                    do {
                        let answer = try await client.send(
                            "POST", "/v1/sync/push", token: deviceTokens[index], json: #"{"mutations":[\#(mutations.joined(separator: ","))]}"#)
                        await tally.record(answer, "push")
                        if answer.status == 200 { next += 10 }
                    } catch is LiveClient.Unanswered {
                        await tally.recordUnanswered("push")
                    } catch {
                        try? await Task.sleep(for: .milliseconds(50))
                    }
                }
                return next - 1
            }
        }
        // Clients create leads with an idempotency key and send the same request until it is 201.
        let creators = (0..<2).map { index in
            Task { () -> [String] in
                var acknowledged: [String] = []
                while !(await stopping.isSet) {
                    let key = UUID().uuidString
                    let body = #"{"contact":{"name":"Drill \#(key)","email":"c\#(index)@drill.test"}}"#
                    var attempts = 0
                    // Until it is acknowledged; a dead server gives up after a few tries once stopping.
                    while attempts < 200 {
                        if attempts > 10, await stopping.isSet { break }
                        attempts += 1
                        do {
                            let answer = try await client.send("POST", "/v1/leads", token: admin, json: body, headers: ["Idempotency-Key": key])
                            await tally.record(answer, "create lead")
                            if answer.status == 201 {
                                acknowledged.append(key)
                                break
                            }
                        } catch is LiveClient.Unanswered {
                            await tally.recordUnanswered("create lead")
                        } catch {}
                        try? await Task.sleep(for: .milliseconds(50))
                    }
                }
                return acknowledged
            }
        }
        // Readers ask for large pages.
        let readers = (0..<2).map { index in
            Task {
                while !(await stopping.isSet) {
                    for (what, path, token) in [
                        ("list leads", "/v1/leads?limit=200", admin), ("snapshot", "/v1/sync/snapshot?limit=1000", deviceTokens[index]),
                    ] {
                        do {
                            await tally.record(try await client.send("GET", path, token: token), what)
                        } catch is LiveClient.Unanswered {
                            await tally.recordUnanswered(what)
                        } catch {}
                    }
                }
            }
        }

        var deaths: [Int] = []
        for restart in 1...10 {
            try await Task.sleep(for: .milliseconds(1_200))
            try drill.cluster.stopImmediately()
            try await Task.sleep(for: .milliseconds(300))
            try drill.cluster.startAgain()
            if !drill.server.isAlive {
                deaths.append(restart)
                break
            }
        }
        try await Task.sleep(for: .seconds(2))
        await stopping.set()
        var lastMutation: [Int64] = []
        for pusher in pushers { lastMutation.append(await pusher.value) }
        var created: [String] = []
        for creator in creators { created += await creator.value }
        for reader in readers { await reader.value }

        #expect(deaths.isEmpty, "the server died at restart \(deaths): \(drill.server.log.suffix(2_000))")
        #expect(drill.server.isAlive)
        let (unanswered, unexpected, byStatus) = (await tally.unanswered, await tally.unexpected, await tally.byStatus)
        #expect(unanswered == 0)
        #expect(unexpected.isEmpty, "\(unexpected.prefix(10))")
        #expect((byStatus[503] ?? 0) > 0, "the restarts were not felt: \(byStatus)")
        #expect(created.count > 0 && lastMutation.allSatisfy { $0 > 0 })

        // Every acknowledged lead exists exactly once; every acknowledged mutation was applied once.
        var logger = Logger(label: "drill")
        logger.logLevel = .warning
        try await withPostgresClient(drill.ownerURL, logger: logger) { owner in
            let names = try await owner.rows("SELECT contact_name, count(*)::INTEGER FROM leads GROUP BY contact_name", logger: logger)
            let counts = Dictionary(uniqueKeysWithValues: try names.decode((String, Int).self))
            let missingOrDoubled = created.filter { counts["Drill \($0)"] != 1 }
            #expect(missingOrDoubled.isEmpty, "leads missing or doubled: \(missingOrDoubled.prefix(5))")
            let drillLeads = counts.filter { $0.key.hasPrefix("Drill ") }
            #expect(drillLeads.values.allSatisfy { $0 == 1 })
            for (index, last) in lastMutation.enumerated() where last > 0 {
                let expected = (1...last).map { Self.noteID(device: index, mutation: $0) }
                let found = try await owner.rows("SELECT count(*)::INTEGER FROM lead_notes WHERE id = ANY(\(expected))", logger: logger)
                #expect(try found.decode(Int.self).first == expected.count, "device \(index)")
                let logged = try await owner.rows(
                    """
                    SELECT count(*)::INTEGER, count(*) FILTER (WHERE m.outcome <> 'applied')::INTEGER
                    FROM sync_mutations m JOIN lead_notes n ON n.id = ANY(\(expected)) AND n.lead_id = m.entity_id
                    WHERE m.mutation_id <= \(last) AND n.body = 'note ' || m.mutation_id
                    """, logger: logger)
                let (count, notApplied) = try #require(try logged.decode((Int, Int).self).first)
                #expect(count == expected.count && notApplied == 0, "device \(index): \(count) logged, \(notApplied) not applied")
            }
        }
    }

    @Test("10 while PostgreSQL is down, /readyz says so within 2 s, requests answer 503 with Retry-After at once, and it recovers by itself")
    func outage() async throws {
        try await withTestMachineToItself { try await outageDrill() }
    }

    private func outageDrill() async throws {
        let drill = try await DrillServer.start("Outage drill")
        defer { drill.stop() }
        let client = drill.client
        try drill.cluster.stopImmediately()
        let stopped = ContinuousClock.now
        var notReadyAfter: Duration?
        while ContinuousClock.now - stopped < .seconds(10) {
            if try await client.send("GET", "/readyz", timeout: .seconds(5)).status == 503 {
                notReadyAfter = ContinuousClock.now - stopped
                break
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        let seen = try #require(notReadyAfter)
        #expect(seen <= .seconds(2), "/readyz took \(seen) to say not ready")
        // Requests fail fast with a code and a time to come back, for several seconds of outage.
        for _ in 0..<5 {
            let started = ContinuousClock.now
            let answer = try await client.send(
                "POST", "/v1/leads", token: drill.adminToken, json: #"{"contact":{"name":"During","email":"during@drill.test"}}"#,
                timeout: .seconds(10))
            #expect(ContinuousClock.now - started < .seconds(2))
            #expect(answer.status == 503)
            #expect(answer.errorCode == "database_unavailable")
            #expect(answer.header("Retry-After") != nil)
            try await Task.sleep(for: .milliseconds(700))
        }
        #expect(drill.server.isAlive)
        try drill.cluster.startAgain()
        let restarted = ContinuousClock.now
        try await client.waitUntilReady(within: 10)
        #expect(ContinuousClock.now - restarted < .seconds(5))
        let after = try await client.send(
            "POST", "/v1/leads", token: drill.adminToken, json: #"{"contact":{"name":"After","email":"after@drill.test"}}"#)
        #expect(after.status == 201)
    }

    /// A note id fixed by device and mutation number, so a resent mutation carries the same one.
    static func noteID(device: Int, mutation: Int64) -> UUID {
        UUID(uuidString: String(format: "00000000-0000-4000-9000-%04x%08x", device, mutation))!
    }
}

/// A flag set once, read by many tasks.
actor Flag {
    private(set) var isSet = false
    func set() { isSet = true }
}
