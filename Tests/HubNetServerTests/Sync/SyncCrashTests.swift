import Foundation
import HubNetSimulator
import HubNetCore
import HubNetPostgres
import PostgresNIO
import HubNetSync
import HubNetTestSupport
import HummingbirdTesting
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("Sync crash safety")
struct SyncCrashTests {
    @Test("6 crash safety: the server killed with SIGKILL while devices push loses no mutation and applies none twice")
    func killedWhilePushing() async throws {
        try await withTestApplication { app in
            let hub = try await app.fixtures.tenant(.hub, users: [[.moderator]])
            let leads = [try await app.createLead(token: hub.users[0].token, name: "One"), try await app.createLead(token: hub.users[0].token, name: "Two")]
            let devices = [try await SyncTestDevice.register(app, as: hub.users[0]), try await SyncTestDevice.register(app, as: hub.users[0])]
            let port = ServerProcess.freePort()
            let environment = [
                "DATABASE_URL": app.database.serverURL.connectionString, "HUBNET_HOST": "127.0.0.1", "HUBNET_PORT": "\(port)",
                "HUBNET_OPERATOR_TOKEN": "crash-test-operator-token-0123456789", "LOG_LEVEL": "error",
            ]
            var server = try ServerProcess(environment: environment)
            let total: Int64 = 400
            let batch = 20
            let acknowledged = Counter()
            let pushes = Task {
                try await withThrowingTaskGroup(of: Set<UUID>.self) { group in
                    for (index, device) in devices.enumerated() {
                        group.addTask {
                            let transport = HTTPSyncTransport(baseURL: "http://127.0.0.1:\(port)", deviceToken: device.token, timeout: .seconds(10))
                            var written = Set<UUID>()
                            var next: Int64 = 1
                            while next <= total {
                                let mutations = (0..<Int64(batch)).map { offset in
                                    // The same batch is resent after a failure: same ids, same record ids.
                                    let id = next + offset
                                    return Mutation(
                                        id: id, leadId: leads[index],
                                        intent: .addNote(
                                            id: LeadNote.ID(Self.recordID(device: index, mutation: id)), body: "device \(index) mutation \(id)"))
                                }
                                do {
                                    let body = try JSONEncoder.sync.encode(PushRequest(mutations: mutations))
                                    let (status, _) = try await transport.send("POST", "/v1/sync/push", body: body)
                                    guard status == 200 else { throw SyncServerError(status: status, body: Data()) }
                                    mutations.forEach { written.insert($0.recordId!) }
                                    next += Int64(batch)
                                    await acknowledged.add(batch)
                                } catch {
                                    try await Task.sleep(for: .milliseconds(100))
                                }
                            }
                            return written
                        }
                    }
                    var all = Set<UUID>()
                    for try await written in group { all.formUnion(written) }
                    return all
                }
            }
            // Kill it mid-stream, twice, and bring it back each time.
            for threshold in [80, 300] {
                while await acknowledged.value < threshold { try await Task.sleep(for: .milliseconds(20)) }
                server.kill9()
                try await Task.sleep(for: .milliseconds(300))
                server = try ServerProcess(environment: environment)
            }
            let written = try await pushes.value
            server.stop()
            #expect(written.count == Int(total) * devices.count)

            // Every mutation applied exactly once: one note per mutation, no more, no fewer.
            for (index, lead) in leads.enumerated() {
                let notes = try #require((try await app.request(.get, "/v1/leads/\(lead)/notes?limit=1000", token: hub.users[0].token)).json?["items"] as? [[String: Any]])
                let ids = notes.compactMap { ($0["id"] as? String).flatMap(UUID.init(uuidString:)) }
                #expect(ids.count == Int(total))
                #expect(Set(ids) == Set((1...total).map { Self.recordID(device: index, mutation: $0) }))
            }
            // Each device's log holds every mutation once, each applied (a second application of a
            // note would have been refused as a duplicate id and logged as rejected).
            let database = app.fixtures.database
            let (logged, rejected) = try await database.withTenant(hub.tenant.id) { transaction in
                let rows = try await transaction.connection.query(
                    "SELECT count(*)::INTEGER, count(*) FILTER (WHERE outcome = 'rejected')::INTEGER FROM sync_mutations",
                    logger: database.logger)
                for try await pair in rows.decode((Int, Int).self) { return pair }
                return (0, 0)
            }
            #expect(logged == Int(total) * devices.count)
            #expect(rejected == 0)
            // A replay of the last batch (the same mutation, sent again) answers from the log.
            let replay = try await devices[0].push([
                Mutation(
                    id: total, leadId: leads[0],
                    intent: .addNote(id: LeadNote.ID(Self.recordID(device: 0, mutation: total)), body: "device 0 mutation \(total)"))
            ])
            #expect(replay.results.first?.replayed == true)
            #expect(replay.lastMutationId == total)
        }
    }

    /// A note id fixed by device and mutation number, so a resent mutation carries the same one.
    static func recordID(device: Int, mutation: Int64) -> UUID {
        UUID(uuidString: String(format: "00000000-0000-4000-8000-%04x%08x", device, mutation))!
    }
}

actor Counter {
    private(set) var value = 0
    func add(_ amount: Int) { value += amount }
}

extension JSONEncoder {
    static var sync: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        return encoder
    }
}
