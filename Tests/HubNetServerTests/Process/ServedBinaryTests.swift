import Foundation
import HubNetSimulator
import HubNetCore
import HubNetTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The built `hubnet` binary, fed what once stopped it, and run with the integrators' test clock.
@Suite("The served binary")
struct ServedBinaryTests {
    @Test("1 the push that killed the server (activity.schedule due_at -2^63, resent as a device retries) is a rejection, and the process lives")
    func dueAtRegression() async throws {
        try await withTestApplication { app in
            let hub = try await app.fixtures.tenant(.hub, users: [[.moderator]], listings: [ListingDraft(name: "Desk", serviceAreas: ["X"])])
            let lead = try await app.createLead(token: hub.users[0].token)
            let device = try await SyncTestDevice.register(app, as: hub.users[0])
            let port = ServerProcess.freePort()
            let server = try ServerProcess(environment: [
                "DATABASE_URL": app.database.serverURL.connectionString, "HUBNET_HOST": "127.0.0.1", "HUBNET_PORT": "\(port)",
                "HUBNET_OPERATOR_TOKEN": "binary-test-operator-token-0123456789", "LOG_LEVEL": "error", "HUBNET_TIMER_INTERVAL_MS": "0",
            ])
            defer { server.stop() }
            let client = LiveClient(baseURL: "http://127.0.0.1:\(port)")
            try await client.waitUntilReady()
            let killer = """
                {"mutations":[{"id":1,"name":"activity.schedule","lead_id":"\(lead)","record_id":"\(UUID())","kind":"call","title":"Call back","due_at":-9223372036854775808}]}
                """
            for attempt in 1...3 {
                let answer = try await client.send("POST", "/v1/sync/push", token: device.token, json: killer)
                #expect(answer.status == 200, "attempt \(attempt): \(String(decoding: answer.body, as: UTF8.self))")
                let outcome = try #require((answer.json?["results"] as? [[String: Any]])?.first)
                #expect(outcome["code"] as? String == "invalid_value")
                #expect(outcome["field"] as? String == "due_at")
                #expect(server.isAlive, "the server died: \(server.log.suffix(1_000))")
            }
            // The other value of the report: a note with acted_at 2^63-1 is its own rejection, the batch goes on.
            let acted = """
                {"mutations":[{"id":2,"name":"note.add","lead_id":"\(lead)","record_id":"\(UUID())","body":"late","acted_at":9223372036854775807},
                {"id":3,"name":"note.add","lead_id":"\(lead)","record_id":"\(UUID())","body":"fine"}]}
                """
            let answer = try await client.send("POST", "/v1/sync/push", token: device.token, json: acted)
            let results = try #require(answer.json?["results"] as? [[String: Any]], "\(String(decoding: answer.body, as: UTF8.self))")
            #expect(results.map { $0["outcome"] as? String } == ["rejected", "applied"])
            #expect(results.first?["field"] as? String == "acted_at")
            // And the 40 KB grapheme through the public form, without a login.
            let giant = "e" + String(repeating: "\u{0301}", count: 20_000)
            let form = try await client.send(
                "POST", "/v1/public/listings/\(hub.listings[0].id)/leads", json: #"{"name":"N","email":"a\#(giant)@x.test"}"#)
            #expect(form.status == 422)
            #expect(server.isAlive)
            #expect(try await client.send("GET", "/healthz").status == 200)
        }
    }

    @Test("a server starting logs no warning, PostgresNIO's of a lease before the pool runs included (the start-up checks and the sync listener lease at once)")
    func quietStart() async throws {
        try await withTestApplication { app in
            let port = ServerProcess.freePort()
            let server = try ServerProcess(environment: [
                "DATABASE_URL": app.database.serverURL.connectionString, "HUBNET_HOST": "127.0.0.1", "HUBNET_PORT": "\(port)",
                "HUBNET_OPERATOR_TOKEN": "binary-test-operator-token-0123456789", "LOG_LEVEL": "warning",
            ])
            defer { server.stop() }
            let client = LiveClient(baseURL: "http://127.0.0.1:\(port)")
            try await client.waitUntilReady()
            #expect(try await client.send("GET", "/readyz").status == 200)
            #expect(server.isAlive)
            let warnings = server.log.split(separator: "\n").filter { $0.contains(" warning ") || $0.contains("hasn't been called") }
            #expect(warnings.isEmpty, "\(warnings)")
        }
    }

    @Test("5 the test clock: an integrator lets eight days pass and a partner's unanswered lead has expired when the call returns")
    func testClock() async throws {
        let port = ServerProcess.freePort()
        let operatorToken = "clock-test-operator-token-0123456789"
        let server = try ServerProcess(
            environment: ["HUBNET_PORT": "\(port)", "HUBNET_OPERATOR_TOKEN": operatorToken, "LOG_LEVEL": "warning"],
            arguments: ["serve", "--test-clock"])
        defer { server.stop() }
        let client = LiveClient(baseURL: "http://127.0.0.1:\(port)")
        try await client.waitUntilReady(within: 90)
        let ready = try await client.send("GET", "/readyz")
        let reported = try #require(ready.json?["test_clock_now"] as? String)
        #expect(Timestamp.parseISO8601(reported) != nil)
        func provision(_ kind: String, _ slug: String) async throws -> String {
            let answer = try await client.send(
                "POST", "/v1/tenants", token: operatorToken,
                json: #"{"kind":"\#(kind)","name":"\#(slug)","slug":"\#(slug)","admin":{"email":"admin@\#(slug).test","display_name":"A"}}"#)
            return try #require(answer.json?["admin_token"] as? String, "\(String(decoding: answer.body, as: UTF8.self))")
        }
        let sourcing = try await provision("sourcing_company", "clock-sourcing")
        let partner = try await provision("partner_company", "clock-partner")
        let partnerTenant = try #require((try await client.send("GET", "/v1/tenant", token: partner)).json?["id"] as? String)
        let lead = try #require(
            (try await client.send("POST", "/v1/leads", token: sourcing, json: #"{"contact":{"name":"Clock","email":"c@x.test"}}"#)).json?["id"] as? String)
        let referral = try await client.send("POST", "/v1/leads/\(lead)/referrals", token: sourcing, json: #"{"partner_id":"\#(partnerTenant)"}"#)
        #expect(referral.status == 201, "\(String(decoding: referral.body, as: UTF8.self))")
        // Only the operator moves time, and only forward.
        #expect(try await client.send("POST", "/v1/test-clock/advance", token: sourcing, json: #"{"days":8}"#).status == 403)
        #expect(try await client.send("POST", "/v1/test-clock/advance", token: operatorToken, json: #"{"seconds":-5}"#).status == 422)
        let before = try #require((try await client.send("GET", "/v1/test-clock", token: operatorToken)).json?["now"] as? String)
        let moved = try await client.send("POST", "/v1/test-clock/advance", token: operatorToken, json: #"{"days":8}"#)
        #expect(moved.status == 200, "\(String(decoding: moved.body, as: UTF8.self))")
        #expect((moved.json?["timers_fired"] as? Int ?? 0) >= 1)
        let after = try #require(moved.json?["now"] as? String)
        let elapsed = try #require(Timestamp.parseISO8601(after)).timeIntervalSince(try #require(Timestamp.parseISO8601(before)))
        #expect(elapsed >= 8 * 86_400 && elapsed < 8 * 86_400 + 120)
        let landed = try #require((try await client.send("GET", "/v1/leads", token: partner)).json?["items"] as? [[String: Any]])
        #expect(landed.first?["status"] as? String == "expired")
        let followed = try #require((try await client.send("GET", "/v1/referrals", token: sourcing)).json?["items"] as? [[String: Any]])
        #expect(followed.first?["status"] as? String == "expired")
    }

    @Test("5 the test clock refuses a DATABASE_URL unless told it is a test database")
    func testClockRefusedOnDatabaseURL() async throws {
        let server = try ServerProcess(
            environment: ["DATABASE_URL": "postgres://nobody@127.0.0.1:1/none", "HUBNET_PORT": "\(ServerProcess.freePort())"],
            arguments: ["serve", "--test-clock"])
        for _ in 0..<100 where server.isAlive { try await Task.sleep(for: .milliseconds(100)) }
        #expect(!server.isAlive)
        #expect(server.log.contains("--allow-test-clock-on-database-url"), "\(server.log)")
    }
}

@Suite("Command-line errors")
struct CommandLineErrorTests {
    /// Runs the built binary to its end; its standard error and whether it failed.
    static func run(_ arguments: [String], environment: [String: String] = [:]) async throws -> (failed: Bool, log: String) {
        let process = try ServerProcess(environment: environment, arguments: arguments)
        for _ in 0..<300 where process.isAlive { try await Task.sleep(for: .milliseconds(100)) }
        let failed = !process.isAlive && process.log.contains("hubnet: ")
        process.kill9()
        return (failed, process.log)
    }

    @Test("an unreachable database is one line saying where and as whom, not a pool's error dump")
    func unreachableDatabase() async throws {
        let (failed, log) = try await Self.run(["tenant", "list"], environment: ["DATABASE_URL": "postgres://nobody@127.0.0.1:1/none"])
        #expect(failed)
        #expect(log.contains("cannot connect to PostgreSQL at 127.0.0.1:1, database none, as role nobody"), "\(log)")
        #expect(!log.contains("ConnectionPoolError"))
        #expect(log.split(separator: "\n").count == 1)
    }

    @Test("bench options out of range are refused, the option named, before anything starts (no endless loop, no overflow)")
    func benchOptions() async throws {
        let cases: [([String], String)] = [
            (["bench", "sync", "--batch", "0"], "--batch must be from 1 to 1,000"),
            (["bench", "sync", "--devices", "0"], "--devices must be from 1 to 64"),
            (["bench", "sync", "--rounds", "21"], "--rounds must be from 1 to 20"),
            (["bench", "sync", "--devices", "64", "--mutations", "1000000", "--rounds", "20"], "at most 10,000,000"),
            (["bench", "api", "--clients", "9223372036854775807", "--requests", "2"], "--clients must be from 1 to 1,000"),
            (["bench", "api", "--clients", "1000", "--requests", "100000"], "--clients × --requests must be at most 1,000,000"),
        ]
        for (arguments, message) in cases {
            let (_, log) = try await Self.run(arguments)
            #expect(log.contains(message), "\(arguments): \(log)")
            #expect(!log.contains("Fatal error"), "\(arguments): \(log)")
        }
    }

    @Test("a missing or malformed scenario file is named, with what is wrong in it")
    func scenarioFiles() async throws {
        let missing = try await Self.run(["simulate", "--scenario", "/nonexistent/scenario.json"])
        #expect(missing.log.contains("cannot read /nonexistent/scenario.json: there is no such file"), "\(missing.log)")
        #expect(!missing.log.contains("NSCocoaErrorDomain"))
        let path = NSTemporaryDirectory() + "scenario-\(UUID()).json"
        try Data(#"{"seed":1}"#.utf8).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let malformed = try await Self.run(["simulate", "--scenario", path])
        #expect(malformed.log.contains("the JSON lacks"), "\(malformed.log)")
    }
}
