import Foundation
import HubNetCore
import HubNetServer
import HubNetTestSupport
import HummingbirdTesting
import Testing

/// Rules of the product documents that the black-box suite found missing or wrong, one test each.
@Suite("Workflow rules found from outside", .serialized)
struct WorkflowFindingsTests {
    static func names(_ response: TestResponse) -> [String] {
        (response.json?["items"] as? [[String: Any]] ?? []).compactMap { ($0["contact"] as? [String: Any])?["name"] as? String }
    }

    @Test("002: a stage edited to a one-day reminder reminds after one day and every day, for leads assigned before and after the edit")
    func oneDayReminder() async throws {
        let clock = VirtualClock()
        try await withTestApplication(configure: { $0.now = clock.function; $0.deliveryInterval = nil; $0.timerInterval = nil }) { app in
            let company = try await app.fixtures.tenant(.partnerCompany, users: [[.partnerUser], [.partnerUser]])
            let (token, rep) = (company.users[0].token, company.users[1].user)
            let timers = LeadTimerService(database: app.fixtures.database, now: clock.function)
            func assignedLead(_ name: String) async throws -> String {
                let lead = try #require(
                    (try await app.request(
                        .post, "/v1/leads", token: token, json: #"{"template":"staged_pipeline","contact":{"name":"\#(name)","email":"r@x.test"}}"#
                    )).json?["id"] as? String)
                _ = try await app.request(.post, "/v1/leads/\(lead)/actions/assign", token: token, json: #"{"assignee_id":"\#(rep.id)"}"#)
                return lead
            }
            _ = try await assignedLead("Before")
            // The tenant's copy: the first stage reminds after one day instead of two.
            let current = try await app.request(.get, "/v1/workflow-templates/staged_pipeline", token: company.admin.token)
            var template = try #require(current.json)
            var stages = try #require(template["stages"] as? [[String: Any]])
            stages[0]["reminder_days"] = 1
            template["stages"] = stages
            let body = String(decoding: try JSONSerialization.data(withJSONObject: template), as: UTF8.self)
            let saved = try await app.request(.put, "/v1/workflow-templates/staged_pipeline", token: company.admin.token, json: body)
            #expect(saved.status == .ok, "\(saved.text)")
            #expect((saved.json?["stages"] as? [[String: Any]])?.first?["reminder_days"] as? Int == 1)
            _ = try await assignedLead("After")

            clock.advance(by: 86_400 - 60)
            #expect(try await timers.sendDueReminders() == 0)
            clock.advance(by: 120)
            #expect(try await timers.sendDueReminders() == 2)
            #expect(try await timers.sendDueReminders() == 0)
            clock.advance(by: 86_400)
            #expect(try await timers.sendDueReminders() == 2)
        }
    }

    @Test("004: a lead open past its thirty-day maximum shows past_maximum and is found by that filter; closing it clears it")
    func pastMaximum() async throws {
        let clock = VirtualClock()
        try await withTestApplication(configure: { $0.now = clock.function; $0.timerInterval = nil }) { app in
            let company = try await app.fixtures.tenant(.sourcingCompany, users: [[.partnerUser]])
            let token = company.users[0].token
            let old = try await app.createLead(token: token, name: "Old")
            clock.advance(by: 20 * 86_400)
            _ = try await app.createLead(token: token, name: "Young")
            clock.advance(by: 11 * 86_400)
            let lead = try await app.request(.get, "/v1/leads/\(old)", token: token)
            #expect((lead.json?["badges"] as? [String])?.contains("past_maximum") == true)
            #expect(Self.names(try await app.request(.get, "/v1/leads?badge=past_maximum", token: token)) == ["Old"])
            let actions = (lead.json?["available_actions"] as? [[String: Any]] ?? []).compactMap { $0["key"] as? String }
            let close = try #require(actions.first { $0.contains("abandon") } ?? actions.first { $0.contains("close") })
            _ = try await app.request(.post, "/v1/leads/\(old)/actions/\(close)", token: token, json: #"{"reason":"no answer"}"#)
            let closed = try await app.request(.get, "/v1/leads/\(old)", token: token)
            #expect((closed.json?["badges"] as? [String])?.contains("past_maximum") == false, "\(closed.text)")
            #expect(Self.names(try await app.request(.get, "/v1/leads?badge=past_maximum", token: token)).isEmpty)
        }
    }

    @Test("000: the hub's lead table leaves out leads that joined the CRM (in_crm=false), and in_crm=true lists exactly those")
    func inCRMFilter() async throws {
        try await withTestApplication { app in
            let hub = try await app.fixtures.tenant(.hub, users: [[.moderator]])
            let token = hub.users[0].token
            let accepted = try await app.createLead(token: token, name: "Accepted")
            _ = try await app.createLead(token: token, name: "Waiting")
            _ = try await app.request(.post, "/v1/leads/\(accepted)/actions/accept", token: token, json: "{}")
            #expect(Self.names(try await app.request(.get, "/v1/leads?in_crm=false", token: token)) == ["Waiting"])
            #expect(Self.names(try await app.request(.get, "/v1/leads?in_crm=true", token: token)) == ["Accepted"])
            #expect(Self.names(try await app.request(.get, "/v1/leads", token: token)).sorted() == ["Accepted", "Waiting"])
            #expect(try await app.request(.get, "/v1/leads?in_crm=perhaps", token: token).errorCode == "validation_failed")
        }
    }

    @Test("001: a distribution carries the expiration date the sourcing company sets, and the partner's copy expires then")
    func referralExpiry() async throws {
        let clock = VirtualClock()
        try await withTestApplication(configure: { $0.now = clock.function; $0.timerInterval = nil; $0.deliveryInterval = nil }) { app in
            let sourcing = try await app.fixtures.tenant(.sourcingCompany, users: [[.partnerUser]])
            let partner = try await app.fixtures.tenant(.partnerCompany, users: [[.partnerUser]])
            let lead = try await app.createLead(token: sourcing.users[0].token)
            let expiry = ISO8601DateFormatter().string(from: clock.now + 2 * 86_400)
            let past = ISO8601DateFormatter().string(from: clock.now - 60)
            let refused = try await app.request(
                .post, "/v1/leads/\(lead)/referrals", token: sourcing.users[0].token,
                json: #"{"partner_id":"\#(partner.tenant.id)","expires_at":"\#(past)"}"#)
            #expect((refused.json?["error"] as? [String: Any])?["field"] as? String == "expires_at")
            let referred = try await app.request(
                .post, "/v1/leads/\(lead)/referrals", token: sourcing.users[0].token,
                json: #"{"partner_id":"\#(partner.tenant.id)","expires_at":"\#(expiry)"}"#)
            #expect(referred.status == .created, "\(referred.text)")
            let landed = try #require((try await app.request(.get, "/v1/leads", token: partner.users[0].token)).json?["items"] as? [[String: Any]])
            #expect(landed.first?["expires_at"] as? String == expiry)
            let timers = LeadTimerService(database: app.fixtures.database, now: clock.function)
            clock.advance(by: 86_400)
            #expect(try await timers.fireDueExpiries() == 0)
            clock.advance(by: 86_400 + 60)
            #expect(try await timers.fireDueExpiries() == 1)
        }
    }

    @Test("a template read from the API goes back unchanged, in the documented hand-written form")
    func templateRoundTrip() async throws {
        try await withTestApplication { app in
            let hub = try await app.fixtures.tenant(.hub)
            for key in BuiltInTemplates.all.map(\.key) {
                let read = try await app.request(.get, "/v1/workflow-templates/\(key)", token: hub.admin.token)
                #expect(!read.text.contains("\"_0\""), "\(key) still uses the synthesized form")
                let saved = try await app.request(.put, "/v1/workflow-templates/\(key)", token: hub.admin.token, json: read.text)
                #expect(saved.status == .ok, "\(key): \(saved.text)")
                let again = try await app.request(.get, "/v1/workflow-templates/\(key)", token: hub.admin.token)
                #expect(again.text == read.text, "\(key) changed on the round trip")
            }
        }
    }

    @Test("deleting a unit that leads are assigned to, or a lead that was referred on, is a 409 with a reason, and deletes nothing")
    func deletionsInUse() async throws {
        try await withTestApplication { app in
            let sourcing = try await app.fixtures.tenant(.sourcingCompany, users: [[.partnerUser]])
            let partner = try await app.fixtures.tenant(.partnerCompany, users: [[.partnerUser]])
            let token = sourcing.users[0].token
            let unit = try #require((try await app.request(.post, "/v1/units", token: sourcing.admin.token, json: #"{"name":"Desk"}"#)).json?["id"] as? String)
            let lead = try await app.createLead(token: token, extra: #","assigned_unit_id":"\#(unit)""#)
            let inUse = try await app.request(.delete, "/v1/units/\(unit)", token: sourcing.admin.token)
            #expect(inUse.status == .conflict)
            #expect(inUse.errorCode == "unit_in_use")
            #expect(try await app.request(.get, "/v1/units/\(unit)", token: sourcing.admin.token).status == .ok)
            let referred = try await app.request(
                .post, "/v1/leads/\(lead)/referrals", token: token, json: #"{"partner_id":"\#(partner.tenant.id)"}"#)
            #expect(referred.status == .created, "\(referred.text)")
            let deleted = try await app.request(.delete, "/v1/leads/\(lead)", token: token)
            #expect(deleted.status == .conflict, "\(deleted.text)")
            #expect(deleted.errorCode == "lead_in_use")
            #expect(try await app.request(.get, "/v1/leads/\(lead)", token: token).status == .ok)
        }
    }
}
