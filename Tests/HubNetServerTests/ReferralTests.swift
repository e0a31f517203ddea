import Foundation
import HTTPTypes
import HubNetCore
import HubNetTestSupport
import HummingbirdTesting
import Testing

@Suite("Referrals across tenants")
struct ReferralTests {
    let leadBody = #"{"contact":{"name":"Nia Brooks","email":"nia@studio.test","city":"Berkeley"},"request":"Grant help"}"#

    @Test("an external referral lands in the listing's hub; the source follows it, mirrored, and can never act")
    func hubToHub() async throws {
        try await withTestApplication { app in
            let source = try await app.fixtures.tenant(.hub, name: "Referring Hub", users: [[.moderator]])
            let target = try await app.fixtures.tenant(
                .hub, name: "Receiving Hub", users: [[.moderator]], listings: [ListingDraft(name: "Grants desk", serviceAreas: ["Alameda"])])
            let sourceToken = source.users[0].token
            let targetToken = target.users[0].token
            let lead = try #require((try await app.request(.post, "/v1/leads", token: sourceToken, json: leadBody)).json?["id"] as? String)
            let referred = try await app.request(
                .post, "/v1/leads/\(lead)/actions/refer_external", token: sourceToken,
                json: #"{"listing_id":"\#(target.listings[0].id)"}"#)
            #expect(referred.json?["status"] as? String == "referred", "\(referred.text)")

            // The lead is now in the receiving hub, New, from a referral.
            let incoming = try #require((try await app.request(.get, "/v1/leads", token: targetToken)).json?["items"] as? [[String: Any]])
            #expect(incoming.count == 1)
            #expect(incoming.first?["source"] as? String == "referral")
            #expect(incoming.first?["status"] as? String == "new")
            let targetLead = try #require(incoming.first?["id"] as? String)

            // The source sees its referral with the target's status and no buttons.
            let referrals = try #require((try await app.request(.get, "/v1/referrals", token: sourceToken)).json?["items"] as? [[String: Any]])
            let referral = try #require(referrals.first?["id"] as? String)
            #expect(referrals.first?["status"] as? String == "new")
            #expect((referrals.first?["available_actions"] as? [Any])?.isEmpty == true)

            // The source cannot act, through the referral or on the target's lead itself.
            let refused = try await app.request(.post, "/v1/referrals/\(referral)/actions/accept", token: sourceToken, json: "{}")
            #expect(refused.status == .forbidden)
            #expect(refused.errorCode == "source_cannot_act")
            #expect(try await app.request(.post, "/v1/leads/\(targetLead)/actions/accept", token: sourceToken, json: "{}").status == .notFound)
            #expect(try await app.request(.get, "/v1/leads/\(targetLead)/notes", token: sourceToken).status == .notFound)

            // The target acts; the source's copy mirrors each step.
            _ = try await app.request(.post, "/v1/leads/\(targetLead)/notes", token: targetToken, json: #"{"body":"internal only"}"#)
            _ = try await app.request(.post, "/v1/leads/\(targetLead)/actions/contact", token: targetToken, json: "{}")
            #expect((try await app.request(.get, "/v1/referrals/\(referral)", token: sourceToken)).json?["status"] as? String == "contacted")
            _ = try await app.request(.post, "/v1/leads/\(targetLead)/actions/accept", token: targetToken, json: "{}")
            let mirrored = try await app.request(.get, "/v1/referrals/\(referral)", token: sourceToken)
            #expect(mirrored.json?["status"] as? String == "accepted")
            #expect(mirrored.json?["status_name"] as? String == "Accepted")
            #expect(mirrored.json?["accepted_at"] != nil)
            let history = try await app.request(.get, "/v1/referrals/\(referral)/history", token: sourceToken)
            #expect((history.json?["items"] as? [[String: Any]])?.compactMap { $0["action"] as? String } == ["create", "contact", "accept"])
            // A third tenant sees nothing of it.
            let stranger = try await app.fixtures.tenant(.hub)
            #expect(try await app.request(.get, "/v1/referrals/\(referral)", token: stranger.admin.token).status == .notFound)
            #expect(try await app.request(.get, "/v1/leads/\(targetLead)", token: stranger.admin.token).status == .notFound)
        }
    }

    @Test("a declined lead is referred again to another partner, and the first partner loses it")
    func reReferral() async throws {
        try await withTestApplication { app in
            let sourcing = try await app.fixtures.tenant(.sourcingCompany, users: [[.partnerUser]])
            let first = try await app.fixtures.tenant(.partnerCompany, users: [[.partnerUser]])
            let second = try await app.fixtures.tenant(.partnerCompany, users: [[.partnerUser]])
            let token = sourcing.users[0].token
            let lead = try #require((try await app.request(.post, "/v1/leads", token: token, json: leadBody)).json?["id"] as? String)
            let referral = try await app.request(.post, "/v1/leads/\(lead)/referrals", token: token, json: #"{"partner_id":"\#(first.tenant.id)"}"#)
            #expect(referral.status == .created, "\(referral.text)")
            #expect(try await app.request(.post, "/v1/leads/\(lead)/referrals", token: token, json: #"{"partner_id":"\#(second.tenant.id)"}"#).errorCode == "already_referred")
            let firstLead = try #require(((try await app.request(.get, "/v1/leads", token: first.users[0].token)).json?["items"] as? [[String: Any]])?.first?["id"] as? String)
            #expect((try await app.request(.get, "/v1/leads/\(firstLead)", token: first.users[0].token)).json?["template"] as? String == "partner_lead")
            _ = try await app.request(.post, "/v1/leads/\(firstLead)/actions/decline", token: first.users[0].token, json: #"{"reason":"not our sector"}"#)
            let declined = try await app.request(.get, "/v1/referrals/\(try #require(referral.json?["id"] as? String))", token: token)
            #expect(declined.json?["status"] as? String == "declined")
            #expect(declined.json?["reason"] as? String == "not our sector")

            let again = try await app.request(.post, "/v1/leads/\(lead)/referrals", token: token, json: #"{"partner_id":"\#(second.tenant.id)"}"#)
            #expect(again.status == .created)
            #expect(try await app.request(.get, "/v1/leads/\(firstLead)", token: first.users[0].token).status == .notFound)
            #expect(((try await app.request(.get, "/v1/leads?include_archived=true", token: first.users[0].token)).json?["items"] as? [Any])?.isEmpty == true)
            #expect(((try await app.request(.get, "/v1/leads", token: second.users[0].token)).json?["items"] as? [Any])?.count == 1)

            let outcomes = try await app.request(.get, "/v1/reports/referrals", token: token)
            #expect(outcomes.json?["total"] as? Int == 2)
            #expect(outcomes.json?["declined"] as? Int == 1)
            #expect(outcomes.json?["acted_on"] as? Int == 1)
            #expect(try await app.request(.post, "/v1/leads/\(lead)/referrals", token: token, json: #"{"partner_id":"\#(sourcing.tenant.id)"}"#).errorCode == "validation_failed")
        }
    }
}

@Suite("Routing suggestions over HTTP")
struct RoutingHTTPTests {
    @Test("suggestions rank other hubs' listings, and a hub that accepts its referrals rises above one that declines them")
    func suggestions() async throws {
        try await withTestApplication { app in
            let source = try await app.fixtures.tenant(.hub, users: [[.moderator]], listings: [ListingDraft(name: "Own", serviceAreas: ["Oakland"])])
            let accepting = try await app.fixtures.tenant(.hub, users: [[.moderator]], listings: [ListingDraft(name: "Yes Hub desk", serviceAreas: ["Oakland"], categories: ["Grants"])])
            let declining = try await app.fixtures.tenant(.hub, users: [[.moderator]], listings: [ListingDraft(name: "A No Hub desk", serviceAreas: ["Oakland"], categories: ["Grants"])])
            _ = try await app.fixtures.tenant(.hub, listings: [ListingDraft(name: "Far away", serviceAreas: ["Fresno"])])
            let token = source.users[0].token
            func newLead() async throws -> String {
                try #require((try await app.request(.post, "/v1/leads", token: token, json: #"{"contact":{"name":"R","email":"r@x.test","city":"Oakland"},"category":"Grants"}"#)).json?["id"] as? String)
            }
            func names(_ lead: String) async throws -> [String] {
                let response = try await app.request(.get, "/v1/leads/\(lead)/routing-suggestions", token: token)
                return (response.json?["items"] as? [[String: Any]] ?? []).compactMap { ($0["listing"] as? [String: Any])?["name"] as? String }
            }
            let lead = try await newLead()
            // Equal on area and category, no history yet: by name.
            #expect(try await names(lead) == ["A No Hub desk", "Yes Hub desk", "Far away"])
            for (hub, action) in [(accepting, "accept"), (declining, "decline")] {
                let referred = try await newLead()
                _ = try await app.request(.post, "/v1/leads/\(referred)/actions/refer_external", token: token, json: #"{"listing_id":"\#(hub.listings[0].id)"}"#)
                let landed = try #require(((try await app.request(.get, "/v1/leads", token: hub.users[0].token)).json?["items"] as? [[String: Any]])?.first?["id"] as? String)
                _ = try await app.request(.post, "/v1/leads/\(landed)/actions/\(action)", token: hub.users[0].token, json: "{}")
            }
            #expect(try await names(lead) == ["Yes Hub desk", "A No Hub desk", "Far away"])
        }
    }
}
