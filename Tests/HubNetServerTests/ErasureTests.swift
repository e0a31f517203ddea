import Foundation
import HTTPTypes
import HubNetCore
import HubNetPostgres
import HubNetServer
@testable import HubNetSync
import HubNetTestSupport
import HummingbirdTesting
import Logging
import PostgresNIO
import Testing

/// Erasure of a person across the network, on PostgreSQL with a real SMTP receiver and the SDK.
@Suite("Erasure")
struct ErasureTests {
    static let name = "Zebulon Quartermaine"
    static let email = "zeb.quartermaine@erase.test"
    static let phone = "+1 415 555 0199"
    /// What must not be found anywhere afterwards (case-insensitive).
    static let values = ["Zebulon", "Quartermaine", "zeb.quartermaine", "4155550199", "555 0199", "555-0199"]

    /// Every text, JSON and array column of every table holding one of `values`: "table.column (rows)".
    static func scan(_ app: TestApplication) async throws -> [String] {
        let logger = Logger(label: "erasure-scan")
        return try await withPostgresClient(app.database.ownerURL, logger: logger) { client in
            let columns = try await client.rows(
                """
                SELECT c.table_name, c.column_name FROM information_schema.columns c
                JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
                WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE'
                  AND c.data_type IN ('text', 'character varying', 'json', 'jsonb', 'ARRAY')
                ORDER BY 1, 2
                """, logger: logger
            ).decode((String, String).self)
            #expect(columns.count > 40, "the scan must see the whole schema")
            var found: [String] = []
            let patterns = values.map { "%\($0)%" }
            for (table, column) in columns {
                let query = PostgresQuery(
                    unsafeSQL: "SELECT count(*) FROM \"\(table)\" WHERE \"\(column)\"::TEXT ILIKE ANY($1)",
                    binds: try { var binds = PostgresBindings(); try binds.append(patterns); return binds }())
                let count = try await client.rows(query, logger: logger).decode(Int.self).first ?? 0
                if count > 0 { found.append("\(table).\(column) (\(count))") }
            }
            return found
        }
    }

    @Test("erasure: no personal value remains in any text or JSON column of any table in any tenant the referral reached; funnels, referral outcomes and the history chain are unchanged; devices acknowledge the purge")
    func eraseEverywhere() async throws {
        let smtp = try await SMTPReceiver()
        defer { smtp.stop() }
        let relay = SMTPClient(host: "127.0.0.1", port: smtp.port, from: "hubnet@test.local")
        try await withTestApplication(configure: { $0.smtp = relay; $0.deliveryInterval = nil }) { app in
            let sourcing = try await app.fixtures.tenant(.sourcingCompany, name: "Erasing Source", users: [[.partnerUser]])
            let partner = try await app.fixtures.tenant(.partnerCompany, name: "Holding Partner", users: [[.partnerUser]])
            let stranger = try await app.fixtures.tenant(.partnerCompany)
            let token = sourcing.users[0].token
            let created = try await app.request(
                .post, "/v1/leads", token: token,
                json: #"{"contact":{"name":"\#(Self.name)","email":"\#(Self.email)","phone":"\#(Self.phone)","city":"Eureka"},"request":"Quartermaine's shop needs a loan","consent":{"scope":"network","purpose":"referral","method":"written"}}"#)
            let lead = try #require(created.json?["id"] as? String)
            _ = try await app.request(.post, "/v1/leads/\(lead)/notes", token: token, json: #"{"body":"Spoke with \#(Self.name)"}"#)
            // An unrelated lead of the same person's neighbour stays as it is.
            let neighbour = try #require((try await app.request(
                .post, "/v1/leads", token: token, json: #"{"contact":{"name":"Nora Neighbour","email":"nora@erase.test"}}"#)).json?["id"] as? String)

            let field = try await SyncTestDevice.register(app, as: partner.users[0], name: "Field")
            let idle = try await SyncTestDevice.register(app, as: partner.users[0], name: "Idle")
            let start = try await field.snapshot()
            _ = try await idle.snapshot()
            let referral = try #require(try await app.request(
                .post, "/v1/leads/\(lead)/referrals", token: token, json: #"{"partner_id":"\#(partner.tenant.id)"}"#).json)
            let copy = try #require(referral["target_lead_id"] as? String)
            let copyID = try #require(UUID(uuidString: copy))
            // The partner works it: a note from the field device, an activity, an accept that emails the source.
            let pushed = try await field.push([
                Mutation(id: 1, leadId: Lead.ID(copyID), intent: .addNote(id: LeadNote.ID(), body: "\(Self.name) called back"))
            ])
            #expect(pushed.results.first?.outcome == .applied)
            _ = try await app.request(
                .post, "/v1/leads/\(copy)/activities", token: partner.users[0].token,
                json: #"{"kind":"call","title":"Call \#(Self.name)"}"#)
            #expect(try await app.request(.post, "/v1/leads/\(copy)/actions/accept", token: partner.users[0].token, json: "{}").status == .ok)
            _ = try await OutboxDeliveryService(database: app.fixtures.database, smtp: relay, now: { Date() }).deliverDue()
            #expect(smtp.messages.contains { $0.contains(Self.name) })
            let held = try await field.pullAll(start.cursor)
            #expect(held.changes.contains { if case .note(let note)? = $0.record { note.body.contains(Self.name) } else { false } })
            #expect(try await Self.scan(app).isEmpty == false)

            let funnels = try await (
                app.request(.get, "/v1/reports/funnel", token: sourcing.admin.token).text,
                app.request(.get, "/v1/reports/funnel", token: partner.admin.token).text)
            let outcome = try await app.request(.get, "/v1/referrals/\(try #require(referral["id"] as? String))", token: token).json

            // Only an admin erases; another tenant's lead is unknown.
            #expect(try await app.request(.post, "/v1/erasures", token: token, json: #"{"lead_id":"\#(lead)"}"#).status == .forbidden)
            #expect(try await app.request(.post, "/v1/erasures", token: stranger.admin.token, json: #"{"lead_id":"\#(lead)"}"#).status == .notFound)
            let erased = try await app.request(.post, "/v1/erasures", token: sourcing.admin.token, json: #"{"email":"\#(Self.email.uppercased())"}"#)
            #expect(erased.status == .created, "\(erased.text)")
            let erasure = try #require(erased.json?["id"] as? String)
            let copies = try #require(erased.json?["copies"] as? [[String: Any]])
            #expect(Set(copies.compactMap { $0["lead_id"] as? String }) == [lead, copy])
            #expect(erased.json?["devices_pending"] as? Int == 2)

            // Nothing of the person anywhere, in any tenant.
            let remaining = try await Self.scan(app)
            #expect(remaining.isEmpty, "\(remaining)")
            // Counts, funnels and the referral's outcome are as they were; both chains verify.
            #expect(try await app.request(.get, "/v1/reports/funnel", token: sourcing.admin.token).text == funnels.0)
            #expect(try await app.request(.get, "/v1/reports/funnel", token: partner.admin.token).text == funnels.1)
            let after = try await app.request(.get, "/v1/referrals/\(try #require(referral["id"] as? String))", token: token).json
            for key in ["status", "status_name", "life_cycle", "accepted_at", "created_at"] {
                #expect("\(after?[key] ?? "-")" == "\(outcome?[key] ?? "-")", "\(key)")
            }
            #expect(try await app.request(.get, "/v1/leads/\(lead)/history/verification", token: token).json?["intact"] as? Bool == true)
            #expect(try await app.request(.get, "/v1/leads/\(copy)/history/verification", token: partner.users[0].token).json?["intact"] as? Bool == true)
            #expect((try await app.request(.get, "/v1/leads/\(neighbour)", token: token).json?["contact"] as? [String: Any])?["name"] as? String == "Nora Neighbour")
            // An erased lead takes no more changes, by any path.
            #expect(try await app.request(.post, "/v1/leads/\(copy)/notes", token: partner.users[0].token, json: #"{"body":"again"}"#).errorCode == "lead_erased")
            #expect(try await app.request(.post, "/v1/leads/\(copy)/actions/contact", token: partner.users[0].token, json: "{}").errorCode == "lead_erased")
            let refused = try await field.push([
                Mutation(id: 2, leadId: Lead.ID(copyID), intent: .addNote(id: LeadNote.ID(), body: "\(Self.name) again"))
            ])
            #expect(refused.results.first?.code == "lead_erased")

            // The field device gets the purge, then the redacted records; its next pull acknowledges.
            let status: @Sendable () async throws -> [String: Any] = {
                try #require(try await app.request(.get, "/v1/erasures/\(erasure)", token: sourcing.admin.token).json)
            }
            #expect(try await status()["devices_pending"] as? Int == 2)
            let purged = try await field.pullAll(try #require(held.cursor))
            let purgeIndex = try #require(purged.changes.firstIndex { $0.op == .purge && $0.id == copyID })
            #expect(purged.changes[(purgeIndex + 1)...].contains { $0.op == .upsert && $0.id == copyID })
            #expect(!purged.changes.contains { change in
                if case .lead(let l)? = change.record { return l.name.contains("Quartermaine") }
                if case .note(let n)? = change.record { return n.body.contains("Quartermaine") }
                return false
            })
            _ = try await field.pull(try #require(purged.cursor))
            let final = try await status()
            let devices = try #require(final["devices"] as? [[String: Any]])
            #expect(devices.count == 2)
            #expect(devices.filter { $0["acknowledged_at"] != nil }.count == 1)
            #expect(final["devices_pending"] as? Int == 1)
            // The erasure is the requester's: another tenant gets the same not-found as an unknown one.
            #expect(try await app.request(.get, "/v1/erasures/\(erasure)", token: partner.admin.token).status == .notFound)
        }
    }

    @Test("erasure: the SDK removes the purged lead and its notes, keeps only the redacted record, and no personal value stays in its database file")
    func sdkPurge() async throws {
        try await withTestApplication { app in
            let hub = try await app.fixtures.tenant(.hub, users: [[.moderator]])
            let lead = try #require((try await app.request(
                .post, "/v1/leads", token: hub.users[0].token,
                json: #"{"contact":{"name":"\#(Self.name)","email":"\#(Self.email)"}}"#)).json?["id"] as? String)
            let leadID = try #require(Lead.ID(string: lead))
            _ = try await app.request(.post, "/v1/leads/\(lead)/notes", token: hub.users[0].token, json: #"{"body":"Met \#(Self.name)"}"#)
            let file = FileManager.default.temporaryDirectory.appendingPathComponent("erasure-\(UUID()).sqlite").path
            defer { try? FileManager.default.removeItem(atPath: file) }
            let registered = try await SyncTestDevice.register(app, as: hub.users[0])
            let client = SyncClient(store: try LocalStore(path: file), transport: TestAppTransport(app: app, token: registered.token))
            _ = try await client.sync()
            #expect(try await client.lead(leadID)?.name == Self.name)
            #expect(try await client.notes(of: leadID).count == 1)

            #expect(try await app.request(.post, "/v1/erasures", token: hub.admin.token, json: #"{"lead_id":"\#(lead)"}"#).status == .created)
            let report = try await client.sync()
            #expect(report.purged == [leadID.rawValue])
            #expect(try await client.lead(leadID)?.name == "[erased]")
            #expect(try await client.notes(of: leadID).map(\.body) == ["[erased]"])
            let bytes = try Data(contentsOf: URL(fileURLWithPath: file))
            let text = String(decoding: bytes, as: UTF8.self)
            #expect(!text.contains("Quartermaine") && !text.contains("zeb.quartermaine"))
        }
    }

    @Test("erasure: another lead's note and activity that name the person are redacted, the rest of their text kept, and a device holding them receives the redacted versions")
    func otherLeadsMentions() async throws {
        try await withTestApplication { app in
            let hub = try await app.fixtures.tenant(.hub, users: [[.moderator]])
            let token = hub.users[0].token
            let lead = try #require((try await app.request(
                .post, "/v1/leads", token: token, json: #"{"contact":{"name":"\#(Self.name)","email":"\#(Self.email)"}}"#)).json?["id"] as? String)
            let neighbour = try #require((try await app.request(
                .post, "/v1/leads", token: token, json: #"{"contact":{"name":"Nora Neighbour","email":"nora@erase.test"}}"#)).json?["id"] as? String)
            let neighbourID = try #require(Lead.ID(string: neighbour))
            let noted = try await app.request(
                .post, "/v1/leads/\(neighbour)/notes", token: token, json: #"{"body":"\#(Self.name) is Nora's cousin"}"#)
            #expect(noted.status == .created, "\(noted.text)")
            let scheduled = try await app.request(
                .post, "/v1/leads/\(neighbour)/activities", token: token, json: #"{"kind":"call","title":"Ask \#(Self.name.uppercased()) about the loan"}"#)
            #expect(scheduled.status == .created, "\(scheduled.text)")
            let file = FileManager.default.temporaryDirectory.appendingPathComponent("erasure-\(UUID()).sqlite").path
            defer { try? FileManager.default.removeItem(atPath: file) }
            let registered = try await SyncTestDevice.register(app, as: hub.users[0])
            let client = SyncClient(store: try LocalStore(path: file), transport: TestAppTransport(app: app, token: registered.token))
            _ = try await client.sync()
            #expect(try await client.notes(of: neighbourID).map(\.body) == ["\(Self.name) is Nora's cousin"])

            #expect(try await app.request(.post, "/v1/erasures", token: hub.admin.token, json: #"{"lead_id":"\#(lead)"}"#).status == .created)
            _ = try await client.sync()
            // The neighbour's lead keeps its own person and the rest of the texts; the erased person's name is gone.
            #expect(try await client.lead(neighbourID)?.name == "Nora Neighbour")
            #expect(try await client.notes(of: neighbourID).map(\.body) == ["[erased] is Nora's cousin"])
            #expect(try await client.activities(of: neighbourID).map(\.title) == ["Ask [erased] about the loan"])
            let remaining = try await Self.scan(app)
            #expect(remaining.isEmpty, "\(remaining)")
            let text = String(decoding: try Data(contentsOf: URL(fileURLWithPath: file)), as: UTF8.self)
            #expect(!text.contains("Quartermaine") && !text.contains("QUARTERMAINE"))
        }
    }

    @Test("erasure: the SDK deletes queued mutations on a purged lead and renumbers the ones after it, gap-free")
    func discardPending() async throws {
        let store = try LocalStore(path: nil)
        let erased = Lead.ID()
        let other = Lead.ID()
        for (id, lead) in [(Int64(5), other), (6, erased), (7, other), (8, erased), (9, other)] {
            try await store.queue.write { db in
                try LocalStore.insertPending(
                    id: id, json: try LocalStore.encoder.encode(Mutation(id: id, leadId: lead, intent: .addNote(id: LeadNote.ID(), body: "n\(id)"))),
                    lead: UUIDText.lowercase(lead.rawValue), in: db)
            }
        }
        let discarded = try await store.queue.write { db in try LocalStore.discardPending(lead: erased.rawValue, in: db) }
        #expect(discarded == 2)
        let pending = try store.pending()
        #expect(pending.map(\.id) == [5, 6, 7])
        #expect(pending.map(\.leadId) == [other, other, other])
        #expect(try store.pending(lead: other.rawValue).map(\.id) == [5, 6, 7])
        #expect(try store.pending(lead: erased.rawValue).isEmpty)
        #expect(pending.compactMap { if case .addNote(_, let body) = $0.intent { body } else { nil } } == ["n5", "n7", "n9"])
        #expect(try store.lastMutationID() == 7)
        #expect(try await store.queue.write { db in try LocalStore.discardPending(lead: erased.rawValue, in: db) } == 0)
    }
}
