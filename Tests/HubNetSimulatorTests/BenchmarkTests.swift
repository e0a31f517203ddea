import Foundation
import HubNetCore
import HubNetPostgres
@testable import HubNetSimulator
import HubNetTestSupport
import Logging
import PostgresNIO
import Testing

/// `hubnet bench sync` and `hubnet bench api` at a small size, on a test database: the figures are
/// what the work measured, and the work measured happened (counted in the database afterwards).
@Suite("Benchmarks")
struct BenchmarkTests {
    let logger = Logger(label: "bench-test")

    @Test("bench sync: push, pull and first sync each beside plain SQL, the push beside its set-based floor in rounds (medians); every pushed note is stored once per way and round")
    func syncBenchmark() async throws {
        var options = SyncBenchmark.Options()
        options.leads = 300
        options.devices = 2
        // Rounds of 4 mutations: ids 1–4 hold no edit, 5–8 one (5): the rounds' notes differ.
        options.mutationsPerDevice = 4
        options.batch = 3
        options.rounds = 2
        options.deviceBinary = SimulationTests.hubnetBinary
        let chosen = options
        // The device process's figure is its own: this process holds 256 MB more first, which a
        // peak inherited across the device's `exec` (as `getrusage`'s is) would show.
        let ballast = [UInt8](repeating: 1, count: 256 << 20)
        defer { withExtendedLifetime(ballast) {} }
        let (figures, notes, leads, recordBytes) = try await withTestDatabase { database in
            let figures = try await LocalServer.run(
                databaseURL: database.serverURL, ownerURL: database.ownerURL, logger: logger, configure: { $0.timerInterval = nil }
            ) { server in
                try await SyncBenchmark(options: chosen).run(on: server) { _ in }
            }
            let (notes, leads, recordBytes) = try await withPostgresClient(database.ownerURL, logger: logger) { client in
                let notes = try await client.rows("SELECT count(*)::INTEGER FROM lead_notes", logger: logger).decode(Int.self)
                let leads = try await client.rows("SELECT count(*)::INTEGER FROM leads", logger: logger).decode(Int.self)
                // What a device holds of each lead: its stored record, as a snapshot sends it.
                let bytes = try await client.rows(
                    "SELECT sum(length(convert_to(sync_payload, 'UTF8')))::BIGINT FROM leads WHERE withdrawn_at IS NULL", logger: logger
                ).decode(Int64.self)
                return (notes.reduce(0, +), leads.reduce(0, +), bytes.reduce(0, +))
            }
            return (figures, notes, leads, recordBytes)
        }
        #expect(figures.map(\.name) == ["push", "pull", "first sync of 300 leads", "first sync peak memory"])
        #expect(figures.map(\.unit) == ["mutations/s", "changes/s", "s", "MB"])
        for figure in figures {
            #expect(figure.hubnet > 0 && figure.hubnet.isFinite, "\(figure.name)")
            #expect(figure.plainSQL > 0 && figure.plainSQL.isFinite, "\(figure.name)")
        }
        let push = try #require(figures.first)
        let floor = try #require(push.setBased)
        // Rates: HubNet ÷ plain SQL; a time (the first sync): plain SQL ÷ HubNet. 1 is parity.
        #expect(abs(push.ratio - push.hubnet / push.plainSQL) < 1e-9 * push.ratio)
        #expect(abs(figures[1].ratio - figures[1].hubnet / figures[1].plainSQL) < 1e-9 * figures[1].ratio)
        #expect(abs(figures[2].ratio - figures[2].plainSQL / figures[2].hubnet) < 1e-9 * figures[2].ratio)
        // The memory row: the device process's peak (a Swift process with the SDK loaded holds
        // megabytes, and far less than a gigabyte for 300 leads), beside the records' JSON as SQL
        // counts it here, and their ratio.
        let memory = figures[3]
        #expect(memory.hubnet > 1 && memory.hubnet < 200)
        #expect(recordBytes > 0 && abs(memory.plainSQL - Double(recordBytes) / (1024 * 1024)) < 1e-9)
        #expect(abs(memory.ratio - memory.plainSQL / memory.hubnet) < 1e-9 * memory.ratio)
        #expect(figures.dropFirst().allSatisfy { $0.setBased == nil && $0.rounds == nil })
        // The table lists the rounds under the figures.
        #expect(SyncBenchmark.table(figures).contains("push by round (the row shows medians): HubNet "))
        // Each way of pushing stored its notes, for each device: HubNet's and the floor's rounds
        // (4 notes in ids 1–4, 3 in 5–8), and the statement-per-row push once (ids 1–4).
        #expect(notes == 2 * (7 + 7 + 4))
        #expect(leads == 300)
        // The push row shows the rounds' medians (of two: their mean); each round's ratio is its own.
        let rounds = try #require(push.rounds)
        #expect(rounds.count == 2)
        for round in rounds { #expect(abs(round.ratio - round.hubnet / round.setBased) < 1e-9 * round.ratio) }
        #expect(abs(push.hubnet - (rounds[0].hubnet + rounds[1].hubnet) / 2) < 1e-9 * push.hubnet)
        #expect(abs(floor - (rounds[0].setBased + rounds[1].setBased) / 2) < 1e-9 * floor)
        #expect(abs(try #require(push.setBasedRatio) - (rounds[0].ratio + rounds[1].ratio) / 2) < 1e-9)
        // `--json` keeps its shape: a list of rows with these keys.
        let json = try JSONSerialization.jsonObject(with: try JSONEncoder().encode(figures)) as? [[String: Any]]
        let row = try #require(json?.first)
        for key in ["name", "unit", "hubnet", "plainSQL", "ratio", "target", "setBased", "setBasedRatio", "rounds"] {
            #expect(row[key] != nil, "\(key)")
        }
    }

    @Test("bench api: the floor, a lead action and a lead list, each request counted; every action was taken, once, on a lead of its own")
    func apiBenchmark() async throws {
        var options = APIBenchmark.Options()
        options.clients = 3
        options.requestsPerClient = 4
        options.leads = 20
        let chosen = options
        let (figures, contacts) = try await withTestDatabase { database in
            let figures = try await LocalServer.run(
                databaseURL: database.serverURL, ownerURL: database.ownerURL, logger: logger, configure: { $0.timerInterval = nil }
            ) { server in
                try await APIBenchmark(options: chosen).run(on: server) { _ in }
            }
            let contacts = try await withPostgresClient(database.ownerURL, logger: logger) { client in
                try await client.rows(
                    "SELECT count(*)::INTEGER, count(DISTINCT lead_id)::INTEGER FROM lead_history WHERE action = 'contact'", logger: logger
                ).decode((Int, Int).self).first
            }
            return (figures, contacts)
        }
        #expect(figures.map(\.name) == ["GET /healthz (the floor)", "POST /v1/leads/{id}/actions/contact", "GET /v1/leads?limit=50"])
        for figure in figures {
            #expect(figure.requests == 12)
            #expect(0 < figure.p50Milliseconds && figure.p50Milliseconds <= figure.p99Milliseconds, "\(figure.name)")
            #expect(figure.p99Milliseconds <= figure.maxMilliseconds * 1.002, "\(figure.name)")
            #expect(figure.requestsPerSecond > 0, "\(figure.name)")
        }
        let counted = try #require(contacts)
        #expect(counted.0 == 12 && counted.1 == 12)
    }
}

/// The device process of the first sync's memory figure: a device the server refuses gives no
/// figure but the process's own account of the refusal.
@Suite("Benchmarks: the device process")
struct DeviceFirstSyncTests {
    let logger = Logger(label: "bench-test")

    @Test("the peak memory is read from the process's status as its VmHWM, in KiB")
    func peakFromStatus() throws {
        let status = "Name:\thubnet\nVmPeak:\t  900000 kB\nVmHWM:\t   81234 kB\nVmRSS:\t   70000 kB\n"
        #expect(DeviceFirstSync.peakResidentKiB(status: status) == 81_234)
        #expect(DeviceFirstSync.peakResidentKiB(status: "Name:\thubnet\n") == nil)
        #expect(DeviceFirstSync.peakResidentKiB() > 0)
    }

    @Test("a device process whose sync the server refuses fails the measurement with its reason; one that cannot start fails it too")
    func refusedDevice() async throws {
        try await withTestDatabase { database in
            try await LocalServer.run(
                databaseURL: database.serverURL, ownerURL: database.ownerURL, logger: logger, configure: { $0.timerInterval = nil }
            ) { server in
                let refused = await #expect(throws: (any Error).self) {
                    try await DeviceFirstSync.measure(
                        binary: SimulationTests.hubnetBinary, baseURL: server.baseURL, token: "hn_not_a_device", pageSize: 100)
                }
                let reason = String(describing: try #require(refused))
                #expect(reason.contains("exit 1") && reason.contains("401"), "\(reason)")
                let failed = await #expect(throws: (any Error).self) {
                    try await DeviceFirstSync.measure(binary: "/bin/false", baseURL: server.baseURL, token: "x", pageSize: 100)
                }
                #expect(String(describing: try #require(failed)).contains("exit 1"))
            }
        }
    }
}
