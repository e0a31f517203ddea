import Foundation
import GRDB
import HTTPTypes
import HubNetCore
@testable import HubNetSync
import HubNetTestSupport
import HummingbirdTesting
import Synchronization
import Testing

/// The SDK's transport over the in-process test client: the real router and database.
struct TestAppTransport: SyncTransport {
    let app: TestApplication
    let token: String

    func send(_ method: String, _ path: String, body: Data?) async throws -> (status: Int, body: Data) {
        let response = try await app.request(
            HTTPRequest.Method(method) ?? .get, path, token: token, json: body.map { String(decoding: $0, as: UTF8.self) })
        return (Int(response.status.code), Data(buffer: response.body))
    }
}

/// A transport that notes each page asked for, and can move a page's `changes` before its other
/// keys, as another server might write it (the JSON is the same page).
final class PageRecordingTransport: SyncTransport, Sendable {
    let inner: TestAppTransport
    let changesFirst: Bool
    let asked = Mutex<[String]>([])

    init(_ inner: TestAppTransport, changesFirst: Bool) {
        self.inner = inner
        self.changesFirst = changesFirst
    }

    func send(_ method: String, _ path: String, body: Data?) async throws -> (status: Int, body: Data) {
        let paged = path.hasPrefix("/v1/sync/pull") || path.hasPrefix("/v1/sync/snapshot")
        if paged { asked.withLock { $0.append(path) } }
        let (status, data) = try await inner.send(method, path, body: body)
        guard paged, changesFirst, status == 200 else { return (status, data) }
        let text = String(decoding: data, as: UTF8.self)
        guard text.hasPrefix("{"), text.hasSuffix("}"), let split = text.range(of: ",\"changes\":") else { return (status, data) }
        let header = text[text.index(after: text.startIndex)..<split.lowerBound]
        let changes = text[text.index(after: split.lowerBound)..<text.index(before: text.endIndex)]
        return (status, Data("{\(changes),\(header)}".utf8))
    }
}

@Suite("Sync client SDK")
struct SyncClientTests {
    func device(_ app: TestApplication, _ user: UserFixture, path: String? = nil) async throws -> SyncClient {
        let registered = try await SyncTestDevice.register(app, as: user)
        return SyncClient(store: try LocalStore(path: path), transport: TestAppTransport(app: app, token: registered.token))
    }

    @Test("two devices of different users edit offline, sync, and converge to the server's state; a device whose user loses access drops the lead")
    func convergeAndDrop() async throws {
        try await withTestApplication { app in
            let hub = try await app.fixtures.tenant(.hub, users: [[.moderator], [.advisor], [.advisor]])
            let (moderator, advisor, other) = (hub.users[0], hub.users[1], hub.users[2])
            let lead = try await app.createLead(token: moderator.token)
            _ = try await app.request(.post, "/v1/leads/\(lead)/actions/accept", token: moderator.token, json: "{}")
            _ = try await app.request(
                .post, "/v1/leads/\(lead)/actions/refer_internal", token: moderator.token, json: #"{"advisor_id":"\#(advisor.user.id)"}"#)
            let field = try await device(app, advisor)
            let office = try await device(app, moderator)
            let first = try await field.sync()
            #expect(first.replaced)
            _ = try await office.sync()
            #expect(try await field.leads().map(\.id) == [lead])
            #expect(try await field.leadIDs() == [lead])
            let quiet = try await field.sync()
            #expect(quiet.changedLeads.isEmpty && !quiet.replaced)

            // Offline on both: different fields, a note, an action; shown at once on each device.
            try await field.edit(lead, [.city: "Berkeley"])
            _ = try await field.addNote("met at the market", to: lead)
            try await office.edit(lead, [.phone: "555-0100", .city: "Alameda"])
            let untouched = try await office.lead(lead)?.lastActionAt
            try await office.act("contact", on: lead)
            #expect(try await field.lead(lead)?.city == "Berkeley")
            #expect(try await office.lead(lead)?.lastActionAt != untouched)
            #expect(try await field.notes(of: lead).count == 1)
            // The engine refuses locally what is not available now.
            await #expect(throws: WorkflowRefusal.self) { try await office.act("accept", on: lead) }

            let fieldReport = try await field.sync()
            #expect(fieldReport.applied == 2)
            #expect(fieldReport.changedLeads == [lead.rawValue] && !fieldReport.replaced)
            let officeReport = try await office.sync()
            #expect(officeReport.applied == 2)
            #expect(officeReport.changedLeads == [lead.rawValue])
            // Same field, later arrival: the first value stays and the device hears of its loss.
            #expect(officeReport.conflicts.map(\.conflict) == [FieldConflict(field: .city, yours: "Alameda", kept: "Berkeley")])
            _ = try await field.sync()

            let truth = try await device(app, moderator)
            _ = try await truth.sync()
            let server = try #require(try await truth.lead(lead))
            #expect(server.city == "Berkeley")
            #expect(server.phone == "555-0100")
            #expect(server.status == "accepted")
            #expect(server.lastActionAt != untouched)
            #expect(try await field.lead(lead) == server)
            #expect(try await office.lead(lead) == server)
            #expect(try await field.notes(of: lead) == (try await truth.notes(of: lead)))
            #expect(try await field.pending().isEmpty)
            #expect(try await office.pending().isEmpty)

            // The lead goes to another advisor: the first one's device drops it and says so.
            _ = try await app.request(
                .post, "/v1/leads/\(lead)/actions/refer_internal", token: moderator.token, json: #"{"advisor_id":"\#(other.user.id)"}"#)
            let dropped = try await field.sync()
            #expect(dropped.dropped == [lead.rawValue])
            #expect(dropped.changedLeads.isEmpty)
            #expect(try await field.leads().isEmpty)
            #expect(try await field.leadIDs().isEmpty)
            #expect(try await field.notes(of: lead).isEmpty)
        }
    }

    @Test("a device whose storage is wiped but which keeps its token numbers its next mutations after the server's last: they are applied, not taken for replays")
    func wipedStoreContinuesNumbering() async throws {
        try await withTestApplication { app in
            let hub = try await app.fixtures.tenant(.hub, users: [[.moderator]])
            let lead = try await app.createLead(token: hub.users[0].token)
            let registered = try await SyncTestDevice.register(app, as: hub.users[0])
            let transport = TestAppTransport(app: app, token: registered.token)
            let before = SyncClient(store: try LocalStore(path: nil), transport: transport)
            _ = try await before.sync()
            for index in 1...3 { _ = try await before.addNote("before the wipe \(index)", to: lead) }
            #expect(try await before.sync().applied == 3)

            // The app's storage is lost (reinstalled, restored from an old backup); the token is kept.
            let after = SyncClient(store: try LocalStore(path: nil), transport: transport)
            _ = try await after.sync()
            #expect(try after.store.lastMutationID() == 3)
            _ = try await after.addNote("after the wipe", to: lead)
            let report = try await after.sync()
            #expect(report.applied == 1 && report.rejections.isEmpty)
            #expect(try await after.pending().isEmpty)
            let truth = try await device(app, hub.users[0])
            _ = try await truth.sync()
            #expect(try await truth.notes(of: lead).map(\.body).sorted() == ["after the wipe", "before the wipe 1", "before the wipe 2", "before the wipe 3"])
        }
    }

    @Test("pushPending sends the queue and pulls nothing; a device with no records yet sends nothing until its first sync's snapshot")
    func pushPendingSendsWithoutPulling() async throws {
        try await withTestApplication { app in
            let hub = try await app.fixtures.tenant(.hub, users: [[.moderator]])
            let token = hub.users[0].token
            let lead = try await app.createLead(token: token)
            let office = try await device(app, hub.users[0])
            // Before its first snapshot the device sends nothing (it does not know the server's numbering yet).
            let early = try await office.pushPending()
            #expect(early.pushed == 0 && early.pulls == 0)
            _ = try await office.sync()
            _ = try await office.addNote("called", to: lead)
            // Meanwhile the lead changes on the server: a push alone does not bring it.
            _ = try await app.request(.post, "/v1/leads/\(lead)/actions/accept", token: token, json: "{}")
            let pushed = try await office.pushPending()
            #expect(pushed.pushed == 1 && pushed.applied == 1 && pushed.pulls == 0 && pushed.pulled == 0)
            #expect(try await office.pending().isEmpty)
            #expect(try await office.lead(lead)?.status == "new")
            let pulled = try await office.sync()
            #expect(pulled.pushed == 0 && pulled.pulled > 0)
            #expect(try await office.lead(lead)?.status == "accepted")
            // The two reports read as one sync.
            let both = pushed.followed(by: pulled)
            #expect(both.pushed == 1 && both.applied == 1 && both.pulled == pulled.pulled && both.pulls == pulled.pulls)
            #expect(both.changedLeads == pulled.changedLeads.union(pushed.changedLeads))
        }
    }

    @Test("a store restored from an old backup renumbers its queue when the server says a number was used for something else, and loses nothing")
    func restoredStoreRenumbersOnConflict() async throws {
        try await withTestApplication { app in
            let hub = try await app.fixtures.tenant(.hub, users: [[.moderator]])
            let lead = try await app.createLead(token: hub.users[0].token)
            let registered = try await SyncTestDevice.register(app, as: hub.users[0])
            let transport = TestAppTransport(app: app, token: registered.token)
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hubnet-restore-\(UUID())")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            let live = directory.appendingPathComponent("live.sqlite").path
            let backup = directory.appendingPathComponent("backup.sqlite").path
            do {
                let client = SyncClient(store: try LocalStore(path: live), transport: transport)
                _ = try await client.sync()
                _ = try await client.addNote("one", to: lead)
            }
            try FileManager.default.copyItem(atPath: live, toPath: backup)  // the backup: "one" queued as 1
            do {
                let client = SyncClient(store: try LocalStore(path: live), transport: transport)
                _ = try await client.addNote("two", to: lead)
                #expect(try await client.sync().applied == 2)  // the server has 1 and 2
            }
            let restored = SyncClient(store: try LocalStore(path: backup), transport: transport)
            _ = try await restored.addNote("three", to: lead)  // queued as 2 again
            let report = try await restored.sync()
            #expect(report.rejections.isEmpty)
            #expect(try await restored.pending().isEmpty)
            #expect(try restored.store.lastMutationID() == 3)  // "one" answered as the replay of 1, "three" renumbered 3
            let truth = try await device(app, hub.users[0])
            _ = try await truth.sync()
            let bodies = try await truth.notes(of: lead).map(\.body).sorted()
            #expect(bodies.filter { $0 == "three" }.count == 1 && bodies.contains("two"))
        }
    }

    @Test("a store from before the queue was kept by lead opens with each queued mutation shown on its own lead, and pushes them all")
    func queueKeptByLeadAfterUpgrade() async throws {
        try await withTestApplication { app in
            let hub = try await app.fixtures.tenant(.hub, users: [[.moderator]])
            let (first, second) = (try await app.createLead(token: hub.users[0].token), try await app.createLead(token: hub.users[0].token))
            let path = FileManager.default.temporaryDirectory.appendingPathComponent("hubnet-sdk-\(UUID()).sqlite").path
            defer { try? FileManager.default.removeItem(atPath: path) }
            let registered = try await SyncTestDevice.register(app, as: hub.users[0])
            let transport = TestAppTransport(app: app, token: registered.token)
            do {
                let client = SyncClient(store: try LocalStore(path: path), transport: transport)
                _ = try await client.sync()
                try await client.edit(first, [.city: "Berkeley"])
                try await client.act("accept", on: second)
                _ = try await client.addNote("called back", to: second)
            }
            // The file as the SDK before this one left it: the queue without its lead column.
            do {
                let old = try DatabaseQueue(path: path)
                try await old.write { db in
                    try db.execute(
                        sql: """
                            DROP INDEX pending_lead_idx;
                            ALTER TABLE pending DROP COLUMN lead_id;
                            DELETE FROM grdb_migrations WHERE identifier <> 'v1';
                            """)
                }
                #expect(try await old.read { db in try db.columns(in: "pending").map(\.name) } == ["id", "json"])
            }
            let reopened = SyncClient(store: try LocalStore(path: path), transport: transport)
            #expect(try await reopened.pending().count == 3)
            #expect(try await reopened.lead(first)?.city == "Berkeley")
            #expect(try await reopened.lead(first)?.status == "new")
            #expect(try await reopened.lead(second)?.status == "accepted")
            #expect(try await reopened.lead(second)?.city != "Berkeley")
            #expect(try await reopened.notes(of: second).map(\.body) == ["called back"])
            #expect(try await reopened.notes(of: first).isEmpty)
            #expect(Set(try await reopened.leads().filter { $0.status == "accepted" || $0.city == "Berkeley" }.map(\.id)) == [first, second])
            let report = try await reopened.sync()
            #expect(report.applied == 3 && report.rejections.isEmpty)
            let truth = try await device(app, hub.users[0])
            _ = try await truth.sync()
            #expect(try await truth.lead(first)?.city == "Berkeley")
            #expect(try await truth.lead(second)?.status == "accepted")
            #expect(try await truth.notes(of: second).map(\.body) == ["called back"])
        }
    }

    /// How SQLite reads one lead's records of a kind in this store.
    static func leadRecordsPlan(_ client: SyncClient) async throws -> String {
        try await client.store.queue.read { db in
            try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + LocalStore.recordsOfLead, arguments: ["note", "x"]).map { $0["detail"] as String }
                .joined(separator: "; ")
        }
    }

    @Test("a lead's records (notes, activities, referrals) are found through the index on their lead and kind, not by reading every record of the kind; a lead's referrals are those made from it, whether they came with the snapshot or a pull, also in a store from before")
    func referralsKeptByTheirSourceLead() async throws {
        try await withTestApplication { app in
            let sourcing = try await app.fixtures.tenant(.sourcingCompany, name: "Source Co", users: [[.partnerUser]])
            let partner = try await app.fixtures.tenant(.partnerCompany, name: "Partner Co", users: [[.partnerUser]])
            let token = sourcing.users[0].token
            var leads: [Lead.ID] = []
            for _ in 0..<3 {
                let created = try await app.request(.post, "/v1/leads", token: token, json: PrivacyTests.leadBody())
                let id = try #require(created.json?["id"] as? String, "\(created.text)")
                leads.append(Lead.ID(try #require(UUID(uuidString: id))))
            }
            func refer(_ lead: Lead.ID) async throws -> String {
                let made = try await app.request(.post, "/v1/leads/\(lead)/referrals", token: token, json: #"{"partner_id":"\#(partner.tenant.id)"}"#)
                #expect(made.status == .created, "\(made.text)")
                return try #require(made.json?["id"] as? String, "\(made.text)")
            }
            let path = FileManager.default.temporaryDirectory.appendingPathComponent("hubnet-sdk-\(UUID()).sqlite").path
            defer { try? FileManager.default.removeItem(atPath: path) }
            let registered = try await SyncTestDevice.register(app, as: sourcing.users[0])
            let transport = TestAppTransport(app: app, token: registered.token)
            let first = try await refer(leads[0])  // arrives with the device's snapshot
            do {
                let client = SyncClient(store: try LocalStore(path: path), transport: transport)
                let first = try await client.sync()
                // The snapshot's records, counted apart: the three leads and the referral held.
                #expect(first.replaced && first.snapshotRecords == 4 && first.pulled >= 4, "\(first)")
                #expect(try await client.leads().count + client.referrals().count == 4)
                // The snapshot's table took the index too.
                let plan = try await Self.leadRecordsPlan(client)
                #expect(plan.contains("records_lead_idx (lead_id=? AND entity=?)"), "\(plan)")
            }
            let second = try await refer(leads[1])  // arrives with a pull
            let client = SyncClient(store: try LocalStore(path: path), transport: transport)
            let report = try await client.sync()
            #expect(report.pulled > 0 && !report.replaced && report.snapshotRecords == 0, "\(report)")
            func found(_ client: SyncClient) async throws -> [[String]] {
                var found: [[String]] = []
                for lead in leads { found.append(try await client.referrals(of: lead).map(\.id.description)) }
                return found
            }
            #expect(try await found(client) == [[first], [second], []])
            #expect(try await client.referrals().count == 2)

            // The file as the SDK before this one left it: referrals under no lead, records indexed
            // by their lead alone (a plan that read every record of the kind).
            do {
                let old = try DatabaseQueue(path: path)
                try await old.write { db in
                    try db.execute(
                        sql: """
                            UPDATE records SET lead_id = NULL WHERE entity = 'referral';
                            DROP INDEX records_lead_idx;
                            CREATE INDEX records_lead_idx ON records (lead_id);
                            DELETE FROM grdb_migrations WHERE identifier LIKE 'v3%';
                            """)
                    let plan = try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + LocalStore.recordsOfLead, arguments: ["note", "x"])
                        .map { $0["detail"] as String }.joined()
                    #expect(!plan.contains("records_lead_idx"), "\(plan)")
                }
                let unkept = try await old.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM records WHERE entity = 'referral' AND lead_id IS NULL") }
                #expect(unkept == 2)
            }
            let reopened = SyncClient(store: try LocalStore(path: path), transport: transport)
            #expect(try await found(reopened) == [[first], [second], []])
            let plan = try await Self.leadRecordsPlan(reopened)
            #expect(plan.contains("records_lead_idx (lead_id=? AND entity=?)"), "\(plan)")
        }
    }

    @Test("pending mutations survive a restart of the app and are pushed once; a rejection is reported and its effect disappears")
    func pendingSurvivesRestart() async throws {
        try await withTestApplication { app in
            let hub = try await app.fixtures.tenant(.hub, users: [[.moderator], [.moderator]])
            let lead = try await app.createLead(token: hub.users[0].token)
            let path = FileManager.default.temporaryDirectory.appendingPathComponent("hubnet-sdk-\(UUID()).sqlite").path
            defer { try? FileManager.default.removeItem(atPath: path) }
            let registered = try await SyncTestDevice.register(app, as: hub.users[0])
            do {
                let first = SyncClient(store: try LocalStore(path: path), transport: TestAppTransport(app: app, token: registered.token))
                _ = try await first.sync()
                try await first.act("decline", on: lead, .init(reason: "duplicate"))
                _ = try await first.addNote("declined offline", to: lead)
                #expect(try await first.lead(lead)?.status == "declined")
            }
            // Meanwhile someone accepts it.
            _ = try await app.request(.post, "/v1/leads/\(lead)/actions/accept", token: hub.users[1].token, json: "{}")
            let reopened = SyncClient(store: try LocalStore(path: path), transport: TestAppTransport(app: app, token: registered.token))
            #expect(try await reopened.pending().count == 2)
            let report = try await reopened.sync()
            #expect(report.rejections.map(\.code) == ["action_not_available"])
            #expect(report.applied == 1)
            #expect(try await reopened.lead(lead)?.status == "accepted")
            #expect(try await reopened.pending().isEmpty)
            #expect(try await reopened.notes(of: lead).count == 1)
            #expect(try await reopened.sync().pushed == 0)
        }
    }

    @Test(
        "a snapshot and a pull in pages of 3: each page asked for once and nothing more; the device ends with exactly the server's records, whether a page's cursor comes before its changes or after",
        arguments: [false, true])
    func pagesInOrder(changesFirst: Bool) async throws {
        try await withTestApplication { app in
            let hub = try await app.fixtures.tenant(.hub, users: [[.moderator]])
            let token = hub.users[0].token
            for index in 0..<7 { _ = try await app.createLead(token: token, name: "First \(index)") }
            let registered = try await SyncTestDevice.register(app, as: hub.users[0])
            let transport = PageRecordingTransport(TestAppTransport(app: app, token: registered.token), changesFirst: changesFirst)
            let client = SyncClient(store: try LocalStore(path: nil), transport: transport, pageSize: 3)
            let first = try await client.sync()
            #expect(try await client.leads().count == 7)
            var later: [Lead.ID] = []
            for index in 0..<11 { later.append(try await app.createLead(token: token, name: "Later \(index)")) }
            for lead in later.prefix(4) {
                let response = try await app.request(.post, "/v1/leads/\(lead)/notes", token: token, json: #"{"body":"called back"}"#)
                #expect(response.status == .created, "\(response.text)")
            }
            transport.asked.withLock { $0.removeAll() }
            let second = try await client.sync()
            // 11 leads and 4 notes, 3 a page: 5 pages, each asked for once, each after the cursor of the one before.
            #expect(second.pulled == 15)
            let asked = transport.asked.withLock { $0 }
            #expect(asked.count == 5, "\(asked)")
            #expect(Set(asked).count == asked.count)
            #expect(second.pulls == asked.count)
            let held = try await client.leads()
            #expect(held.count == 18)
            #expect(Set(held.map(\.id)).isSuperset(of: later))
            for lead in later.prefix(4) { #expect(try await client.notes(of: lead).map(\.body) == ["called back"]) }
            #expect(first.replaced)
        }
    }

    @Test(
        "9 a device that is revoked, or whose user is deactivated, wipes its data, reports each mutation it still held, and stops",
        arguments: ["device_revoked", "user_deactivated"])
    func stopped(code: String) async throws {
        try await withTestApplication { app in
            let hub = try await app.fixtures.tenant(.hub, users: [[.moderator]])
            let lead = try await app.createLead(token: hub.users[0].token)
            let registered = try await SyncTestDevice.register(app, as: hub.users[0])
            let client = SyncClient(store: try LocalStore(path: nil), transport: TestAppTransport(app: app, token: registered.token))
            _ = try await client.sync()
            _ = try await client.addNote("pushed", to: lead)
            #expect(try await client.sync().applied == 1)
            let second = try await client.addNote("held", to: lead)
            try await client.act("accept", on: lead)
            if code == "device_revoked" {
                let devices = try #require((try await app.request(.get, "/v1/devices", token: hub.admin.token)).json?["items"] as? [[String: Any]])
                let id = try #require(devices.first?["id"] as? String)
                #expect(try await app.request(.delete, "/v1/devices/\(id)", token: hub.admin.token).status == .noContent)
            } else {
                #expect(try await app.request(.delete, "/v1/users/\(hub.users[0].user.id)", token: hub.admin.token).status.code < 300)
            }
            let report = try await client.sync()
            #expect(report.stopped?.code == code)
            #expect(report.stopped?.lastMutationId == 1)
            #expect(report.rejections.map(\.code) == [code, code])
            #expect(report.rejections.map(\.mutationID) == [2, 3])
            #expect(report.rejections.first?.mutation?.recordId == second.rawValue)
            // Wiped: nothing of the tenant's is left on the device.
            #expect(try await client.leads().isEmpty)
            #expect(try await client.pending().isEmpty)
            #expect(try await client.notes(of: lead).isEmpty)
            await #expect(throws: SyncStop.self) { try await client.sync() }
            // The server applied exactly the one it acknowledged.
            #expect((try await app.request(.get, "/v1/leads/\(lead)/notes", token: hub.admin.token)).json?["items"] as? [Any] != nil)
            let notes = try #require((try await app.request(.get, "/v1/leads/\(lead)/notes", token: hub.admin.token)).json?["items"] as? [Any])
            #expect(notes.count == 1)
        }
    }

    @Test("8 a lead taken from the device's user while offline: its queued mutations come back not_visible and it leaves the device with its notes and activities")
    func notVisibleThroughTheSDK() async throws {
        try await withTestApplication { app in
            let hub = try await app.fixtures.tenant(.hub, users: [[.moderator], [.advisor], [.advisor]])
            let (moderator, advisor, other) = (hub.users[0], hub.users[1], hub.users[2])
            let lead = try await app.createLead(token: moderator.token)
            _ = try await app.request(.post, "/v1/leads/\(lead)/actions/accept", token: moderator.token, json: "{}")
            _ = try await app.request(
                .post, "/v1/leads/\(lead)/actions/refer_internal", token: moderator.token, json: #"{"advisor_id":"\#(advisor.user.id)"}"#)
            _ = try await app.request(
                .post, "/v1/leads/\(lead)/activities", token: moderator.token, json: #"{"kind":"call","title":"first call"}"#)
            let field = try await device(app, advisor)
            _ = try await field.sync()
            #expect(try await field.activities(of: lead).count == 1)
            _ = try await field.addNote("offline", to: lead)
            _ = try await field.scheduleActivity(.meeting, title: "visit", dueAt: nil, on: lead)
            _ = try await app.request(
                .post, "/v1/leads/\(lead)/actions/refer_internal", token: moderator.token, json: #"{"advisor_id":"\#(other.user.id)"}"#)
            let report = try await field.sync()
            #expect(report.rejections.map(\.code) == ["not_visible", "not_visible"])
            #expect(report.dropped == [lead.rawValue])
            #expect(try await field.leads().isEmpty)
            #expect(try await field.notes(of: lead).isEmpty)
            #expect(try await field.activities(of: lead).isEmpty)
        }
    }

    @Test("7 a queued mutation this server does not know (left by another app version) is rejected unsupported and the queue moves on")
    func unsupportedFromAnotherVersion() async throws {
        try await withTestApplication { app in
            let hub = try await app.fixtures.tenant(.hub, users: [[.moderator]])
            let lead = try await app.createLead(token: hub.users[0].token)
            let client = try await device(app, hub.users[0])
            _ = try await client.sync()
            // What a newer app would have queued: a mutation name this server and SDK do not know.
            try await client.store.queue.write { db in
                try db.execute(
                    sql: "INSERT INTO pending (id, json) VALUES (1, ?)",
                    arguments: [Data(#"{"id":1,"name":"lead.pin","lead_id":"\#(lead)","pinned":true}"#.utf8)])
                try db.execute(sql: "INSERT OR REPLACE INTO meta (key, value) VALUES ('last_mutation_id', '1')")
            }
            _ = try await client.addNote("after it", to: lead)
            let report = try await client.sync()
            #expect(report.rejections.map(\.code) == ["unsupported"])
            #expect(report.rejections.first?.mutationID == 1)
            #expect(report.rejections.first?.mutation == nil)
            #expect(report.applied == 1)
            #expect(try await client.pending().isEmpty)
            #expect(try await client.notes(of: lead).map(\.body) == ["after it"])
        }
    }

    @Test("referral.create: a device refers leads to a partner company while offline; the push refers as the HTTP API does, the referrals arrive with the pull, and a wrong partner, a past expiry or a second open referral is that mutation's own rejection")
    func referFromDevice() async throws {
        try await withTestApplication { app in
            let sourcing = try await app.fixtures.tenant(.sourcingCompany, name: "Source Co", users: [[.partnerUser]])
            let partner = try await app.fixtures.tenant(.partnerCompany, name: "Partner Co", users: [[.partnerUser], [.partnerUser]])
            let hub = try await app.fixtures.tenant(.hub, name: "Some Hub", users: [[.moderator]])
            var leads: [Lead.ID] = []
            for _ in 0..<2 {
                let created = try await app.request(.post, "/v1/leads", token: sourcing.users[0].token, json: PrivacyTests.leadBody())
                let id = try #require(created.json?["id"] as? String, "\(created.text)")
                leads.append(Lead.ID(try #require(UUID(uuidString: id))))
            }
            // Twin leads: one referred over HTTP, one by a device.
            let overHTTP = try await app.request(
                .post, "/v1/leads/\(leads[0])/referrals", token: sourcing.users[0].token, json: #"{"partner_id":"\#(partner.tenant.id)"}"#)
            #expect(overHTTP.status == .created, "\(overHTTP.text)")
            let field = try await device(app, sourcing.users[0])
            _ = try await field.sync()
            try await field.refer(leads[1], to: hub.tenant.id)
            try await field.refer(leads[1], to: partner.tenant.id, expiresAt: Date(timeIntervalSince1970: 1_000))
            try await field.refer(leads[1], to: partner.tenant.id)
            try await field.refer(leads[1], to: partner.tenant.id)
            // Queued, not made: the device holds only the referral made over HTTP.
            #expect(try await field.referrals().map(\.sourceLeadId) == [leads[0]])
            let report = try await field.sync()
            #expect(report.applied == 1)
            #expect(report.rejections.map(\.code) == ["invalid_value", "invalid_value", "already_referred"])
            #expect(report.rejections.map(\.field) == ["partner_id", "expires_at", nil])
            #expect(report.rejections.map(\.mutationID) == [1, 2, 4])

            // The referral arrived with the pull, and it is the twin of the one made over HTTP.
            let referrals = try await field.referrals()
            let pushed = try #require(referrals.first { $0.sourceLeadId == leads[1] }, "\(referrals)")
            let twin = try #require(referrals.first { $0.sourceLeadId == leads[0] }, "\(referrals)")
            #expect(referrals.count == 2)
            #expect(pushed.targetTenantId == partner.tenant.id && pushed.targetKind == "partner")
            #expect(pushed.status == twin.status && pushed.lifeCycle == twin.lifeCycle && pushed.createdBy == twin.createdBy)
            // Each copy landed with the partner, and its two people and admin were invited to answer each.
            let copies = try #require(
                try await app.request(.get, "/v1/leads", token: partner.admin.token).json?["items"] as? [[String: Any]])
            #expect(Set(copies.compactMap { $0["id"] as? String }) == [pushed.targetLeadId.description, twin.targetLeadId.description])
            let invitations = try await InputFuzzTests.count(app, "SELECT count(*)::INTEGER FROM outbox WHERE event = 'referral.received'")
            #expect(invitations == 6)
        }
    }
}
