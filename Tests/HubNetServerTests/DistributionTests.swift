import Foundation
import HTTPTypes
import HubNetCore
import HubNetServer
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
        try await withTestApplication(configure: { $0.now = clock.function; $0.timerInterval = nil; $0.deliveryInterval = nil }) { app in
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

/// A shared pool under concurrent accepts.
@Suite("Shared pool")
struct SharedPoolTests {
    @Test("a lead offered to a shared pool of 20 partners, accepted by all 20 at once, has exactly one winner; the others lose their copies")
    func oneWinner() async throws {
        try await withTestApplication(configure: { $0.timerInterval = nil; $0.deliveryInterval = nil }) { app in
            let sourcing = try await app.fixtures.tenant(.sourcingCompany, users: [[.partnerUser]])
            var partners: [TenantFixture] = []
            for index in 1...20 { partners.append(try await app.fixtures.tenant(.partnerCompany, name: "Pool \(index)", users: [[.partnerUser]])) }
            let token = sourcing.users[0].token
            let pool = partners.map { "\"\($0.tenant.id)\"" }.joined(separator: ",")
            #expect(try await app.request(.put, "/v1/distribution-rule", token: sourcing.admin.token, json: #"{"mode":"shared_pool","pool":[\#(pool)]}"#).status == .ok)
            let lead = try await DistributionAPITests.newLead(app, token)
            let routed = try await app.request(.post, "/v1/leads/\(lead)/route", token: token)
            #expect(routed.status == .created, "\(routed.text)")
            #expect((routed.json?["referrals"] as? [Any])?.count == 20)
            #expect((routed.json?["explanation"] as? String)?.hasPrefix("offered to 20 partners of the shared pool") == true)
            // A second routing of the same lead is refused while the pool is open.
            #expect(try await app.request(.post, "/v1/leads/\(lead)/route", token: token).errorCode == "already_referred")

            var copies: [(TenantFixture, String)] = []
            for partner in partners {
                let held = try #require((try await app.request(.get, "/v1/leads", token: partner.users[0].token)).json?["items"] as? [[String: Any]])
                copies.append((partner, try #require(held.first?["id"] as? String)))
            }
            let outcomes = try await withThrowingTaskGroup(of: (String, Int, String?).self) { group in
                for (partner, copy) in copies {
                    group.addTask {
                        let answer = try await app.request(.post, "/v1/leads/\(copy)/actions/accept", token: partner.users[0].token, json: "{}")
                        return (partner.tenant.id.description, Int(answer.status.code), answer.errorCode)
                    }
                }
                var all: [(String, Int, String?)] = []
                for try await outcome in group { all.append(outcome) }
                return all
            }
            let winners = outcomes.filter { $0.1 == 200 }
            #expect(winners.count == 1, "\(outcomes)")
            // Every loser was refused: taken while it was accepting, or its copy already withdrawn.
            #expect(outcomes.filter { $0.1 != 200 }.allSatisfy { ($0.1 == 409 && $0.2 == "pool_taken") || $0.1 == 404 }, "\(outcomes)")
            // Copies locked mid-accept are released by the next timer pass; then exact totals.
            _ = try await LeadTimerService(database: app.fixtures.database, now: { Date() }).releasePoolCopies()
            #expect(try await LeadTimerService(database: app.fixtures.database, now: { Date() }).releasePoolCopies() == 0)
            var holders: [String] = []
            for (partner, _) in copies {
                let held = (try await app.request(.get, "/v1/leads", token: partner.users[0].token)).json?["items"] as? [[String: Any]] ?? []
                if !held.isEmpty { holders.append(partner.tenant.id.description) }
            }
            #expect(holders == winners.map(\.0))
            let referrals = try #require((try await app.request(.get, "/v1/referrals?limit=50", token: token)).json?["items"] as? [[String: Any]])
            #expect(referrals.count == 20)
            let open = referrals.filter { $0["withdrawn_at"] == nil || $0["withdrawn_at"] is NSNull }
            #expect(open.count == 1)
            #expect(open.first?["target_tenant_id"] as? String == winners.first?.0)
            #expect(open.first?["status"] as? String == "accepted")
        }
    }
}

extension SharedPoolTests {
    @Test("accepts of shared-pool copies pushed by devices: the first claims the pool and its batch goes on; the others' copies are gone")
    func poolClaimedThroughSync() async throws {
        try await withTestApplication(configure: { $0.timerInterval = nil; $0.deliveryInterval = nil }) { app in
            let sourcing = try await app.fixtures.tenant(.sourcingCompany, users: [[.partnerUser]])
            var partners: [TenantFixture] = []
            for index in 1...3 { partners.append(try await app.fixtures.tenant(.partnerCompany, name: "Pool \(index)", users: [[.partnerUser]])) }
            let token = sourcing.users[0].token
            let pool = partners.map { "\"\($0.tenant.id)\"" }.joined(separator: ",")
            #expect(try await app.request(.put, "/v1/distribution-rule", token: sourcing.admin.token, json: #"{"mode":"shared_pool","pool":[\#(pool)]}"#).status == .ok)
            let lead = try await DistributionAPITests.newLead(app, token)
            #expect(try await app.request(.post, "/v1/leads/\(lead)/route", token: token).status == .created)
            var copies: [Lead.ID] = []
            for partner in partners {
                let held = try #require((try await app.request(.get, "/v1/leads", token: partner.users[0].token)).json?["items"] as? [[String: Any]])
                let copy = try #require(held.first?["id"] as? String)
                copies.append(Lead.ID(try #require(UUID(uuidString: copy))))
            }
            // The first device's batch: a note, the accept, another note.
            let first = try await SyncTestDevice.register(app, as: partners[0].users[0])
            let won = try await first.push([
                Mutation(id: 1, leadId: copies[0], intent: .addNote(id: LeadNote.ID(), body: "before")),
                Mutation(id: 2, leadId: copies[0], intent: .act(LeadAction("accept", .init()))),
                Mutation(id: 3, leadId: copies[0], intent: .addNote(id: LeadNote.ID(), body: "after")),
            ])
            #expect(won.results.map(\.outcome) == [.applied, .applied, .applied], "\(won.results)")
            // The pool was claimed: the other copies were withdrawn, and their accepts are refused.
            for (partner, copy) in zip(partners.dropFirst(), copies.dropFirst()) {
                let device = try await SyncTestDevice.register(app, as: partner.users[0])
                let lost = try await device.push([Mutation(id: 1, leadId: copy, intent: .act(LeadAction("accept", .init())))])
                #expect(lost.results.map(\.outcome) == [.rejected], "\(lost.results)")
            }
            let referrals = try #require((try await app.request(.get, "/v1/referrals?limit=50", token: token)).json?["items"] as? [[String: Any]])
            let open = referrals.filter { $0["withdrawn_at"] == nil || $0["withdrawn_at"] is NSNull }
            #expect(referrals.count == 3 && open.count == 1, "\(referrals)")
            #expect(open.first?["target_tenant_id"] as? String == partners[0].tenant.id.description)
            #expect(open.first?["status"] as? String == "accepted")
            let notes = try #require(
                try await app.request(.get, "/v1/leads/\(copies[0])/notes", token: partners[0].users[0].token).json?["items"] as? [[String: Any]])
            #expect(Set(notes.compactMap { $0["body"] as? String }) == ["before", "after"])
        }
    }
}

/// SLA pullback on the durable timers, with real SMTP delivery of the notices.
@Suite("SLA pullback")
struct PullbackTests {
    /// The receiver's messages once it has written `count` of them (aiosmtpd prints each as it
    /// arrives; the test waits for its output, not for the product).
    static func inbox(_ smtp: SMTPReceiver, count: Int) async throws -> [String] {
        for _ in 0..<100 where smtp.messages.count < count { try await Task.sleep(for: .milliseconds(50)) }
        return smtp.messages
    }

    @Test("a routed lead nobody acted on for 48 virtual hours is pulled back once, re-routed to the next partner, and all three sides are told; after the hop limit it returns to the source")
    func pullbackAndReroute() async throws {
        let smtp = try await SMTPReceiver()
        defer { smtp.stop() }
        let clock = VirtualClock()
        try await withTestApplication(configure: { $0.now = clock.function; $0.timerInterval = nil; $0.deliveryInterval = nil }) { app in
            let sourcing = try await app.fixtures.tenant(.sourcingCompany, users: [[.partnerUser]])
            let first = try await app.fixtures.tenant(.partnerCompany, name: "First Partner", users: [[.partnerUser]])
            let second = try await app.fixtures.tenant(.partnerCompany, name: "Second Partner", users: [[.partnerUser]])
            let token = sourcing.users[0].token
            let timers = LeadTimerService(database: app.fixtures.database, now: clock.function, links: nil)
            let delivery = OutboxDeliveryService(
                database: app.fixtures.database, smtp: SMTPClient(host: "127.0.0.1", port: smtp.port, from: "hubnet@test.local"), now: clock.function)
            let saved = try await app.request(
                .put, "/v1/distribution-rule", token: sourcing.admin.token,
                json: #"{"mode":"round_robin","pool":["\#(first.tenant.id)","\#(second.tenant.id)"],"sla_hours":48,"max_hops":2}"#)
            #expect(saved.json?["sla_hours"] as? Int == 48, "\(saved.text)")
            #expect(try await app.request(
                .put, "/v1/distribution-rule", token: sourcing.admin.token,
                json: #"{"mode":"round_robin","pool":["\#(first.tenant.id)"],"sla_hours":48,"sla_business_days":2}"#).errorCode == "validation_failed")
            #expect(try await app.request(
                .put, "/v1/distribution-rule", token: sourcing.admin.token,
                json: #"{"mode":"round_robin","pool":["\#(first.tenant.id)"],"time_zone":"Mars/Olympus"}"#).errorCode == "validation_failed")

            let lead = try await DistributionAPITests.newLead(app, token)
            let routed = try await app.request(.post, "/v1/leads/\(lead)/route", token: token)
            let firstReferral = try #require((routed.json?["referral"] as? [String: Any])?["id"] as? String)
            let firstLead = try #require(((try await app.request(.get, "/v1/leads", token: first.users[0].token)).json?["items"] as? [[String: Any]])?.first?["id"] as? String)

            clock.advance(by: 47 * 3600)
            #expect(try await timers.firePullbacks() == 0)
            clock.advance(by: 2 * 3600)
            #expect(try await timers.firePullbacks() == 1)
            #expect(try await timers.firePullbacks() == 0)

            // The first partner lost it; the second holds it; the source's history says why.
            #expect(try await app.request(.get, "/v1/leads/\(firstLead)", token: first.users[0].token).status == .notFound)
            #expect(((try await app.request(.get, "/v1/leads", token: first.users[0].token)).json?["items"] as? [Any])?.isEmpty == true)
            let secondItems = try #require((try await app.request(.get, "/v1/leads", token: second.users[0].token)).json?["items"] as? [[String: Any]])
            #expect(secondItems.count == 1)
            let referrals = try #require((try await app.request(.get, "/v1/referrals", token: token)).json?["items"] as? [[String: Any]])
            #expect(referrals.count == 2)
            #expect(referrals.first { $0["id"] as? String == firstReferral }?["withdrawn_at"] != nil)
            #expect(referrals.filter { $0["withdrawn_at"] == nil || $0["withdrawn_at"] is NSNull }.map { $0["target_tenant_id"] as? String } == [second.tenant.id.description])
            let history = try #require((try await app.request(.get, "/v1/leads/\(lead)/history", token: token)).json?["items"] as? [[String: Any]])
            #expect(history.map { $0["action"] as? String } == ["create", "route", "pullback"])
            #expect((history.last?["reason"] as? String)?.hasPrefix("no action at First Partner within 48 hours; routed to Second Partner by round robin") == true,
                "\(history.last ?? [:])")

            // Notices: the first partner (withdrawn), the creator (moved on), by real SMTP.
            // The first partner's two people were invited at routing and told of the withdrawal; the creator is told where it went.
            #expect(try await delivery.deliverDue() == 5)
            let inbox = try await Self.inbox(smtp, count: 5)
            #expect(inbox.filter { $0.contains("To: <\(first.users[0].user.email)>") && $0.contains("Lead withdrawn") }.count == 1, "\(inbox)")
            #expect(inbox.filter { $0.contains("To: <\(sourcing.users[0].user.email)>") && $0.contains("moved on") }.count == 1, "\(inbox)")

            // The second partner does not act either: the hop limit (2) is reached, the lead returns.
            clock.advance(by: 49 * 3600)
            #expect(try await timers.fireDue() == 1)
            #expect(((try await app.request(.get, "/v1/leads", token: second.users[0].token)).json?["items"] as? [Any])?.isEmpty == true)
            let returned = try #require((try await app.request(.get, "/v1/leads/\(lead)/history", token: token)).json?["items"] as? [[String: Any]])
            #expect((returned.last?["reason"] as? String)?.contains("returned to you (after 2 partners)") == true, "\(returned.last ?? [:])")
            #expect(try await app.request(.get, "/v1/leads/\(lead)", token: token).status == .ok)
            // The second partner's two people are told, and the creator that it is back.
            #expect(try await delivery.deliverDue() == 3)
            #expect(try await Self.inbox(smtp, count: 8).filter { $0.contains("returned to you") }.count == 1)
            // Nothing further is due: exact totals.
            clock.advance(by: 30 * 86_400)
            #expect(try await timers.firePullbacks() == 0)
        }
    }

    @Test("a partner that acts in time keeps the lead; a pullback due during downtime fires once on the first pass after")
    func actedInTimeAndDowntime() async throws {
        let clock = VirtualClock()
        try await withTestApplication(configure: { $0.now = clock.function; $0.timerInterval = nil; $0.deliveryInterval = nil }) { app in
            let sourcing = try await app.fixtures.tenant(.sourcingCompany, users: [[.partnerUser]])
            let first = try await app.fixtures.tenant(.partnerCompany, users: [[.partnerUser]])
            let second = try await app.fixtures.tenant(.partnerCompany, users: [[.partnerUser]])
            let token = sourcing.users[0].token
            _ = try await app.request(
                .put, "/v1/distribution-rule", token: sourcing.admin.token,
                json: #"{"mode":"round_robin","pool":["\#(first.tenant.id)","\#(second.tenant.id)"],"sla_business_days":2,"time_zone":"UTC"}"#)
            // VirtualClock starts 2030-03-17T17:46:40Z, a Sunday: two business days end Wednesday 00:00.
            let acted = try await DistributionAPITests.newLead(app, token)
            _ = try await app.request(.post, "/v1/leads/\(acted)/route", token: token)
            let ignored = try await DistributionAPITests.newLead(app, token)
            _ = try await app.request(.post, "/v1/leads/\(ignored)/route", token: token)
            let firstLead = try #require(((try await app.request(.get, "/v1/leads", token: first.users[0].token)).json?["items"] as? [[String: Any]])?.first?["id"] as? String)
            #expect(try await app.request(.post, "/v1/leads/\(firstLead)/actions/accept", token: first.users[0].token, json: "{}").status == .ok)

            // Downtime: no pass runs for a week; then two server processes pass at once.
            clock.advance(by: 7 * 86_400)
            let passes = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<2 { group.addTask { try await LeadTimerService(database: app.fixtures.database, now: clock.function).firePullbacks(batch: 1) } }
                return try await group.reduce(0, +)
            }
            #expect(passes == 1)
            // The accepted lead stayed; the ignored one moved from the second partner to the first.
            #expect(try await app.request(.get, "/v1/leads/\(firstLead)", token: first.users[0].token).status == .ok)
            let referrals = try #require((try await app.request(.get, "/v1/referrals", token: token)).json?["items"] as? [[String: Any]])
            #expect(referrals.count == 3)
            let ignoredHistory = try #require((try await app.request(.get, "/v1/leads/\(ignored)/history", token: token)).json?["items"] as? [[String: Any]])
            #expect((ignoredHistory.last?["reason"] as? String)?.contains("within 2 business days") == true, "\(ignoredHistory.last ?? [:])")
        }
    }
}

/// Hubs' declared capacity in routing suggestions and the public directory.
@Suite("Hub capacity")
struct HubCapacityTests {
    @Test("a hub whose slots are taken is not suggested and the directory shows it full; a slot freed, it returns")
    func suggestionsSkipFullHubs() async throws {
        try await withTestApplication { app in
            let source = try await app.fixtures.tenant(.hub, name: "Referring Hub", users: [[.moderator]])
            let full = try await app.fixtures.tenant(
                .hub, name: "Busy Hub", users: [[.moderator]],
                listings: [ListingDraft(name: "Busy desk", serviceAreas: ["Oakland"], acceptingReferrals: true)])
            let open = try await app.fixtures.tenant(
                .hub, name: "Quiet Hub", users: [[.moderator]],
                listings: [ListingDraft(name: "Quiet desk", serviceAreas: ["Oakland"], acceptingReferrals: true)])
            let token = source.users[0].token
            let body = #"{"contact":{"name":"Ada Obi","email":"ada@studio.test","city":"Oakland"},"request":"Grant help"}"#
            let lead = try #require((try await app.request(.post, "/v1/leads", token: token, json: body)).json?["id"] as? String)
            func suggested() async throws -> Set<String> {
                let items = try #require((try await app.request(.get, "/v1/leads/\(lead)/routing-suggestions", token: token)).json?["items"] as? [[String: Any]])
                return Set(items.compactMap { ($0["listing"] as? [String: Any])?["name"] as? String })
            }
            #expect(try await suggested().isSuperset(of: ["Busy desk", "Quiet desk"]))

            // Busy Hub declares one slot and accepts a lead: it is full.
            #expect(try await app.request(.put, "/v1/tenant/capacity", token: full.admin.token, json: #"{"open_slots":1}"#).status == .ok)
            let own = try #require((try await app.request(.post, "/v1/leads", token: full.users[0].token, json: body)).json?["id"] as? String)
            #expect(try await app.request(.post, "/v1/leads/\(own)/actions/accept", token: full.users[0].token, json: "{}").status == .ok)
            let names = try await suggested()
            #expect(!names.contains("Busy desk") && names.contains("Quiet desk"), "\(names)")
            let directory = try #require((try await app.request(.get, "/v1/directory/listings?service_area=Oakland")).json?["items"] as? [[String: Any]])
            let busy = try #require(directory.first { $0["name"] as? String == "Busy desk" })
            #expect((busy["capacity"] as? [String: Any])?["free_slots"] as? Int == 0)
            #expect((busy["capacity"] as? [String: Any])?["available"] as? Bool == false)
            #expect(directory.first { $0["name"] as? String == "Quiet desk" }?["capacity"] == nil)

            // Quiet Hub pauses until tomorrow: it too drops out; Busy Hub takes two slots and returns.
            let tomorrow = Timestamp.rfc3339(Date().addingTimeInterval(86_400))
            #expect(try await app.request(.put, "/v1/tenant/capacity", token: open.admin.token, json: #"{"not_accepting_until":"\#(tomorrow)"}"#).status == .ok)
            #expect(try await app.request(.put, "/v1/tenant/capacity", token: full.admin.token, json: #"{"open_slots":2}"#).status == .ok)
            let after = try await suggested()
            #expect(after.contains("Busy desk") && !after.contains("Quiet desk"), "\(after)")
        }
    }
}

/// A hub's rule over other hubs' listings, through its own workflow action.
@Suite("Hub distribution")
struct HubDistributionTests {
    @Test("a hub's round robin over two listings sends four leads two to each hub through refer_external, explained; a full hub is skipped")
    func roundRobinOverListings() async throws {
        try await withTestApplication { app in
            let hub = try await app.fixtures.tenant(.hub, name: "Referring Hub", users: [[.moderator]])
            let east = try await app.fixtures.tenant(.hub, name: "East Hub", users: [[.moderator]], listings: [ListingDraft(name: "East desk", serviceAreas: ["Oakland"])])
            let west = try await app.fixtures.tenant(.hub, name: "West Hub", users: [[.moderator]], listings: [ListingDraft(name: "West desk", serviceAreas: ["Oakland"])])
            let token = hub.users[0].token
            let listings = #"["\#(east.listings[0].id)","\#(west.listings[0].id)"]"#
            // A hub routes to listings, not partner companies; its own listing or a missing one is refused.
            #expect(try await app.request(.put, "/v1/distribution-rule", token: hub.admin.token, json: #"{"mode":"round_robin","pool":["\#(east.tenant.id)"]}"#).errorCode == "validation_failed")
            let unknown = try await app.request(
                .put, "/v1/distribution-rule", token: hub.admin.token, json: #"{"mode":"round_robin","listings":["\#(UUID().uuidString.lowercased())"]}"#)
            #expect(unknown.json.flatMap { ($0["error"] as? [String: Any])?["field"] as? String } == "listings[0]")
            #expect(try await app.request(.put, "/v1/distribution-rule", token: hub.admin.token, json: #"{"mode":"shared_pool","listings":\#(listings)}"#).errorCode == "validation_failed")
            let saved = try await app.request(.put, "/v1/distribution-rule", token: hub.admin.token, json: #"{"mode":"round_robin","listings":\#(listings)}"#)
            #expect(saved.status == .ok, "\(saved.text)")

            var targets: [String] = []
            for index in 0..<4 {
                let lead = try await DistributionAPITests.newLead(app, token)
                let routed = try await app.request(.post, "/v1/leads/\(lead)/route", token: token)
                #expect(routed.status == .created, "\(routed.text)")
                targets.append((routed.json?["referral"] as? [String: Any])?["target_tenant_id"] as? String ?? "")
                if index == 0 {
                    #expect(routed.json?["explanation"] as? String == "routed to East desk at East Hub by round robin: no slot limit, acceptance 50%")
                    let history = try #require((try await app.request(.get, "/v1/leads/\(lead)/history", token: token)).json?["items"] as? [[String: Any]])
                    #expect(history.map { $0["action"] as? String } == ["create", "route", "refer_external"])
                    #expect((try await app.request(.get, "/v1/leads/\(lead)", token: token)).json?["status"] as? String == "referred")
                }
            }
            #expect(targets == [east, west, east, west].map { $0.tenant.id.description })
            // East declares it is not accepting: the next two go west.
            let tomorrow = Timestamp.rfc3339(Date().addingTimeInterval(86_400))
            _ = try await app.request(.put, "/v1/tenant/capacity", token: east.admin.token, json: #"{"not_accepting_until":"\#(tomorrow)"}"#)
            let pool = try #require((try await app.request(.get, "/v1/distribution/partners", token: token)).json?["items"] as? [[String: Any]])
            #expect(pool.map { $0["listing_id"] as? String } == [east.listings[0].id.description, west.listings[0].id.description])
            #expect(pool.map { $0["available"] as? Bool } == [false, true])
            for _ in 0..<2 {
                let routed = try await app.request(.post, "/v1/leads/\(try await DistributionAPITests.newLead(app, token))/route", token: token)
                #expect((routed.json?["referral"] as? [String: Any])?["target_tenant_id"] as? String == west.tenant.id.description)
            }
            // Exact totals: each hub holds what was routed to it.
            #expect(((try await app.request(.get, "/v1/leads?limit=50", token: east.users[0].token)).json?["items"] as? [Any])?.count == 2)
            #expect(((try await app.request(.get, "/v1/leads?limit=50", token: west.users[0].token)).json?["items"] as? [Any])?.count == 4)
        }
    }
}
