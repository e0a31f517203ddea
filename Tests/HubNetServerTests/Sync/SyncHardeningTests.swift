import Foundation
import HubNetCore
import HubNetPostgres
import HubNetTestSupport
import HummingbirdTesting
import Logging
import PostgresNIO
import Testing

/// What a device may send that is wrong, and what it then hears: one bad mutation never wedges the
/// queue, no value stops the server, and a device that lost its access is told so.
@Suite("Sync hardening")
struct SyncHardeningTests {
    /// The outcomes of a raw push body, as JSON objects.
    static func outcomes(_ response: TestResponse) throws -> [[String: Any]] {
        try #require(response.json?["results"] as? [[String: Any]], "\(response.status) \(response.text)")
    }

    static func noteCount(_ app: TestApplication, lead: Lead.ID, token: String) async throws -> Int {
        let notes = try await app.request(.get, "/v1/leads/\(lead)/notes", token: token)
        return try #require(notes.json?["items"] as? [Any]).count
    }

    @Test("7 no wedged queue: an unknown name and an older spelling are rejected on their own and the notes around them apply")
    func badMutationsDoNotWedge() async throws {
        try await withTestApplication { app in
            let hub = try await app.fixtures.tenant(.hub, users: [[.moderator]])
            let lead = try await app.createLead(token: hub.users[0].token)
            let device = try await SyncTestDevice.register(app, as: hub.users[0])
            let batch = """
                {"mutations":[
                  {"id":1,"name":"note.add","lead_id":"\(lead)","record_id":"\(UUID())","body":"first"},
                  {"id":2,"name":"lead.reassign","lead_id":"\(lead)","user_id":"\(UUID())"},
                  {"id":3,"name":"note.add","leadId":"\(lead)","recordId":"\(UUID())","body":"old spelling"},
                  {"id":4,"name":"note.add","lead_id":"\(lead)","record_id":"\(UUID())","body":"last"}
                ]}
                """
            let response = try await app.request(.post, "/v1/sync/push", token: device.token, json: batch)
            #expect(response.status == .ok)
            let results = try Self.outcomes(response)
            #expect(results.map { $0["outcome"] as? String } == ["applied", "rejected", "rejected", "applied"])
            #expect(results[1]["code"] as? String == "unsupported")
            #expect(results[1]["field"] as? String == "name")
            #expect(results[2]["code"] as? String == "invalid_value")
            #expect(results[2]["field"] as? String == "leadId")
            #expect(response.json?["last_mutation_id"] as? Int == 4)
            #expect(try await Self.noteCount(app, lead: lead, token: hub.users[0].token) == 2)
            // The queue moved on: 5 is next, and the rejections are kept in the device's log.
            let next = try await device.push([Mutation(id: 5, leadId: lead, intent: .addNote(id: LeadNote.ID(), body: "fifth"))])
            #expect(next.results.map(\.outcome) == [.applied])
            let replay = try await app.request(.post, "/v1/sync/push", token: device.token, json: batch)
            let replayed = try Self.outcomes(replay)
            #expect(replayed.map { $0["code"] as? String } == [nil, "unsupported", "invalid_value", nil])
            #expect(replayed[2]["field"] as? String == "leadId")
            #expect(replayed.allSatisfy { $0["replayed"] as? Bool == true })
            #expect(try await Self.noteCount(app, lead: lead, token: hub.users[0].token) == 3)
        }
    }

    @Test(
        "1 times a device cannot mean are invalid_value naming the field, and the rest of the batch applies",
        arguments: [
            (#""name":"activity.schedule","record_id":"\#(UUID())","kind":"call","title":"t","due_at":-9223372036854775808"#, "due_at"),
            (#""name":"activity.schedule","record_id":"\#(UUID())","kind":"call","title":"t","due_at":9223372036854775807"#, "due_at"),
            (#""name":"note.add","record_id":"\#(UUID())","body":"b","acted_at":9223372036854775807"#, "acted_at"),
            (#""name":"note.add","record_id":"\#(UUID())","body":"b","acted_at":-9223372036854775808"#, "acted_at"),
            (#""name":"activity.schedule","record_id":"\#(UUID())","kind":"call","title":"t","due_at":1e300"#, "due_at"),
            (#""name":"activity.schedule","record_id":"\#(UUID())","kind":"call","title":"t","due_at":"tomorrow""#, "due_at"),
            (#""name":"activity.schedule","record_id":"\#(UUID())","kind":"séance","title":"t""#, "kind"),
            (#""name":"lead.update","changes":[{"field":"probability","from":null,"to":"99999999999999999999"}]"#, "changes[0].to"),
            (#""name":"lead.update","changes":[{"field":"wealth","from":null,"to":"1"}]"#, "changes[0].field"),
            (#""name":"lead.update","base_version":9223372036854775807,"changes":[{"field":"city","from":null,"to":"X"}]"#, "base_version"),
            (#""name":"note.add","record_id":"\#(UUID())","body":"b","version":2"#, "version"),
        ])
    func outOfRangeValues(body: String, field: String) async throws {
        try await withTestApplication { app in
            let hub = try await app.fixtures.tenant(.hub, users: [[.moderator]])
            let lead = try await app.createLead(token: hub.users[0].token)
            let device = try await SyncTestDevice.register(app, as: hub.users[0])
            let batch = """
                {"mutations":[
                  {"id":1,"lead_id":"\(lead)",\(body)},
                  {"id":2,"name":"note.add","lead_id":"\(lead)","record_id":"\(UUID())","body":"after"}
                ]}
                """
            let response = try await app.request(.post, "/v1/sync/push", token: device.token, json: batch)
            #expect(response.status == .ok, "\(response.text)")
            let results = try Self.outcomes(response)
            #expect(results.first?["outcome"] as? String == "rejected")
            #expect(["invalid_value", "unsupported"].contains(results.first?["code"] as? String ?? ""))
            #expect(results.first?["field"] as? String == field, "\(results)")
            #expect(results.last?["outcome"] as? String == "applied")
            // Exactly the second mutation's note; the activity was never written.
            #expect(try await Self.noteCount(app, lead: lead, token: hub.users[0].token) == 1)
            let activities = try await app.request(.get, "/v1/leads/\(lead)/activities", token: hub.users[0].token)
            #expect((activities.json?["items"] as? [Any])?.count == 0)
        }
    }

    @Test("a replay is the same mutation under its number; a different one under a used number is 409 mutation_ids_reused, nothing applied")
    func reusedNumbersAreRefused() async throws {
        try await withTestApplication { app in
            let hub = try await app.fixtures.tenant(.hub, users: [[.moderator]])
            let token = hub.users[0].token
            let (lead, other) = (try await app.createLead(token: token), try await app.createLead(token: token, name: "Ada Ong"))
            let device = try await SyncTestDevice.register(app, as: hub.users[0])
            let first = Mutation(id: 1, leadId: lead, intent: .addNote(id: LeadNote.ID(), body: "first"))
            #expect(try await device.push([first]).results.map(\.outcome) == [.applied])
            // The same mutation again (an answer lost on the way): its stored outcome, nothing new.
            let replay = try await device.push([first])
            #expect(replay.results.map(\.replayed) == [true])
            // Number 1 again for a different mutation (a client that lost its store): refused.
            for reused in [
                Mutation(id: 1, leadId: other, intent: .addNote(id: LeadNote.ID(), body: "lost?")),
                Mutation(id: 1, leadId: lead, intent: .act(LeadAction("contact"))),
            ] {
                let response = try await device.pushRaw([reused, Mutation(id: 2, leadId: lead, intent: .addNote(id: LeadNote.ID(), body: "next"))])
                #expect(response.status == .conflict)
                #expect(response.errorCode == "mutation_ids_reused")
                let error = try #require(response.json?["error"] as? [String: Any])
                #expect(error["last_mutation_id"] as? Int == 1)
            }
            #expect(try await Self.noteCount(app, lead: lead, token: token) == 1)
            #expect(try await Self.noteCount(app, lead: other, token: token) == 0)
            // Numbered after the server's last, the same mutation is applied.
            let renumbered = try await device.push([Mutation(id: 2, leadId: other, intent: .addNote(id: LeadNote.ID(), body: "lost?"))])
            #expect(renumbered.results.map(\.outcome) == [.applied])
            #expect(try await Self.noteCount(app, lead: other, token: token) == 1)
        }
    }

    @Test("7 only a malformed envelope is refused whole: not JSON, no ids, ids not consecutive, nothing applied")
    func malformedEnvelopes() async throws {
        try await withTestApplication { app in
            let hub = try await app.fixtures.tenant(.hub, users: [[.moderator]])
            let lead = try await app.createLead(token: hub.users[0].token)
            let device = try await SyncTestDevice.register(app, as: hub.users[0])
            let note = { (id: String) in #"{"id":\#(id),"name":"note.add","lead_id":"\#(lead)","record_id":"\#(UUID())","body":"x"}"# }
            let cases: [(String, Int, String, String?)] = [
                ("{\"mutations\":[", 400, "malformed_json", nil),
                ("{\"mutations\":{}}", 422, "validation_failed", "mutations"),
                ("{\"mutations\":[\(note("1")),\(note("3"))]}", 422, "validation_failed", "mutations[1].id"),
                ("{\"mutations\":[{\"name\":\"note.add\"}]}", 422, "validation_failed", "mutations[0].id"),
                ("{\"mutations\":[\(note("1.5"))]}", 422, "validation_failed", "mutations[0].id"),
                ("{\"mutations\":[\(note("9223372036854775808"))]}", 422, "validation_failed", "mutations[0].id"),
                ("{\"mutations\":[\(note("1"))],\"mutations\":[]}", 400, "duplicate_key", "mutations"),
            ]
            for (body, status, code, field) in cases {
                let response = try await app.request(.post, "/v1/sync/push", token: device.token, json: body)
                #expect(Int(response.status.code) == status, "\(body) → \(response.text)")
                #expect(response.errorCode == code, "\(body)")
                if let field { #expect((response.json?["error"] as? [String: Any])?["field"] as? String == field, "\(body)") }
            }
            #expect(try await Self.noteCount(app, lead: lead, token: hub.users[0].token) == 0)
        }
    }

    @Test("7 a mutation whose handling keeps failing is rejected with failed_repeatedly on the third push, and the queue moves on")
    func failedRepeatedly() async throws {
        try await withTestApplication { app in
            let hub = try await app.fixtures.tenant(.hub, users: [[.moderator]])
            let lead = try await app.createLead(token: hub.users[0].token)
            let device = try await SyncTestDevice.register(app, as: hub.users[0])
            // A defect the rules know nothing of: the database refuses one note body with an error
            // that is not a refusal of the value (as a broken trigger or a bug would).
            let logger = Logger(label: "test")
            try await withPostgresClient(app.database.ownerURL, logger: logger) { client in
                try await client.rows(
                    """
                    CREATE FUNCTION test_boom() RETURNS TRIGGER LANGUAGE plpgsql AS $$
                    BEGIN IF NEW.body = 'boom' THEN RAISE EXCEPTION 'boom'; END IF; RETURN NEW; END $$
                    """, logger: logger)
                try await client.rows(
                    "CREATE TRIGGER test_boom BEFORE INSERT ON lead_notes FOR EACH ROW EXECUTE FUNCTION test_boom()", logger: logger)
            }
            let batch = [
                Mutation(id: 1, leadId: lead, intent: .addNote(id: LeadNote.ID(), body: "before")),
                Mutation(id: 2, leadId: lead, intent: .addNote(id: LeadNote.ID(), body: "boom")),
                Mutation(id: 3, leadId: lead, intent: .addNote(id: LeadNote.ID(), body: "after")),
            ]
            for attempt in 1...2 {
                let failed = try await device.pushRaw(batch)
                #expect(failed.status == .internalServerError, "attempt \(attempt): \(failed.text)")
                #expect(failed.errorCode == "mutation_failed")
                #expect(try await Self.noteCount(app, lead: lead, token: hub.users[0].token) == 0)
            }
            let third = try await device.pushRaw(batch)
            #expect(third.status == .ok, "\(third.text)")
            let results = try Self.outcomes(third)
            #expect(results.map { $0["outcome"] as? String } == ["applied", "rejected", "applied"])
            #expect(results[1]["code"] as? String == "failed_repeatedly")
            let reason = try #require(results[1]["reason"] as? String)
            #expect(reason.contains("3 times"))
            #expect(try await Self.noteCount(app, lead: lead, token: hub.users[0].token) == 2)
        }
    }

    @Test("2 base_version: equal to the lead's version applies the edits as they are, older merges by field, from the future is refused")
    func baseVersion() async throws {
        try await withTestApplication { app in
            let hub = try await app.fixtures.tenant(.hub, users: [[.moderator]])
            let lead = try await app.createLead(token: hub.users[0].token)
            let device = try await SyncTestDevice.register(app, as: hub.users[0])
            let current = try #require((try await app.request(.get, "/v1/leads/\(lead)", token: hub.users[0].token)).json?["version"] as? Int)
            func update(_ id: Int64, base: Int?, from: String?, to: String) -> Mutation {
                Mutation(id: id, leadId: lead, intent: .update(LeadUpdate(baseVersion: base, changes: [.init(field: .city, from: from, to: to)])))
            }
            // The device never saw "Oakland" but edited the version that is current: it applies.
            let same = try await device.push([update(1, base: current, from: "Somewhere", to: "Berkeley")])
            #expect(same.results.map(\.outcome) == [.applied])
            // Based on an older version with a stale from: the first value (Berkeley) stays.
            let older = try await device.push([update(2, base: current, from: "Oakland", to: "Alameda")])
            #expect(older.results.map(\.outcome) == [.appliedWithConflicts])
            #expect(older.results.first?.conflicts == [FieldConflict(field: .city, yours: "Alameda", kept: "Berkeley")])
            let future = try await device.push([update(3, base: current + 100, from: "Berkeley", to: "Emeryville")])
            #expect(future.results.first?.outcome == .rejected)
            #expect(future.results.first?.code == "invalid_value")
            #expect(future.results.first?.field == "base_version")
            let stored = try await app.request(.get, "/v1/leads/\(lead)", token: hub.users[0].token)
            #expect((stored.json?["contact"] as? [String: Any])?["city"] as? String == "Berkeley")
        }
    }

    @Test("9 a revoked device and a deactivated user's device hear distinct codes with the last applied mutation; a made-up token is unauthenticated")
    func deviceStates() async throws {
        try await withTestApplication { app in
            let hub = try await app.fixtures.tenant(.hub, users: [[.moderator], [.moderator]])
            let lead = try await app.createLead(token: hub.users[0].token)
            let revoked = try await SyncTestDevice.register(app, as: hub.users[0])
            let departing = try await SyncTestDevice.register(app, as: hub.users[1])
            _ = try await revoked.push([Mutation(id: 1, leadId: lead, intent: .addNote(id: LeadNote.ID(), body: "one"))])
            _ = try await departing.push((1...2).map { Mutation(id: $0, leadId: lead, intent: .addNote(id: LeadNote.ID(), body: "\($0)")) })
            let devices = try #require((try await app.request(.get, "/v1/devices", token: hub.admin.token)).json?["items"] as? [[String: Any]])
            let revokedID = try #require(devices.first { $0["user_id"] as? String == hub.users[0].user.id.description }?["id"] as? String)
            #expect(try await app.request(.delete, "/v1/devices/\(revokedID)", token: hub.admin.token).status == .noContent)
            #expect(try await app.request(.delete, "/v1/users/\(hub.users[1].user.id)", token: hub.admin.token).status.code < 300)

            let push = [Mutation(id: 2, leadId: lead, intent: .addNote(id: LeadNote.ID(), body: "too late"))]
            for (device, code, last) in [(revoked, "device_revoked", 1), (departing, "user_deactivated", 2)] {
                for answer in [try await device.pushRaw(push), try await app.request(.get, "/v1/sync/snapshot", token: device.token)] {
                    #expect(answer.status == .unauthorized)
                    let error = try #require(answer.json?["error"] as? [String: Any])
                    #expect(error["code"] as? String == code)
                    #expect(error["last_mutation_id"] as? Int == last)
                    #expect(error["wipe"] as? Bool == true)
                }
            }
            let forged = try await app.request(.get, "/v1/sync/snapshot", token: "hnd_\(hub.tenant.id)_" + String(repeating: "a", count: 43))
            #expect(forged.errorCode == "unauthenticated")
            #expect(try await app.request(.get, "/v1/me", token: hub.users[1].token).errorCode == "user_deactivated")
            #expect(try await Self.noteCount(app, lead: lead, token: hub.users[0].token) == 3)
        }
    }

    @Test("8 acting requires seeing: an advisor's queued mutations on a lead taken from them are rejected not_visible and the lead is dropped")
    func notVisible() async throws {
        try await withTestApplication { app in
            let hub = try await app.fixtures.tenant(.hub, users: [[.moderator], [.advisor], [.advisor]])
            let (moderator, advisor, other) = (hub.users[0], hub.users[1], hub.users[2])
            let lead = try await app.createLead(token: moderator.token)
            _ = try await app.request(.post, "/v1/leads/\(lead)/actions/accept", token: moderator.token, json: "{}")
            _ = try await app.request(
                .post, "/v1/leads/\(lead)/actions/refer_internal", token: moderator.token, json: #"{"advisor_id":"\#(advisor.user.id)"}"#)
            // In view: the advisor reads it and writes to it over HTTP.
            #expect(try await app.request(.get, "/v1/leads/\(lead)", token: advisor.token).status == .ok)
            #expect(try await app.request(.post, "/v1/leads/\(lead)/notes", token: advisor.token, json: #"{"body":"hi"}"#).status == .created)
            #expect(try await app.request(.get, "/v1/leads/\(lead)", token: other.token).status == .notFound)
            #expect(try await app.request(.post, "/v1/leads/\(lead)/notes", token: other.token, json: #"{"body":"no"}"#).status == .notFound)
            let device = try await SyncTestDevice.register(app, as: advisor)
            let start = try await device.snapshot()
            #expect(start.changes.ids(.lead) == [lead.rawValue])
            // While the advisor is offline the lead goes to the other advisor.
            _ = try await app.request(
                .post, "/v1/leads/\(lead)/actions/refer_internal", token: moderator.token, json: #"{"advisor_id":"\#(other.user.id)"}"#)
            let queued = try await device.push([
                Mutation(id: 1, leadId: lead, intent: .addNote(id: LeadNote.ID(), body: "queued offline")),
                Mutation(id: 2, leadId: lead, intent: .act(LeadAction("contact"))),
                Mutation(id: 3, leadId: lead, intent: .update(LeadUpdate(changes: [.init(field: .city, from: "Oakland", to: "Here")]))),
            ])
            #expect(queued.results.map(\.code) == ["not_visible", "not_visible", "not_visible"])
            let pulled = try await device.pullAll(start.cursor)
            #expect(pulled.changes.ids(.lead, .drop) == [lead.rawValue])
            #expect(try await Self.noteCount(app, lead: lead, token: moderator.token) == 1)
            #expect(try await app.request(.get, "/v1/leads/\(lead)", token: advisor.token).status == .notFound)
            let listed = try await app.request(.get, "/v1/leads", token: advisor.token)
            #expect((listed.json?["items"] as? [Any])?.count == 0)
        }
    }
}
