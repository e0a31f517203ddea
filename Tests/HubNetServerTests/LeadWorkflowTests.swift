import Foundation
import HTTPTypes
import HubNetCore
import HubNetPostgres
import HubNetTestSupport
import HummingbirdTesting
import Logging
import PostgresNIO
import Testing

/// The seed workflows through the HTTP API against PostgreSQL.
@Suite("Lead workflows over HTTP")
struct LeadWorkflowTests {
    static let leadBody = #"{"contact":{"name":"Rosa Diaz","email":"rosa@bakery.test","city":"Oakland"},"request":"Need a loan plan"}"#

    func createLead(_ app: TestApplication, token: String, body: String = Self.leadBody) async throws -> String {
        let response = try await app.request(.post, "/v1/leads", token: token, json: body)
        #expect(response.status == .created, "\(response.text)")
        return try #require(response.json?["id"] as? String)
    }

    func buttons(_ response: TestResponse) -> [String] {
        (response.json?["available_actions"] as? [[String: Any]] ?? []).compactMap { $0["key"] as? String }
    }

    func historyCount(_ app: TestApplication, _ id: String, token: String) async throws -> Int {
        (try await app.request(.get, "/v1/leads/\(id)/history", token: token).json?["items"] as? [Any])?.count ?? -1
    }

    @Test("000: a hub's new lead shows four buttons; after decline none remain")
    func hubDecline() async throws {
        try await withTestApplication { app in
            let hub = try await app.fixtures.tenant(.hub, users: [[.moderator]])
            let moderator = hub.users[0].token
            let id = try await createLead(app, token: moderator)
            let lead = try await app.request(.get, "/v1/leads/\(id)", token: moderator)
            #expect(lead.json?["template"] as? String == "hub_moderation")
            #expect(lead.json?["badges"] as? [String] == ["new"])
            #expect(buttons(lead) == ["accept", "decline", "refer_external", "contact"])
            let declined = try await app.request(.post, "/v1/leads/\(id)/actions/decline", token: moderator, json: "{}")
            #expect(declined.json?["status"] as? String == "declined")
            #expect(buttons(declined).isEmpty)
            #expect(declined.json?["badges"] as? [String] == [])
            #expect(declined.json?["in_crm"] as? Bool == false)
            let again = try await app.request(.post, "/v1/leads/\(id)/actions/accept", token: moderator, json: "{}")
            #expect(again.status == .conflict)
            #expect(again.errorCode == "action_not_available")
        }
    }

    @Test("000: an accepted lead joins the hub CRM, leaves the lead table, and may only be referred internally or contacted")
    func hubAccept() async throws {
        try await withTestApplication { app in
            let hub = try await app.fixtures.tenant(.hub, users: [[.moderator], [.advisor]])
            let moderator = hub.users[0].token
            let id = try await createLead(app, token: moderator)
            let accepted = try await app.request(.post, "/v1/leads/\(id)/actions/accept", token: moderator, json: "{}")
            #expect(accepted.json?["in_crm"] as? Bool == true)
            #expect(accepted.json?["in_lead_table"] as? Bool == false)
            #expect(accepted.json?["accepted_at"] != nil)
            #expect(buttons(accepted) == ["refer_internal", "contact"])
            let noTarget = try await app.request(.post, "/v1/leads/\(id)/actions/refer_internal", token: moderator, json: "{}")
            #expect(noTarget.errorCode == "referral_target_required")
            let referred = try await app.request(
                .post, "/v1/leads/\(id)/actions/refer_internal", token: moderator,
                json: #"{"advisor_id":"\#(hub.users[1].user.id)"}"#)
            #expect(referred.json?["status"] as? String == "accepted")
            let notAdvisor = try await app.request(
                .post, "/v1/leads/\(id)/actions/refer_internal", token: moderator,
                json: #"{"advisor_id":"\#(hub.users[0].user.id)"}"#)
            #expect(notAdvisor.errorCode == "validation_failed")
        }
    }

    @Test("001: declining needs a reason; a refused action changes nothing; a decline records its date and archives")
    func partnerDecline() async throws {
        try await withTestApplication { app in
            let partner = try await app.fixtures.tenant(.partnerCompany, users: [[.partnerUser]])
            let user = partner.users[0].token
            let id = try await createLead(app, token: user)
            let before = try await app.request(.get, "/v1/leads/\(id)", token: user)
            #expect(before.json?["template"] as? String == "partner_lead")
            #expect(before.json?["expires_at"] != nil)
            let refused = try await app.request(.post, "/v1/leads/\(id)/actions/decline", token: user, json: "{}")
            #expect(refused.status == .unprocessableContent)
            #expect(refused.errorCode == "reason_required")
            let unchanged = try await app.request(.get, "/v1/leads/\(id)", token: user)
            #expect(unchanged.json?["version"] as? Int == before.json?["version"] as? Int)
            #expect(try await historyCount(app, id, token: user) == 1)

            let declined = try await app.request(.post, "/v1/leads/\(id)/actions/decline", token: user, json: #"{"reason":"outside our area"}"#)
            #expect(declined.json?["status"] as? String == "declined")
            #expect(declined.json?["declined_at"] != nil)
            #expect(declined.json?["archived"] as? Bool == true)
            // Archived leads leave the default list.
            let list = try await app.request(.get, "/v1/leads", token: user)
            #expect((list.json?["items"] as? [Any])?.isEmpty == true)
            let all = try await app.request(.get, "/v1/leads?include_archived=true", token: user)
            #expect((all.json?["items"] as? [Any])?.count == 1)
            let history = try await app.request(.get, "/v1/leads/\(id)/history", token: user)
            let last = try #require((history.json?["items"] as? [[String: Any]])?.last)
            #expect(last["reason"] as? String == "outside our area")
            #expect(last["from_status"] as? String == "pending")
            #expect(last["to_status"] as? String == "declined")
        }
    }

    @Test("001: converting needs an opportunity, created with the action or linked")
    func partnerConvert() async throws {
        try await withTestApplication { app in
            let partner = try await app.fixtures.tenant(.partnerCompany, users: [[.partnerUser]])
            let user = partner.users[0].token
            let id = try await createLead(app, token: user)
            #expect(try await app.request(.post, "/v1/leads/\(id)/actions/convert", token: user, json: #"{"create_opportunity":true}"#).errorCode == "action_not_available")
            _ = try await app.request(.post, "/v1/leads/\(id)/actions/accept", token: user, json: "{}")
            #expect(try await app.request(.post, "/v1/leads/\(id)/actions/convert", token: user, json: "{}").errorCode == "opportunity_required")
            let converted = try await app.request(.post, "/v1/leads/\(id)/actions/convert", token: user, json: #"{"create_opportunity":true}"#)
            #expect(converted.json?["status"] as? String == "closed_converted")
            #expect(converted.json?["opportunity_linked"] as? Bool == true)
            #expect(converted.json?["completed_at"] != nil)
        }
    }

    @Test("003: open activities block completion; only Pending leads can be deleted")
    func lifeCycleActivities() async throws {
        try await withTestApplication { app in
            let company = try await app.fixtures.tenant(.partnerCompany, users: [[.partnerUser]])
            let user = company.users[0].token
            let id = try await createLead(
                app, token: user,
                body: #"{"template":"life_cycle","contact":{"name":"Kim","phone":"+1 415 555 0199"}}"#)
            _ = try await app.request(.post, "/v1/leads/\(id)/actions/start_progress", token: user, json: "{}")
            #expect(try await app.request(.delete, "/v1/leads/\(id)", token: user).errorCode == "lead_not_deletable")
            let activity = try await app.request(.post, "/v1/leads/\(id)/activities", token: user, json: #"{"kind":"meeting","title":"Demo"}"#)
            let activityID = try #require(activity.json?["id"] as? String)
            let blocked = try await app.request(.post, "/v1/leads/\(id)/actions/win", token: user, json: "{}")
            #expect(blocked.status == .conflict)
            #expect(blocked.errorCode == "activities_open")
            #expect(try await app.request(.post, "/v1/leads/\(id)/activities/\(activityID)/complete", token: user).json?["state"] as? String == "completed")
            #expect(try await app.request(.post, "/v1/leads/\(id)/activities/\(activityID)/cancel", token: user).errorCode == "activity_closed")
            let won = try await app.request(.post, "/v1/leads/\(id)/actions/win", token: user, json: "{}")
            #expect(won.json?["status"] as? String == "won")
            #expect(won.json?["completed_at"] != nil)

            let pending = try await createLead(app, token: user, body: #"{"template":"life_cycle","contact":{"name":"Lee","email":"lee@x.test"}}"#)
            #expect(try await app.request(.delete, "/v1/leads/\(pending)", token: user).status == .noContent)
            #expect(try await app.request(.get, "/v1/leads/\(pending)", token: user).status == .notFound)
        }
    }

    @Test("003: the overdue retrieval lists open leads expected to complete by a date")
    func overdueRetrieval() async throws {
        try await withTestApplication { app in
            let company = try await app.fixtures.tenant(.partnerCompany, users: [[.partnerUser]])
            let user = company.users[0].token
            _ = try await createLead(app, token: user, body: #"{"template":"life_cycle","contact":{"name":"Due","email":"a@x.test"},"expected_completion_at":"2030-01-10T00:00:00Z"}"#)
            _ = try await createLead(app, token: user, body: #"{"template":"life_cycle","contact":{"name":"Later","email":"b@x.test"},"expected_completion_at":"2030-02-10T00:00:00Z"}"#)
            let overdue = try await app.request(.get, "/v1/leads?overdue_as_of=2030-01-15T00:00:00Z", token: user)
            #expect((overdue.json?["items"] as? [[String: Any]])?.compactMap { ($0["contact"] as? [String: Any])?["name"] as? String } == ["Due"])
            #expect(try await app.request(.get, "/v1/leads?overdue_as_of=yesterday", token: user).errorCode == "validation_failed")
        }
    }

    @Test("004: a lead shows its five-day target and thirty-day maximum")
    func statusPathTargets() async throws {
        try await withTestApplication { app in
            let company = try await app.fixtures.tenant(.sourcingCompany, users: [[.partnerUser]])
            let lead = try await app.request(.post, "/v1/leads", token: company.users[0].token, json: Self.leadBody)
            #expect(lead.json?["template"] as? String == "status_path")
            let created = try #require((lead.json?["created_at"] as? String).flatMap { ISO8601DateFormatter().date(from: $0) })
            let target = try #require((lead.json?["target_close_at"] as? String).flatMap { ISO8601DateFormatter().date(from: $0) })
            let maximum = try #require((lead.json?["maximum_open_at"] as? String).flatMap { ISO8601DateFormatter().date(from: $0) })
            #expect(abs(target.timeIntervalSince(created) - 5 * 86_400) < 1)
            #expect(abs(maximum.timeIntervalSince(created) - 30 * 86_400) < 1)
        }
    }

    @Test("002: stages are renamed and reordered through the API, and moving follows the new order")
    func stagedPipelineEditing() async throws {
        try await withTestApplication { app in
            let company = try await app.fixtures.tenant(.partnerCompany, users: [[.partnerUser]])
            let admin = company.admin.token
            var template = BuiltInTemplates.stagedPipeline
            template.stages = template.stages.map { stage in
                var stage = stage
                switch stage.key {
                case "legal": stage.order = 2; stage.name = "Compliance"
                case "negotiation": stage.order = 3
                default: break
                }
                return stage
            }
            let encoder = JSONEncoder()
            encoder.keyEncodingStrategy = .convertToSnakeCase
            let saved = try await app.request(.put, "/v1/workflow-templates/staged_pipeline", token: admin, json: String(decoding: try encoder.encode(template), as: UTF8.self))
            #expect(saved.status == .ok, "\(saved.text)")
            #expect(try await app.request(.put, "/v1/workflow-templates/staged_pipeline", token: company.users[0].token, json: saved.text).status == .forbidden)
            let id = try await createLead(app, token: company.users[0].token, body: #"{"template":"staged_pipeline","contact":{"name":"S","email":"s@x.test"}}"#)
            let moved = try await app.request(.post, "/v1/leads/\(id)/actions/move_to_next_stage", token: company.users[0].token, json: "{}")
            #expect(moved.json?["stage"] as? String == "legal")
            let back = try await app.request(.post, "/v1/leads/\(id)/actions/move_to_previous_stage", token: company.users[0].token, json: "{}")
            #expect(back.json?["stage"] as? String == "added")
            // An inconsistent template is refused with the reason.
            var broken = template
            broken.initialStatus = "nowhere"
            let refused = try await app.request(.put, "/v1/workflow-templates/staged_pipeline", token: admin, json: String(decoding: try encoder.encode(broken), as: UTF8.self))
            #expect((refused.json?["error"] as? [String: Any])?["field"] as? String == "initial_status")
        }
    }

    @Test("two moderators acting on one lead at the same moment leave exactly one outcome and one history entry")
    func concurrentActions() async throws {
        try await withTestApplication { app in
            let hub = try await app.fixtures.tenant(.hub, users: [[.moderator], [.moderator]])
            let id = try await createLead(app, token: hub.users[0].token)
            let statuses = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                for user in hub.users {
                    group.addTask { try await app.request(.post, "/v1/leads/\(id)/actions/accept", token: user.token, json: "{}").status }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(statuses.sorted { $0.code < $1.code } == [.ok, .conflict])
            let history = try await app.request(.get, "/v1/leads/\(id)/history", token: hub.users[0].token)
            #expect((history.json?["items"] as? [[String: Any]])?.filter { $0["action"] as? String == "accept" }.count == 1)
        }
    }

    @Test("the history is hash-chained, and an edit of a past entry is detected")
    func historyChain() async throws {
        try await withTestApplication { app in
            let hub = try await app.fixtures.tenant(.hub, users: [[.moderator]])
            let moderator = hub.users[0].token
            let id = try await createLead(app, token: moderator)
            _ = try await app.request(.post, "/v1/leads/\(id)/actions/contact", token: moderator, json: "{}")
            _ = try await app.request(.post, "/v1/leads/\(id)/actions/accept", token: moderator, json: "{}")
            let intact = try await app.request(.get, "/v1/leads/\(id)/history/verification", token: moderator)
            #expect(intact.json?["intact"] as? Bool == true)
            #expect(intact.json?["entries"] as? Int == 3)
            // Someone with the owner's access rewrites the past; the server's own role cannot.
            let logger = Logger(label: "test")
            try await withPostgresClient(app.database.serverURL, logger: logger) { client in
                await #expect(throws: (any Error).self) {
                    try await Database(client: client, logger: logger).withTenant(hub.tenant.id) { transaction in
                        try await transaction.connection.query("UPDATE lead_history SET reason = 'x'", logger: logger)
                    }
                }
            }
            try await withPostgresClient(app.database.ownerURL, logger: logger) { client in
                try await client.query("UPDATE lead_history SET to_status = 'declined' WHERE seq = 2", logger: logger)
            }
            let broken = try await app.request(.get, "/v1/leads/\(id)/history/verification", token: moderator)
            #expect(broken.json?["intact"] as? Bool == false)
            #expect(broken.json?["first_broken_seq"] as? Int == 2)
        }
    }

    @Test("leads are isolated by tenant, notes are shared and append-only, viewers cannot act")
    func isolationNotesViewers() async throws {
        try await withTestApplication { app in
            let hub = try await app.fixtures.tenant(.hub, users: [[.moderator], [.viewer]])
            let other = try await app.fixtures.tenant(.hub)
            let id = try await createLead(app, token: hub.users[0].token)
            #expect(try await app.request(.get, "/v1/leads/\(id)", token: other.admin.token).status == .notFound)
            #expect(try await app.request(.post, "/v1/leads/\(id)/actions/accept", token: other.admin.token, json: "{}").status == .notFound)
            #expect(try await app.request(.post, "/v1/leads/\(id)/notes", token: other.admin.token, json: #"{"body":"x"}"#).status == .notFound)
            let note = try await app.request(.post, "/v1/leads/\(id)/notes", token: hub.users[0].token, json: #"{"body":"Called, no answer"}"#)
            #expect(note.json?["author_id"] as? String == hub.users[0].user.id.description)
            let notes = try await app.request(.get, "/v1/leads/\(id)/notes", token: hub.users[1].token)
            #expect((notes.json?["items"] as? [[String: Any]])?.first?["body"] as? String == "Called, no answer")
            let viewer = try await app.request(.get, "/v1/leads/\(id)", token: hub.users[1].token)
            #expect(buttons(viewer).isEmpty)
            #expect(try await app.request(.post, "/v1/leads/\(id)/actions/accept", token: hub.users[1].token, json: "{}").status == .forbidden)
        }
    }

    @Test("a lead needs a name and a way to reach them")
    func leadValidation() async throws {
        try await withTestApplication { app in
            let hub = try await app.fixtures.tenant(.hub, users: [[.moderator]])
            let noReach = try await app.request(.post, "/v1/leads", token: hub.users[0].token, json: #"{"contact":{"name":"X"}}"#)
            #expect((noReach.json?["error"] as? [String: Any])?["field"] as? String == "email")
            let badProbability = try await app.request(.post, "/v1/leads", token: hub.users[0].token, json: #"{"contact":{"name":"X","email":"x@y.co"},"probability":140}"#)
            #expect((badProbability.json?["error"] as? [String: Any])?["field"] as? String == "probability")
            let badTemplate = try await app.request(.post, "/v1/leads", token: hub.users[0].token, json: #"{"template":"nope","contact":{"name":"X","email":"x@y.co"}}"#)
            #expect((badTemplate.json?["error"] as? [String: Any])?["field"] as? String == "template")
        }
    }
}

@Suite("Hub CRM, opportunities and reports")
struct CRMAndReportTests {
    let body = #"{"contact":{"name":"Ana Ruiz","email":"ana@shop.test","city":"Fresno"}}"#

    @Test("000: an accepted lead is added to the hub CRM with its name, email and city, and gets advising sessions")
    func acceptedLeadBecomesClient() async throws {
        try await withTestApplication { app in
            let hub = try await app.fixtures.tenant(.hub, users: [[.moderator], [.advisor]])
            let lead = try await app.request(.post, "/v1/leads", token: hub.users[0].token, json: body)
            let id = try #require(lead.json?["id"] as? String)
            #expect(((try await app.request(.get, "/v1/clients", token: hub.admin.token)).json?["items"] as? [Any])?.isEmpty == true)
            _ = try await app.request(.post, "/v1/leads/\(id)/actions/accept", token: hub.users[0].token, json: "{}")
            let clients = try #require((try await app.request(.get, "/v1/clients", token: hub.admin.token)).json?["items"] as? [[String: Any]])
            #expect(clients.count == 1)
            #expect(clients.first?["name"] as? String == "Ana Ruiz")
            #expect(clients.first?["email"] as? String == "ana@shop.test")
            #expect(clients.first?["city"] as? String == "Fresno")
            let clientID = try #require(clients.first?["id"] as? String)
            let session = try await app.request(
                .post, "/v1/clients/\(clientID)/sessions", token: hub.users[1].token,
                json: #"{"held_at":"2026-11-20T10:00:00Z","duration_minutes":45,"summary":"Cash-flow plan"}"#)
            #expect(session.status == .created)
            #expect(session.json?["advisor_id"] as? String == hub.users[1].user.id.description)
            let sessions = try await app.request(.get, "/v1/clients/\(clientID)/sessions", token: hub.admin.token)
            #expect((sessions.json?["items"] as? [Any])?.count == 1)
            #expect(try await app.request(.post, "/v1/clients/\(clientID)/sessions", token: hub.users[1].token, json: #"{"held_at":"2026-11-20T10:00:00Z","duration_minutes":0}"#).errorCode == "validation_failed")
        }
    }

    @Test("001: converting links the opportunity, which then moves through its stages to a final Won, Lost or Discontinued")
    func opportunities() async throws {
        try await withTestApplication { app in
            let partner = try await app.fixtures.tenant(.partnerCompany, users: [[.partnerUser]])
            let token = partner.users[0].token
            let lead = try #require((try await app.request(.post, "/v1/leads", token: token, json: body)).json?["id"] as? String)
            _ = try await app.request(.post, "/v1/leads/\(lead)/actions/accept", token: token, json: "{}")
            let created = try await app.request(.post, "/v1/opportunities", token: token, json: #"{"name":"Ana's shop fit-out","amount":12000}"#)
            let opportunity = try #require(created.json?["id"] as? String)
            let converted = try await app.request(.post, "/v1/leads/\(lead)/actions/convert", token: token, json: #"{"opportunity_id":"\#(opportunity)"}"#)
            #expect(converted.json?["status"] as? String == "closed_converted")
            #expect((try await app.request(.get, "/v1/opportunities/\(opportunity)", token: token)).json?["lead_id"] as? String == lead)
            #expect((try await app.request(.patch, "/v1/opportunities/\(opportunity)", token: token, json: #"{"stage":"proposal"}"#)).json?["stage"] as? String == "proposal")
            let won = try await app.request(.patch, "/v1/opportunities/\(opportunity)", token: token, json: #"{"stage":"won"}"#)
            #expect(won.json?["closed"] as? Bool == true)
            #expect(try await app.request(.patch, "/v1/opportunities/\(opportunity)", token: token, json: #"{"stage":"lost"}"#).errorCode == "opportunity_closed")
            #expect(try await app.request(.patch, "/v1/opportunities/\(opportunity)", token: token, json: #"{"stage":"maybe"}"#).errorCode == "validation_failed")
        }
    }

    @Test("the funnel counts leads per status and stage, with the conversion between stages")
    func funnel() async throws {
        try await withTestApplication { app in
            let company = try await app.fixtures.tenant(.partnerCompany, users: [[.partnerUser]])
            let token = company.users[0].token
            var ids: [String] = []
            for index in 0..<4 {
                let response = try await app.request(
                    .post, "/v1/leads", token: token,
                    json: #"{"template":"staged_pipeline","contact":{"name":"L\#(index)","email":"l\#(index)@x.test"}}"#)
                ids.append(try #require(response.json?["id"] as? String))
            }
            for id in ids.prefix(2) { _ = try await app.request(.post, "/v1/leads/\(id)/actions/move_to_next_stage", token: token, json: "{}") }
            _ = try await app.request(.post, "/v1/leads/\(ids[0])/actions/move_to_next_stage", token: token, json: "{}")
            // A lead that went forward and came back still reached the later stage.
            _ = try await app.request(.post, "/v1/leads/\(ids[1])/actions/move_to_previous_stage", token: token, json: "{}")
            let funnel = try await app.request(.get, "/v1/reports/funnel?template=staged_pipeline", token: token)
            let stages = try #require(funnel.json?["stages"] as? [[String: Any]])
            #expect(stages.map { $0["key"] as? String } == ["added", "negotiation", "legal", "execution"])
            #expect(stages.map { $0["current"] as? Int } == [3, 0, 1, 0])
            #expect(stages.map { $0["reached"] as? Int } == [4, 2, 1, 0])
            #expect(stages[1]["conversion_from_previous"] as? Double == 0.5)
            #expect(funnel.json?["total"] as? Int == 4)
        }
    }

    @Test("the overdue report lists open leads past their expected completion as of a date")
    func overdueReport() async throws {
        try await withTestApplication { app in
            let company = try await app.fixtures.tenant(.partnerCompany, users: [[.partnerUser]])
            let token = company.users[0].token
            _ = try await app.request(.post, "/v1/leads", token: token, json: #"{"template":"life_cycle","contact":{"name":"Late","email":"a@x.test"},"expected_completion_at":"2030-01-01T00:00:00Z"}"#)
            _ = try await app.request(.post, "/v1/leads", token: token, json: #"{"template":"life_cycle","contact":{"name":"Fine","email":"b@x.test"},"expected_completion_at":"2030-03-01T00:00:00Z"}"#)
            let report = try await app.request(.get, "/v1/reports/overdue?as_of=2030-01-02T00:00:00Z", token: token)
            #expect(report.json?["total"] as? Int == 1)
            let item = try #require((report.json?["items"] as? [[String: Any]])?.first)
            #expect(item["name"] as? String == "Late")
            #expect(item["seconds_overdue"] as? Int == 86_400)
        }
    }

    @Test("the overdue report shows an advisor only the leads they work, as the lead list does")
    func overdueReportVisibility() async throws {
        try await withTestApplication { app in
            let hub = try await app.fixtures.tenant(.hub, users: [[.moderator], [.advisor]])
            let (moderator, advisor) = (hub.users[0].token, hub.users[1].token)
            for (token, name) in [(moderator, "Moderator's"), (advisor, "Advisor's")] {
                _ = try await app.request(
                    .post, "/v1/leads", token: token,
                    json: #"{"contact":{"name":"\#(name)","email":"a@x.test"},"expected_completion_at":"2030-01-01T00:00:00Z"}"#)
            }
            func names(_ token: String) async throws -> [String] {
                let report = try await app.request(.get, "/v1/reports/overdue?as_of=2030-01-02T00:00:00Z", token: token)
                #expect(report.json?["total"] as? Int == (report.json?["items"] as? [[String: Any]])?.count)
                return ((report.json?["items"] as? [[String: Any]]) ?? []).compactMap { $0["name"] as? String }.sorted()
            }
            #expect(try await names(moderator) == ["Advisor's", "Moderator's"])
            #expect(try await names(advisor) == ["Advisor's"])
            let listed = try await app.request(.get, "/v1/leads", token: advisor)
            #expect(((listed.json?["items"] as? [[String: Any]]) ?? []).count == 1, "the same leads as the advisor's lead list")
        }
    }
}

@Suite("Message templates over HTTP")
struct MessageTemplateHTTPTests {
    @Test("a template with an unknown tag is refused; a valid one renders for a lead")
    func saveAndPreview() async throws {
        try await withTestApplication { app in
            let hub = try await app.fixtures.tenant(.hub, name: "Bay Hub", users: [[.moderator]])
            let refused = try await app.request(
                .post, "/v1/message-templates", token: hub.admin.token,
                json: #"{"name":"Accepted","channel":"email","subject":"Hi","body":"Dear #lead.nom"}"#)
            #expect(refused.status == .unprocessableContent)
            #expect((refused.json?["error"] as? [String: Any])?["field"] as? String == "body")
            let created = try await app.request(
                .post, "/v1/message-templates", token: hub.admin.token,
                json: ##"{"name":"Accepted","channel":"email","subject":"#lead.name is #lead.status","body":"#hub.name will call you in #lead.city."}"##)
            let id = try #require(created.json?["id"] as? String)
            #expect(try await app.request(.post, "/v1/message-templates", token: hub.users[0].token, json: #"{"name":"x","channel":"webhook","body":"b"}"#).status == .forbidden)
            let lead = try await app.request(
                .post, "/v1/leads", token: hub.users[0].token, json: #"{"contact":{"name":"Rosa","email":"r@x.test","city":"Oakland"}}"#)
            let leadID = try #require(lead.json?["id"] as? String)
            let preview = try await app.request(.post, "/v1/message-templates/\(id)/preview", token: hub.users[0].token, json: #"{"lead_id":"\#(leadID)"}"#)
            #expect(preview.json?["subject"] as? String == "Rosa is New")
            #expect(preview.json?["body"] as? String == "Bay Hub will call you in Oakland.")
        }
    }
}

@Suite("Public lead form")
struct LeadFormTests {
    @Test("a lead form submission lands in the listing's hub as a New lead from the form, without a login")
    func submission() async throws {
        try await withTestApplication { app in
            let hub = try await app.fixtures.tenant(.hub, users: [[.moderator]], listings: [ListingDraft(name: "Advising", serviceAreas: ["Fresno"])])
            let listing = hub.listings[0].id
            let response = try await app.request(
                .post, "/v1/public/listings/\(listing)/leads",
                json: #"{"name":"Omar","email":"omar@farm.test","city":"Fresno","request":"Expansion loan","website":""}"#)
            #expect(response.status == .accepted)
            let leads = try #require((try await app.request(.get, "/v1/leads", token: hub.users[0].token)).json?["items"] as? [[String: Any]])
            #expect(leads.count == 1)
            #expect(leads.first?["source"] as? String == "lead_form")
            #expect(leads.first?["status"] as? String == "new")
            #expect(leads.first?["listing_id"] as? String == listing.description)
            let invalid = try await app.request(.post, "/v1/public/listings/\(listing)/leads", json: #"{"name":"No contact"}"#)
            #expect(invalid.errorCode == "validation_failed")
        }
    }

    @Test("a filled honeypot is answered like a person but stores nothing")
    func honeypot() async throws {
        try await withTestApplication { app in
            let hub = try await app.fixtures.tenant(.hub, listings: [ListingDraft(name: "Advising", serviceAreas: ["Fresno"])])
            let response = try await app.request(
                .post, "/v1/public/listings/\(hub.listings[0].id)/leads",
                json: #"{"name":"Bot","email":"bot@spam.test","website":"http://spam.test"}"#)
            #expect(response.status == .accepted)
            #expect(((try await app.request(.get, "/v1/leads", token: hub.admin.token)).json?["items"] as? [Any])?.isEmpty == true)
        }
    }

    @Test("an unpublished or unknown listing has no form")
    func unpublished() async throws {
        try await withTestApplication { app in
            let hub = try await app.fixtures.tenant(.hub, listings: [ListingDraft(name: "Hidden", serviceAreas: ["X"], published: false)])
            #expect(try await app.request(.post, "/v1/public/listings/\(hub.listings[0].id)/leads", json: #"{"name":"A","email":"a@b.co"}"#).status == .notFound)
            #expect(try await app.request(.post, "/v1/public/listings/\(UUID())/leads", json: #"{"name":"A","email":"a@b.co"}"#).status == .notFound)
        }
    }

    @Test("submissions are rate-limited per client address")
    func rateLimit() async throws {
        try await withTestApplication(configure: { $0.leadFormSubmissionsPerMinute = 3; $0.trustForwardedFor = true }) { app in
            let hub = try await app.fixtures.tenant(.hub, listings: [ListingDraft(name: "Advising", serviceAreas: ["X"])])
            let path = "/v1/public/listings/\(hub.listings[0].id)/leads"
            var first = HTTPFields()
            first[HTTPField.Name("X-Forwarded-For")!] = "198.51.100.7"
            var second = HTTPFields()
            second[HTTPField.Name("X-Forwarded-For")!] = "198.51.100.8"
            var statuses: [HTTPResponse.Status] = []
            for index in 0..<4 {
                statuses.append(try await app.request(.post, path, json: #"{"name":"P\#(index)","email":"p\#(index)@x.test"}"#, headers: first).status)
            }
            #expect(statuses == [.accepted, .accepted, .accepted, .tooManyRequests])
            let limited = try await app.request(.post, path, json: #"{"name":"P","email":"p@x.test"}"#, headers: first)
            #expect(limited.errorCode == "rate_limited")
            #expect(limited.headers[.retryAfter] != nil)
            #expect(try await app.request(.post, path, json: #"{"name":"Q","email":"q@x.test"}"#, headers: second).status == .accepted)
            #expect(((try await app.request(.get, "/v1/leads", token: hub.admin.token)).json?["items"] as? [Any])?.count == 4)
        }
    }
}

@Suite("Lead CSV import")
struct LeadImportTests {
    var csvHeaders: HTTPFields {
        var headers = HTTPFields()
        headers[.contentType] = "text/csv"
        return headers
    }

    @Test("a dry run checks every row and stores nothing; a real import stores every row")
    func importRows() async throws {
        try await withTestApplication { app in
            let hub = try await app.fixtures.tenant(.hub, users: [[.moderator]])
            let csv = """
                Name,Email,City,Probability,Target Amount
                Rosa Diaz,rosa@x.test,Oakland,40,1500.50
                "Lee, Kim",lee@x.test,"San Jose",,
                """
            let dry = try await app.request(.post, "/v1/leads/import?dry_run=true", token: hub.users[0].token, json: csv, headers: csvHeaders)
            #expect(dry.status == .created)
            #expect(dry.json?["imported"] as? Int == 2)
            #expect(((try await app.request(.get, "/v1/leads", token: hub.users[0].token)).json?["items"] as? [Any])?.isEmpty == true)
            let real = try await app.request(.post, "/v1/leads/import", token: hub.users[0].token, json: csv, headers: csvHeaders)
            #expect(real.json?["imported"] as? Int == 2)
            let leads = try #require((try await app.request(.get, "/v1/leads", token: hub.users[0].token)).json?["items"] as? [[String: Any]])
            // One import is one instant: its leads share a creation time.
            #expect(Set(leads.compactMap { ($0["contact"] as? [String: Any])?["name"] as? String }) == ["Rosa Diaz", "Lee, Kim"])
            #expect(leads.allSatisfy { $0["source"] as? String == "import" })
            let rosa = try #require(leads.first { ($0["contact"] as? [String: Any])?["name"] as? String == "Rosa Diaz" })
            #expect(rosa["probability"] as? Int == 40)
            #expect(rosa["target_amount"] as? Double == 1500.5)
        }
    }

    @Test("an import is written set-based: as many statements for 40 rows as for 4; each lead is stored as one created alone, with one verified create entry")
    func setBased() async throws {
        try await withTestApplication { app in
            let hub = try await app.fixtures.tenant(.hub, users: [[.moderator]])
            let token = hub.users[0].token
            func csv(_ count: Int, tag: String) -> String {
                "name,email,phone,city,region,probability,target_amount,expected_completion_at\n"
                    + (0..<count).map {
                        "Person \(tag)\($0),p\(tag)\($0)@x.test,+1555010\($0 + 10),Oakland,Bay \($0),\($0),\($0).25,2027-01-0\($0 % 9 + 1)T10:00:00Z"
                    }.joined(separator: "\n")
            }
            let small = try await app.request(.post, "/v1/leads/import", token: token, json: csv(4, tag: "a"), headers: csvHeaders)
            let large = try await app.request(.post, "/v1/leads/import", token: token, json: csv(40, tag: "b"), headers: csvHeaders)
            #expect(small.status == .created && large.status == .created, "\(small.text) \(large.text)")
            #expect(large.json?["imported"] as? Int == 40)
            #expect(try SyncBatchTests.statements(small) == SyncBatchTests.statements(large))
            let leads = try #require(
                (try await app.request(.get, "/v1/leads?limit=100", token: token)).json?["items"] as? [[String: Any]])
            #expect(leads.count == 44)
            for lead in leads {
                let id = try #require(lead["id"] as? String)
                let verified = try await app.request(.get, "/v1/leads/\(id)/history/verification", token: token).json
                #expect(verified?["intact"] as? Bool == true && verified?["entries"] as? Int == 1, "\(id): \(String(describing: verified))")
                let history = try #require(
                    (try await app.request(.get, "/v1/leads/\(id)/history", token: token)).json?["items"] as? [[String: Any]])
                #expect(history.first?["action"] as? String == "create" && history.first?["actor_user_id"] as? String == hub.users[0].user.id.description)
            }
            // The same row created alone, through the API: stored alike but for its source.
            let imported = try #require(leads.first { ($0["contact"] as? [String: Any])?["name"] as? String == "Person b7" })
            let alone = try await app.request(
                .post, "/v1/leads", token: token,
                json: #"{"contact":{"name":"Person b7","email":"pb7@x.test","phone":"+155501017","city":"Oakland","region":"Bay 7"},"probability":7,"target_amount":7.25,"expected_completion_at":"2027-01-08T10:00:00Z"}"#)
            #expect(alone.status == .created, "\(alone.text)")
            let aloneID = try #require(alone.json?["id"] as? String, "\(alone.text)")
            let importedID = try #require(imported["id"] as? String)
            let created = try #require((try await app.request(.get, "/v1/leads/\(aloneID)", token: token)).json)
            let stored = try #require((try await app.request(.get, "/v1/leads/\(importedID)", token: token)).json)
            #expect(stored["source"] as? String == "import")
            for key in ["status", "template", "status_name", "life_cycle", "probability", "target_amount", "expected_completion_at", "version", "contact", "products", "competitors", "team", "created_by", "badges", "in_lead_table"] {
                #expect(
                    stored[key] as? NSObject == created[key] as? NSObject && stored[key] != nil,
                    "\(key): imported \(String(describing: stored[key])), alone \(String(describing: created[key]))")
            }
        }
    }

    @Test("a large import is followed by fresh statistics: the planner knows a tenant that grew by one, and not after a small one")
    func statisticsFollowALargeImport() async throws {
        try await withTestApplication { app in
            let logger = Logger(label: "test")
            let threshold = PostgresLeadRepository.statisticsRefreshThreshold
            func csv(_ count: Int, tag: String) -> String {
                "name,email\n" + (0..<count).map { "Person \(tag)\($0),p\(tag)\($0)@x.test" }.joined(separator: "\n")
            }
            func importLeads(_ count: Int, into hub: TenantFixture, tag: String) async throws {
                let response = try await app.request(.post, "/v1/leads/import", token: hub.users[0].token, json: csv(count, tag: tag), headers: csvHeaders)
                #expect(response.json?["imported"] as? Int == count, "\(response.text)")
            }
            /// The planner's estimate of a tenant's leads, as the schema owner sees it.
            func estimate(_ tenant: Tenant.ID) async throws -> Int {
                try await withPostgresClient(app.database.ownerURL, logger: logger) { client in
                    let rows = try await client.query(
                        PostgresQuery(unsafeSQL: "EXPLAIN (FORMAT JSON) SELECT * FROM leads WHERE tenant_id = '\(tenant.rawValue.uuidString)'"),
                        logger: logger)
                    var plan = ""
                    for try await text in rows.decode(String.self) { plan += text }
                    let document = try #require(try JSONSerialization.jsonObject(with: Data(plan.utf8)) as? [[String: Any]])
                    let top = try #require(document.first?["Plan"] as? [String: Any])
                    return try #require(top["Plan Rows"] as? Int)
                }
            }
            let first = try await app.fixtures.tenant(.hub, users: [[.moderator]])
            try await importLeads(300, into: first, tag: "a")
            try await withPostgresClient(app.database.ownerURL, logger: logger) { client in
                try await client.query("ANALYZE leads", logger: logger)
            }
            // Statistics taken before these tenants had leads: each is estimated at one lead.
            let small = try await app.fixtures.tenant(.hub, users: [[.moderator]])
            let large = try await app.fixtures.tenant(.hub, users: [[.moderator]])
            try await importLeads(threshold - 1, into: small, tag: "b")
            #expect(try await estimate(small.tenant.id) < 10, "an import below the threshold leaves the statistics to autovacuum")
            try await importLeads(threshold, into: large, tag: "c")
            // Every row is sampled at this size: the estimates are the counts.
            #expect(try await estimate(large.tenant.id) == threshold)
            #expect(try await estimate(small.tenant.id) == threshold - 1)
            #expect(try await estimate(first.tenant.id) == 300)
        }
    }

    @Test("one bad row stops the whole import, and every row's problems are reported")
    func allOrNothing() async throws {
        try await withTestApplication { app in
            let hub = try await app.fixtures.tenant(.hub, users: [[.moderator]])
            let csv = """
                name,email,probability,expected_completion_at
                Good,good@x.test,10,
                ,nobody@x.test,,
                Bad,not-an-email,200,tomorrow
                """
            let response = try await app.request(.post, "/v1/leads/import", token: hub.users[0].token, json: csv, headers: csvHeaders)
            #expect(response.status == .unprocessableContent)
            #expect(response.errorCode == "import_invalid")
            let details = try #require((response.json?["error"] as? [String: Any])?["details"] as? [[String: Any]])
            #expect(details.compactMap { $0["row"] as? Int } == [3, 4])
            #expect(details.compactMap { $0["field"] as? String } == ["name", "expected_completion_at"])
            #expect(((try await app.request(.get, "/v1/leads", token: hub.users[0].token)).json?["items"] as? [Any])?.isEmpty == true)
            let unknownColumn = try await app.request(.post, "/v1/leads/import", token: hub.users[0].token, json: "nom,email\nA,a@b.co", headers: csvHeaders)
            #expect(((unknownColumn.json?["error"] as? [String: Any])?["details"] as? [[String: Any]])?.first?["field"] as? String == "nom")
            #expect(try await app.request(.post, "/v1/leads/import", token: hub.users[0].token, json: "{}").status == .unsupportedMediaType)
        }
    }
}

@Suite("Lead lists, types and related leads")
struct LeadListTests {
    @Test("003: a lead of a type takes the type's estimated completion, importance and priority")
    func typeDefaults() async throws {
        try await withTestApplication { app in
            let company = try await app.fixtures.tenant(.partnerCompany, users: [[.partnerUser]])
            let saved = try await app.request(
                .put, "/v1/lead-types/demo", token: company.admin.token,
                json: #"{"name":"Demo request","estimated_completion_days":3,"default_importance":"high","default_priority":"urgent"}"#)
            #expect(saved.status == .ok, "\(saved.text)")
            let lead = try await app.request(
                .post, "/v1/leads", token: company.users[0].token,
                json: #"{"template":"life_cycle","type":"demo","contact":{"name":"T","email":"t@x.test"}}"#)
            #expect(lead.json?["importance"] as? String == "high")
            #expect(lead.json?["priority"] as? String == "urgent")
            let created = try #require((lead.json?["created_at"] as? String).flatMap { ISO8601DateFormatter().date(from: $0) })
            let expected = try #require((lead.json?["expected_completion_at"] as? String).flatMap { ISO8601DateFormatter().date(from: $0) })
            #expect(abs(expected.timeIntervalSince(created) - 3 * 86_400) < 1)
            let own = try await app.request(
                .post, "/v1/leads", token: company.users[0].token,
                json: #"{"type":"demo","priority":"low","contact":{"name":"U","email":"u@x.test"}}"#)
            #expect(own.json?["priority"] as? String == "low")
            #expect(try await app.request(.put, "/v1/lead-types/demo", token: company.users[0].token, json: #"{"name":"x"}"#).status == .forbidden)
        }
    }

    @Test("004: related leads are the other leads of the same contact")
    func relatedLeads() async throws {
        try await withTestApplication { app in
            let hub = try await app.fixtures.tenant(.hub, users: [[.moderator]])
            let token = hub.users[0].token
            let first = try #require((try await app.request(.post, "/v1/leads", token: token, json: #"{"contact":{"name":"Rosa","email":"Rosa@X.test"}}"#)).json?["id"] as? String)
            _ = try await app.request(.post, "/v1/leads", token: token, json: #"{"contact":{"name":"Rosa D.","email":"rosa@x.test"}}"#)
            _ = try await app.request(.post, "/v1/leads", token: token, json: #"{"contact":{"name":"Other","email":"other@x.test"}}"#)
            let related = try await app.request(.get, "/v1/leads/\(first)/related", token: token)
            #expect((related.json?["items"] as? [[String: Any]])?.compactMap { ($0["contact"] as? [String: Any])?["name"] as? String } == ["Rosa D."])
        }
    }

    @Test("lists filter by badge, stage and life cycle, and sort newest first")
    func filtersAndSort() async throws {
        try await withTestApplication { app in
            let hub = try await app.fixtures.tenant(.hub, users: [[.moderator]])
            let token = hub.users[0].token
            var ids: [String] = []
            for name in ["A", "B", "C"] {
                ids.append(try #require((try await app.request(.post, "/v1/leads", token: token, json: #"{"contact":{"name":"\#(name)","email":"\#(name)@x.test"}}"#)).json?["id"] as? String))
            }
            _ = try await app.request(.post, "/v1/leads/\(ids[1])/actions/accept", token: token, json: "{}")
            func names(_ query: String) async throws -> [String] {
                let response = try await app.request(.get, "/v1/leads\(query)", token: token)
                #expect(response.status == .ok, "\(query): \(response.text)")
                return (response.json?["items"] as? [[String: Any]] ?? []).compactMap { ($0["contact"] as? [String: Any])?["name"] as? String }
            }
            #expect(try await names("?badge=new") == ["A", "C"])
            #expect(try await names("?life_cycle=in_progress") == ["B"])
            #expect(try await names("?status=new") == ["A", "C"])
            #expect(try await names("?sort=-created_at&limit=2").count == 2)
            let newestFirst = try await names("?sort=-created_at")
            #expect(newestFirst == Array(try await names("").reversed()))
            #expect(try await names("?stage=legal") == [])
            #expect(try await app.request(.get, "/v1/leads?sort=name", token: token).errorCode == "validation_failed")
            #expect(try await app.request(.get, "/v1/leads?badge=shiny", token: token).errorCode == "validation_failed")
        }
    }
}

@Suite("Lead edits and unit assignment")
struct LeadEditTests {
    @Test("003: a lead assigned to a unit is accepted by a member of that unit, who becomes its assignee")
    func unitAssignment() async throws {
        try await withTestApplication { app in
            let company = try await app.fixtures.tenant(.partnerCompany, users: [[.partnerUser], [.partnerUser]])
            let member = company.users[0]
            let outsider = company.users[1]
            let unit = try #require((try await app.request(.post, "/v1/units", token: company.admin.token, json: #"{"name":"B2B"}"#)).json?["id"] as? String)
            _ = try await app.request(.put, "/v1/units/\(unit)/members/\(member.user.id)", token: company.admin.token)
            let id = try #require((try await app.request(
                .post, "/v1/leads", token: member.token, json: #"{"template":"life_cycle","contact":{"name":"K","email":"k@x.test"}}"#)).json?["id"] as? String)
            let assigned = try await app.request(.patch, "/v1/leads/\(id)", token: member.token, json: #"{"assigned_unit_id":"\#(unit)","priority":"high"}"#)
            #expect(assigned.json?["assigned_unit_id"] as? String == unit)
            #expect(assigned.json?["priority"] as? String == "high")
            let refused = try await app.request(.post, "/v1/leads/\(id)/actions/accept", token: outsider.token, json: "{}")
            #expect(refused.errorCode == "not_assigned")
            let accepted = try await app.request(.post, "/v1/leads/\(id)/actions/accept", token: member.token, json: "{}")
            #expect(accepted.json?["assigned_user_id"] as? String == member.user.id.description)
            let history = try await app.request(.get, "/v1/leads/\(id)/history", token: member.token)
            #expect((history.json?["items"] as? [[String: Any]])?.compactMap { $0["action"] as? String } == ["create", "edit", "accept"])
        }
    }

    @Test("edits are guarded by version, and a closed lead cannot be edited")
    func editGuards() async throws {
        try await withTestApplication { app in
            let partner = try await app.fixtures.tenant(.partnerCompany, users: [[.partnerUser]])
            let token = partner.users[0].token
            let id = try #require((try await app.request(.post, "/v1/leads", token: token, json: #"{"contact":{"name":"V","email":"v@x.test"}}"#)).json?["id"] as? String)
            #expect(try await app.request(.patch, "/v1/leads/\(id)", token: token, json: #"{"request":"x","version":7}"#).errorCode == "version_conflict")
            let edited = try await app.request(.patch, "/v1/leads/\(id)", token: token, json: #"{"contact":{"city":"Reno"},"version":1}"#)
            #expect((edited.json?["contact"] as? [String: Any])?["city"] as? String == "Reno")
            _ = try await app.request(.post, "/v1/leads/\(id)/actions/decline", token: token, json: #"{"reason":"no budget"}"#)
            #expect(try await app.request(.patch, "/v1/leads/\(id)", token: token, json: #"{"request":"late"}"#).errorCode == "lead_closed")
        }
    }
}

@Suite("Lead fields")
struct LeadFieldTests {
    @Test("a lead carries products of interest with notes, competitors and a lead team of the tenant's users")
    func fields() async throws {
        try await withTestApplication { app in
            let company = try await app.fixtures.tenant(.partnerCompany, users: [[.partnerUser], [.partnerUser]])
            let other = try await app.fixtures.tenant(.partnerCompany, users: [[.partnerUser]])
            let token = company.users[0].token
            let lead = try await app.request(
                .post, "/v1/leads", token: token,
                json: #"{"template":"life_cycle","contact":{"name":"F","email":"f@x.test"},"products":[{"name":"POS terminal","notes":"needs two"}],"competitors":["Acme","acme","Globex"],"team":["\#(company.users[1].user.id)"],"target_amount":2500}"#)
            #expect(lead.status == .created, "\(lead.text)")
            #expect((lead.json?["products"] as? [[String: Any]])?.first?["notes"] as? String == "needs two")
            #expect(lead.json?["competitors"] as? [String] == ["Acme", "Globex"])
            #expect(lead.json?["team"] as? [String] == [company.users[1].user.id.description])
            #expect(lead.json?["start_date"] as? String == lead.json?["created_at"] as? String)
            let foreign = try await app.request(
                .post, "/v1/leads", token: token,
                json: #"{"contact":{"name":"G","email":"g@x.test"},"team":["\#(other.users[0].user.id)"]}"#)
            #expect((foreign.json?["error"] as? [String: Any])?["field"] as? String == "team[0]")
            let id = try #require(lead.json?["id"] as? String)
            let edited = try await app.request(.patch, "/v1/leads/\(id)", token: token, json: #"{"competitors":[],"products":[{"name":"Scale"}]}"#)
            #expect(edited.json?["competitors"] as? [String] == [])
            #expect((edited.json?["products"] as? [[String: Any]])?.first?["name"] as? String == "Scale")
        }
    }
}
