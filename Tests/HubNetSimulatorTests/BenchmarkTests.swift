import Foundation
import HubNetCore
import HubNetPostgres
import HubNetSimulator
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
        let chosen = options
        let (figures, notes, leads) = try await withTestDatabase { database in
            let figures = try await LocalServer.run(
                databaseURL: database.serverURL, ownerURL: database.ownerURL, logger: logger, configure: { $0.timerInterval = nil }
            ) { server in
                try await SyncBenchmark(options: chosen).run(on: server) { _ in }
            }
            let (notes, leads) = try await withPostgresClient(database.ownerURL, logger: logger) { client in
                let notes = try await client.rows("SELECT count(*)::INTEGER FROM lead_notes", logger: logger).decode(Int.self)
                let leads = try await client.rows("SELECT count(*)::INTEGER FROM leads", logger: logger).decode(Int.self)
                return (notes.reduce(0, +), leads.reduce(0, +))
            }
            return (figures, notes, leads)
        }
        #expect(figures.map(\.name) == ["push", "pull", "first sync of 300 leads"])
        #expect(figures.map(\.unit) == ["mutations/s", "changes/s", "s"])
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
