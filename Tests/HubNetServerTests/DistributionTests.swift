import Foundation
import HTTPTypes
import HubNetCore
import HubNetTestSupport
import HummingbirdTesting
import Testing

/// Automatic distribution through the API, on PostgreSQL: the rule, capacity, staleness on the
/// server's clock, and the explanation in the lead's history.
@Suite("Automatic distribution")
struct DistributionAPITests {
    static let leadBody = #"{"contact":{"name":"Nia Brooks","email":"nia@studio.test","city":"Berkeley"},"request":"Grant help"}"#

    static func newLead(_ app: TestApplication, _ token: String) async throws -> String {
        try #require((try await app.request(.post, "/v1/leads", token: token, json: leadBody)).json?["id"] as? String)
    }

    @Test("round robin through POST /v1/leads/{id}/route: 100 leads land 20 at each of 5 partners, each explained in the lead's history")
    func roundRobin() async throws {
        try await withTestApplication { app in
            let sourcing = try await app.fixtures.tenant(.sourcingCompany, users: [[.partnerUser]])
            var partners: [TenantFixture] = []
            for index in 1...5 { partners.append(try await app.fixtures.tenant(.partnerCompany, name: "Partner \(index)", users: [[.partnerUser]])) }
            let token = sourcing.users[0].token
            let pool = partners.map { "\"\($0.tenant.id)\"" }.joined(separator: ",")
            // Only an admin may set it, and only partner companies may be in the pool.
            #expect(try await app.request(.put, "/v1/distribution-rule", token: token, json: #"{"mode":"round_robin","pool":[\#(pool)]}"#).status == .forbidden)
            let stranger = try await app.fixtures.tenant(.hub)
            let refused = try await app.request(
                .put, "/v1/distribution-rule", token: sourcing.admin.token, json: #"{"mode":"round_robin","pool":["\#(stranger.tenant.id)"]}"#)
            #expect(refused.errorCode == "validation_failed")
            #expect(refused.json.flatMap { ($0["error"] as? [String: Any])?["field"] as? String } == "pool[0]")
            // Manual: routing refuses.
            let first = try await Self.newLead(app, token)
            #expect(try await app.request(.post, "/v1/leads/\(first)/route", token: token).errorCode == "distribution_manual")

            let saved = try await app.request(.put, "/v1/distribution-rule", token: sourcing.admin.token, json: #"{"mode":"round_robin","pool":[\#(pool)]}"#)
            #expect(saved.status == .ok, "\(saved.text)")
            var counts: [String: Int] = [:]
            var firstExplanation: String?
            for index in 0..<100 {
                let lead = index == 0 ? first : try await Self.newLead(app, token)
                let routed = try await app.request(.post, "/v1/leads/\(lead)/route", token: token)
                #expect(routed.status == .created, "\(routed.text)")
                let target = try #require((routed.json?["referral"] as? [String: Any])?["target_tenant_id"] as? String)
                counts[target, default: 0] += 1
                if index == 0 {
                    firstExplanation = routed.json?["explanation"] as? String
                    let history = try #require((try await app.request(.get, "/v1/leads/\(lead)/history", token: token)).json?["items"] as? [[String: Any]])
                    #expect(history.last?["action"] as? String == "route")
                    #expect(history.last?["reason"] as? String == firstExplanation)
                    #expect((try await app.request(.get, "/v1/leads/\(lead)/history/verification", token: token)).json?["intact"] as? Bool == true)
                }
            }
            #expect(firstExplanation == "routed to Partner 1 by round robin: no slot limit, acceptance 50%")
            #expect(partners.map { counts[$0.tenant.id.description] } == [20, 20, 20, 20, 20])
            // Exact totals at the end: each partner holds exactly its 20 leads.
            for partner in partners {
                let held = try await app.request(.get, "/v1/leads?limit=200", token: partner.users[0].token)
                #expect((held.json?["items"] as? [Any])?.count == 20)
            }
        }
    }

    @Test("weighted routing respects declared capacity: a partner whose slots are taken by accepted leads is skipped until one closes")
    func capacity() async throws {
        try await withTestApplication { app in
            let sourcing = try await app.fixtures.tenant(.sourcingCompany, users: [[.partnerUser]])
            let small = try await app.fixtures.tenant(.partnerCompany, name: "Small", users: [[.partnerUser]])
            let large = try await app.fixtures.tenant(.partnerCompany, name: "Large", users: [[.partnerUser]])
            let token = sourcing.users[0].token
            // Small declares one slot; Large two. Equal scores otherwise, Small first in the pool.
            #expect(try await app.request(.put, "/v1/tenant/capacity", token: small.admin.token, json: #"{"open_slots":1}"#).status == .ok)
            #expect(try await app.request(.put, "/v1/tenant/capacity", token: large.admin.token, json: #"{"open_slots":2}"#).status == .ok)
            #expect(try await app.request(.put, "/v1/tenant/capacity", token: large.admin.token, json: #"{"open_slots":-1}"#).errorCode == "validation_failed")
            _ = try await app.request(
                .put, "/v1/distribution-rule", token: sourcing.admin.token,
                json: #"{"mode":"weighted","pool":["\#(small.tenant.id)","\#(large.tenant.id)"]}"#)

            func route() async throws -> (status: HTTPResponse.Status, target: String?, body: String) {
                let lead = try await Self.newLead(app, token)
                let routed = try await app.request(.post, "/v1/leads/\(lead)/route", token: token)
                return (routed.status, (routed.json?["referral"] as? [String: Any])?["target_tenant_id"] as? String, routed.text)
            }
            func acceptAll(_ partner: TenantFixture) async throws {
                let pending = try #require((try await app.request(.get, "/v1/leads?status=pending", token: partner.users[0].token)).json?["items"] as? [[String: Any]])
                for lead in pending.compactMap({ $0["id"] as? String }) {
                    #expect(try await app.request(.post, "/v1/leads/\(lead)/actions/accept", token: partner.users[0].token, json: "{}").status == .ok)
                }
            }
            // Both empty: all capacity free, Small first (the tie goes by turn).
            #expect(try await route().target == small.tenant.id.description)
            try await acceptAll(small)
            // Small's one slot is taken: Large gets the next two, accepted.
            #expect(try await route().target == large.tenant.id.description)
            #expect(try await route().target == large.tenant.id.description)
            try await acceptAll(large)
            let partners = try await app.request(.get, "/v1/distribution/partners", token: token)
            let items = try #require(partners.json?["items"] as? [[String: Any]])
            #expect(items.map { $0["free_slots"] as? Int } == [0, 0])
            #expect(items.allSatisfy { $0["available"] as? Bool == false })
            let full = try await route()
            #expect(full.status == .conflict)
            #expect(full.body.contains("no_partner_available") && full.body.contains("no free slot"), "\(full.body)")
            // Small closes its lead (converts it): its slot frees and it is chosen again.
            let held = try #require((try await app.request(.get, "/v1/leads?status=accepted", token: small.users[0].token)).json?["items"] as? [[String: Any]])
            let smallLead = try #require(held.first?["id"] as? String)
            let closed = try await app.request(.post, "/v1/leads/\(smallLead)/actions/close_not_converted", token: small.users[0].token, json: #"{"reason":"no budget"}"#)
            #expect(closed.status == .ok, "\(closed.text)")
            #expect(try await route().target == small.tenant.id.description)
        }
    }

    @Test("a stale partner (no device sync, no action for longer than the rule allows, on the server's clock) is skipped and returns when its device syncs")
    func staleness() async throws {
        let clock = VirtualClock()
        try await withTestApplication(configure: { $0.now = clock.function; $0.timerInterval = nil }) { app in
            let sourcing = try await app.fixtures.tenant(.sourcingCompany, users: [[.partnerUser]])
            let quiet = try await app.fixtures.tenant(.partnerCompany, name: "Quiet", users: [[.partnerUser]])
            let busy = try await app.fixtures.tenant(.partnerCompany, name: "Busy", users: [[.partnerUser]])
            let token = sourcing.users[0].token
            var devices: [String] = []
            for partner in [quiet, busy] {
                let registered = try await app.request(.post, "/v1/devices", token: partner.users[0].token, json: #"{"name":"Field phone"}"#)
                let deviceToken = try #require(registered.json?["token"] as? String)
                devices.append(deviceToken)
                #expect(try await app.request(.get, "/v1/sync/pull", token: deviceToken).status != .unauthorized)
            }
            _ = try await app.request(
                .put, "/v1/distribution-rule", token: sourcing.admin.token,
                json: #"{"mode":"round_robin","pool":["\#(quiet.tenant.id)","\#(busy.tenant.id)"],"stale_after_hours":48}"#)
            clock.advance(by: 72 * 3600)
            // Only Busy's device syncs in those three days.
            #expect(try await app.request(.get, "/v1/sync/pull", token: devices[1]).status != .unauthorized)
            let partners = try #require((try await app.request(.get, "/v1/distribution/partners", token: token)).json?["items"] as? [[String: Any]])
            #expect(partners.first?["available"] as? Bool == false)
            #expect((partners.first?["unavailable_reason"] as? String)?.hasPrefix("stale: last seen") == true)
            for _ in 0..<2 {
                let routed = try await app.request(.post, "/v1/leads/\(try await Self.newLead(app, token))/route", token: token)
                #expect((routed.json?["referral"] as? [String: Any])?["target_tenant_id"] as? String == busy.tenant.id.description, "\(routed.text)")
                #expect((routed.json?["skipped"] as? [[String: Any]])?.first?["partner_id"] as? String == quiet.tenant.id.description)
            }
            // Quiet's device syncs again: it is back in turn.
            #expect(try await app.request(.get, "/v1/sync/pull", token: devices[0]).status != .unauthorized)
            let back = try await app.request(.post, "/v1/leads/\(try await Self.newLead(app, token))/route", token: token)
            #expect((back.json?["referral"] as? [String: Any])?["target_tenant_id"] as? String == quiet.tenant.id.description, "\(back.text)")
        }
    }
}
