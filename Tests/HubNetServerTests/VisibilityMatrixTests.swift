import Foundation
import HTTPTypes
import HubNetCore
import HubNetTestSupport
import HummingbirdTesting
import Testing

/// Every lead and referral endpoint called as every party to a referred lead: who sees, who acts.
@Suite("Visibility matrix")
struct VisibilityMatrixTests {
    enum Party: String, CaseIterable {
        case targetModerator = "target moderator", targetAdvisor = "target advisor", sourceModerator = "source moderator"
        case sourcingUser = "sourcing-company user", unrelated = "unrelated tenant", anonymous
    }

    @Test("each party gets exactly its answer from each endpoint")
    func matrix() async throws {
        try await withTestApplication { app in
            let source = try await app.fixtures.tenant(.hub, users: [[.moderator]])
            let target = try await app.fixtures.tenant(
                .hub, users: [[.moderator], [.advisor]], listings: [ListingDraft(name: "Desk", serviceAreas: ["X"])])
            let sourcing = try await app.fixtures.tenant(.sourcingCompany, users: [[.partnerUser]])
            let partner = try await app.fixtures.tenant(.partnerCompany, users: [[.partnerUser]])
            let unrelated = try await app.fixtures.tenant(.hub)
            let body = #"{"contact":{"name":"M","email":"m@x.test"}}"#

            // A hub-to-hub referral, and a sourcing company's distribution to a partner.
            let sourceLead = try #require((try await app.request(.post, "/v1/leads", token: source.users[0].token, json: body)).json?["id"] as? String)
            _ = try await app.request(.post, "/v1/leads/\(sourceLead)/actions/refer_external", token: source.users[0].token, json: #"{"listing_id":"\#(target.listings[0].id)"}"#)
            let targetLead = try #require(((try await app.request(.get, "/v1/leads", token: target.users[0].token)).json?["items"] as? [[String: Any]])?.first?["id"] as? String)
            let referral = try #require(((try await app.request(.get, "/v1/referrals", token: source.users[0].token)).json?["items"] as? [[String: Any]])?.first?["id"] as? String)
            let sourcedLead = try #require((try await app.request(.post, "/v1/leads", token: sourcing.users[0].token, json: body)).json?["id"] as? String)
            let distribution = try #require((try await app.request(.post, "/v1/leads/\(sourcedLead)/referrals", token: sourcing.users[0].token, json: #"{"partner_id":"\#(partner.tenant.id)"}"#)).json?["id"] as? String)
            let partnerLead = try #require(((try await app.request(.get, "/v1/leads", token: partner.users[0].token)).json?["items"] as? [[String: Any]])?.first?["id"] as? String)

            let tokens: [Party: String?] = [
                .targetModerator: target.users[0].token, .targetAdvisor: target.users[1].token, .sourceModerator: source.users[0].token,
                .sourcingUser: sourcing.users[0].token, .unrelated: unrelated.admin.token, .anonymous: nil,
            ]
            typealias Row = (HTTPRequest.Method, String, String?, [Party: Int])
            // The target's advisor is not on this lead (not assigned, not on its team or unit): it is
            // outside their view, so it answers as missing to them as to everyone outside the hub.
            let seen: [Party: Int] = [.targetModerator: 200, .targetAdvisor: 404, .sourceModerator: 404, .sourcingUser: 404, .unrelated: 404, .anonymous: 401]
            let rows: [Row] = [
                (.get, "/v1/leads/\(targetLead)", nil, seen),
                (.get, "/v1/leads/\(targetLead)/history", nil, seen),
                (.get, "/v1/leads/\(targetLead)/history/verification", nil, seen),
                (.get, "/v1/leads/\(targetLead)/notes", nil, seen),
                (.get, "/v1/leads/\(targetLead)/activities", nil, seen),
                (.get, "/v1/leads/\(targetLead)/related", nil, seen),
                (.post, "/v1/leads/\(targetLead)/notes", #"{"body":"n"}"#, seen.mapValues { $0 == 200 ? 201 : $0 }),
                (.patch, "/v1/leads/\(targetLead)", #"{"request":"r"}"#, seen),
                (.post, "/v1/leads/\(targetLead)/actions/accept", "{}", seen),
                (.get, "/v1/referrals/\(referral)", nil, [.targetModerator: 404, .targetAdvisor: 404, .sourceModerator: 200, .sourcingUser: 404, .unrelated: 404, .anonymous: 401]),
                (.get, "/v1/referrals/\(referral)/history", nil, [.targetModerator: 404, .targetAdvisor: 404, .sourceModerator: 200, .sourcingUser: 404, .unrelated: 404, .anonymous: 401]),
                (.post, "/v1/referrals/\(referral)/actions/accept", "{}", [.targetModerator: 404, .targetAdvisor: 404, .sourceModerator: 403, .sourcingUser: 404, .unrelated: 404, .anonymous: 401]),
                (.get, "/v1/referrals/\(distribution)", nil, [.targetModerator: 404, .targetAdvisor: 404, .sourceModerator: 404, .sourcingUser: 200, .unrelated: 404, .anonymous: 401]),
                (.post, "/v1/referrals/\(distribution)/actions/decline", #"{"reason":"x"}"#, [.targetModerator: 404, .targetAdvisor: 404, .sourceModerator: 404, .sourcingUser: 403, .unrelated: 404, .anonymous: 401]),
                (.get, "/v1/leads/\(partnerLead)", nil, [.targetModerator: 404, .targetAdvisor: 404, .sourceModerator: 404, .sourcingUser: 404, .unrelated: 404, .anonymous: 401]),
            ]
            for (method, path, json, expected) in rows {
                // The acting party goes last, so the others see the lead as it was.
                for party in Party.allCases.sorted(by: { (expected[$0] ?? 0) > (expected[$1] ?? 0) }) {
                    let response = try await app.request(method, path, token: tokens[party] ?? nil, json: json)
                    #expect(Int(response.status.code) == expected[party], "\(party.rawValue): \(method) \(path) → \(response.status.code) \(response.text)")
                    if response.status == .forbidden && path.contains("/referrals/") {
                        #expect(response.errorCode == "source_cannot_act", "\(party.rawValue): \(path)")
                    }
                }
            }
            // The source's view never offers a button.
            let view = try await app.request(.get, "/v1/referrals/\(referral)", token: source.users[0].token)
            #expect((view.json?["available_actions"] as? [Any])?.isEmpty == true)
            #expect(view.json?["status"] as? String == "accepted")
        }
    }
}
