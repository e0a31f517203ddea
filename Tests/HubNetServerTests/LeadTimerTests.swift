import Foundation
import HTTPTypes
import HubNetCore
import HubNetPostgres
import HubNetServer
import HubNetTestSupport
import HummingbirdTesting
import Logging
import Testing

@Suite("Lead timers on a virtual clock")
struct LeadTimerTests {
    let leadBody = #"{"contact":{"name":"Tim","email":"tim@x.test"}}"#

    @Test("001: an unanswered referred lead expires after seven days on the clock, is mirrored to its source, and can go to another partner")
    func expiryAndReReferral() async throws {
        let clock = VirtualClock()
        try await withTestApplication(configure: { $0.now = clock.function; $0.timerInterval = nil }) { app in
            let sourcing = try await app.fixtures.tenant(.sourcingCompany, users: [[.partnerUser]])
            let first = try await app.fixtures.tenant(.partnerCompany, users: [[.partnerUser]])
            let second = try await app.fixtures.tenant(.partnerCompany, users: [[.partnerUser]])
            let token = sourcing.users[0].token
            let timers = LeadTimerService(database: app.fixtures.database, now: clock.function)
            let lead = try #require((try await app.request(.post, "/v1/leads", token: token, json: leadBody)).json?["id"] as? String)
            let referral = try #require((try await app.request(.post, "/v1/leads/\(lead)/referrals", token: token, json: #"{"partner_id":"\#(first.tenant.id)"}"#)).json?["id"] as? String)

            clock.advance(by: 6 * 86_400)
            #expect(try await timers.fireDue() == 0)
            clock.advance(by: 2 * 86_400)
            #expect(try await timers.fireDue() == 1)
            #expect(try await timers.fireDue() == 0)
            let mirrored = try await app.request(.get, "/v1/referrals/\(referral)", token: token)
            #expect(mirrored.json?["status"] as? String == "expired")
            let firstLead = try #require(((try await app.request(.get, "/v1/leads", token: first.users[0].token)).json?["items"] as? [[String: Any]])?.first)
            #expect(firstLead["status"] as? String == "expired")

            #expect(try await app.request(.post, "/v1/leads/\(lead)/referrals", token: token, json: #"{"partner_id":"\#(second.tenant.id)"}"#).status == .created)
            #expect(((try await app.request(.get, "/v1/leads", token: first.users[0].token)).json?["items"] as? [Any])?.isEmpty == true)
        }
    }

    @Test("001: the expiry counter restarts at acceptance: thirty days later an unconverted lead expires")
    func expiryAfterAcceptance() async throws {
        let clock = VirtualClock()
        try await withTestApplication(configure: { $0.now = clock.function; $0.timerInterval = nil }) { app in
            let partner = try await app.fixtures.tenant(.partnerCompany, users: [[.partnerUser]])
            let token = partner.users[0].token
            let timers = LeadTimerService(database: app.fixtures.database, now: clock.function)
            let lead = try #require((try await app.request(.post, "/v1/leads", token: token, json: leadBody)).json?["id"] as? String)
            clock.advance(by: 5 * 86_400)
            _ = try await app.request(.post, "/v1/leads/\(lead)/actions/accept", token: token, json: "{}")
            clock.advance(by: 29 * 86_400)
            #expect(try await timers.fireDue() == 0)
            clock.advance(by: 2 * 86_400)
            #expect(try await timers.fireDue() == 1)
            #expect((try await app.request(.get, "/v1/leads/\(lead)", token: token)).json?["status"] as? String == "expired")
        }
    }

    @Test("001: leads whose expiry is due but who cannot expire never hold up the expiry of the leads behind them")
    func noStarvation() async throws {
        let clock = VirtualClock()
        try await withTestApplication(configure: { $0.now = clock.function; $0.timerInterval = nil }) { app in
            let hub = try await app.fixtures.tenant(.hub, users: [[.moderator]])
            let partner = try await app.fixtures.tenant(.partnerCompany, users: [[.partnerUser]])
            let timers = LeadTimerService(database: app.fixtures.database, now: clock.function)
            // Five hub leads (hub moderation has no expire action) carry an expiry older than any
            // other, as leads from an older template version or an import could.
            var stuck: [String] = []
            for index in 0..<5 {
                let body = #"{"contact":{"name":"Stuck \#(index)","email":"s\#(index)@x.test"}}"#
                stuck.append(try #require((try await app.request(.post, "/v1/leads", token: hub.users[0].token, json: body)).json?["id"] as? String))
            }
            let logger = Logger(label: "test")
            try await withPostgresClient(app.database.ownerURL, logger: logger) { client in
                try await client.rows(
                    "UPDATE leads SET expires_at = \(clock.now - 86_400) WHERE id = ANY(\(stuck.compactMap(UUID.init(uuidString:))))",
                    logger: logger)
            }
            let lead = try #require((try await app.request(.post, "/v1/leads", token: partner.users[0].token, json: leadBody)).json?["id"] as? String)
            clock.advance(by: 8 * 86_400)
            // Batches of two: the five stuck leads come first in every scan until they leave it.
            #expect(try await timers.fireDueExpiries(batch: 2) == 1)
            #expect((try await app.request(.get, "/v1/leads/\(lead)", token: partner.users[0].token)).json?["status"] as? String == "expired")
            // Nothing is left due: the stuck leads no longer carry an expiry.
            let due = try await withPostgresClient(app.database.ownerURL, logger: logger) { client in
                try await client.rows(
                    "SELECT count(*)::INTEGER FROM leads WHERE expires_at <= \(clock.now) AND completed_at IS NULL AND withdrawn_at IS NULL",
                    logger: logger
                ).decode(Int.self).first
            }
            #expect(due == 0)
            #expect(try await timers.fireDue() == 0)
        }
    }

    @Test("an expiry pass fires a tenant's due leads set-based: as many statements for 30 leads as for 3; each expires once, its history chained, its source's referral mirrored")
    func expiryPassIsSetBased() async throws {
        let clock = VirtualClock()
        try await withTestApplication(configure: { $0.now = clock.function; $0.timerInterval = nil }) { app in
            let sourcing = try await app.fixtures.tenant(.sourcingCompany, users: [[.partnerUser]])
            let partner = try await app.fixtures.tenant(.partnerCompany, users: [[.partnerUser]])
            let token = sourcing.users[0].token
            let timers = LeadTimerService(database: app.fixtures.database, now: clock.function)
            var referrals: [String] = []
            func refer(_ count: Int) async throws {
                for index in 0..<count {
                    let lead = try #require(
                        (try await app.request(.post, "/v1/leads", token: token, json: #"{"contact":{"name":"E\#(referrals.count)","email":"e\#(referrals.count)-\#(index)@x.test"}}"#)).json?["id"] as? String)
                    referrals.append(
                        try #require(
                            (try await app.request(.post, "/v1/leads/\(lead)/referrals", token: token, json: #"{"partner_id":"\#(partner.tenant.id)"}"#)).json?["id"] as? String))
                }
            }
            func pass() async throws -> (fired: Int, statements: Int) {
                let counter = StatementCount()
                let fired = try await StatementCount.$current.withValue(counter) { try await timers.fireDueExpiries() }
                return (fired, counter.value)
            }
            try await refer(3)
            clock.advance(by: 8 * 86_400)
            let few = try await pass()
            try await refer(30)
            clock.advance(by: 8 * 86_400)
            let many = try await pass()
            #expect(few.fired == 3 && many.fired == 30)
            #expect(few.statements == many.statements, "3 leads: \(few.statements) statements, 30 leads: \(many.statements)")
            #expect(try await pass().fired == 0)

            let copies = try #require(
                (try await app.request(.get, "/v1/leads?limit=100", token: partner.users[0].token)).json?["items"] as? [[String: Any]])
            #expect(copies.count == 33)
            for copy in copies {
                let id = try #require(copy["id"] as? String)
                #expect(copy["status"] as? String == "expired")
                let verified = try await app.request(.get, "/v1/leads/\(id)/history/verification", token: partner.users[0].token).json
                #expect(verified?["intact"] as? Bool == true, "\(id)")
                let history = try #require(
                    (try await app.request(.get, "/v1/leads/\(id)/history", token: partner.users[0].token)).json?["items"] as? [[String: Any]])
                let expiries = history.filter { $0["action"] as? String == "expire" }
                #expect(expiries.count == 1 && expiries.first?["reason"] as? String == "expired" && expiries.first?["actor_user_id"] == nil)
            }
            for referral in referrals {
                let mirrored = try await app.request(.get, "/v1/referrals/\(referral)", token: token).json
                #expect(mirrored?["status"] as? String == "expired", "\(referral)")
            }
        }
    }

    @Test("002: a reminder pass reminds a tenant's due leads set-based: as many statements for 30 leads as for 3; an active assignee is emailed once per lead, a deactivated one not, and each lead's next reminder is set")
    func reminderPassIsSetBased() async throws {
        let clock = VirtualClock()
        try await withTestApplication(configure: { $0.now = clock.function; $0.timerInterval = nil; $0.deliveryInterval = nil }) { app in
            let company = try await app.fixtures.tenant(.partnerCompany, users: [[.partnerUser], [.partnerUser], [.partnerUser]])
            let token = company.users[0].token
            let (rep, leaving) = (company.users[1].user, company.users[2].user)
            let timers = LeadTimerService(database: app.fixtures.database, now: clock.function)
            func assign(_ count: Int, to user: User, tag: String) async throws {
                for index in 0..<count {
                    let lead = try #require(
                        (try await app.request(
                            .post, "/v1/leads", token: token,
                            json: #"{"template":"staged_pipeline","contact":{"name":"R\#(tag)\#(index)","email":"r\#(tag)\#(index)@x.test"}}"#)).json?["id"] as? String)
                    let assigned = try await app.request(
                        .post, "/v1/leads/\(lead)/actions/assign", token: token, json: #"{"assignee_id":"\#(user.id)"}"#)
                    #expect(assigned.status == .ok, "\(assigned.text)")
                }
            }
            func pass() async throws -> (sent: Int, statements: Int) {
                let counter = StatementCount()
                let sent = try await StatementCount.$current.withValue(counter) { try await timers.sendDueReminders() }
                return (sent, counter.value)
            }
            func reminderEmails() async throws -> [String: Int] {
                try await withPostgresClient(app.database.ownerURL, logger: Logger(label: "test")) { client in
                    var counts: [String: Int] = [:]
                    for (address, count) in try await client.rows(
                        "SELECT recipient, count(*)::INTEGER FROM outbox WHERE event = 'lead.reminder' AND channel = 'email' GROUP BY recipient",
                        logger: Logger(label: "test")
                    ).decode((String, Int).self) { counts[address] = count }
                    return counts
                }
            }
            try await assign(3, to: rep, tag: "a")
            clock.advance(by: 2 * 86_400 + 60)
            let few = try await pass()
            try await assign(28, to: rep, tag: "b")
            try await assign(2, to: leaving, tag: "c")
            #expect(try await app.request(.delete, "/v1/users/\(leaving.id)", token: company.admin.token).status == .noContent)
            clock.advance(by: 2 * 86_400 + 60)
            // The first three are due again too (every two days while nothing happens): 33 in all.
            let many = try await pass()
            #expect(few.sent == 3 && many.sent == 33, "\(few) \(many)")
            #expect(few.statements == many.statements, "3 leads: \(few.statements) statements, 33 leads: \(many.statements)")
            #expect(try await pass().sent == 0)
            #expect(try await reminderEmails() == [rep.email: 34])
            // Each lead's next reminder is two days on: nothing before, all of them after.
            clock.advance(by: 2 * 86_400 - 120)
            #expect(try await pass().sent == 0)
            clock.advance(by: 120)
            #expect(try await pass().sent == 33)
        }
    }

    @Test("two timer services on one database, as two server processes, never fire a timer twice")
    func twoProcesses() async throws {
        let clock = VirtualClock()
        try await withTestApplication(configure: { $0.now = clock.function; $0.timerInterval = nil }) { app in
            let partner = try await app.fixtures.tenant(.partnerCompany, users: [[.partnerUser]])
            let token = partner.users[0].token
            var ids: [String] = []
            for index in 0..<40 {
                ids.append(try #require((try await app.request(.post, "/v1/leads", token: token, json: #"{"contact":{"name":"N\#(index)","email":"n\#(index)@x.test"}}"#)).json?["id"] as? String))
            }
            clock.advance(by: 8 * 86_400)
            let database = app.fixtures.database
            let fired = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<2 {
                    group.addTask { try await LeadTimerService(database: database, now: clock.function).fireDue(batch: 7) }
                }
                return try await group.reduce(0, +)
            }
            for id in ids {
                let history = try await app.request(.get, "/v1/leads/\(id)/history", token: token)
                #expect((history.json?["items"] as? [[String: Any]])?.filter { $0["action"] as? String == "expire" }.count == 1)
            }
            #expect(fired == 40)
            let expired = try await app.request(.get, "/v1/leads?status=expired&limit=100", token: token)
            #expect((expired.json?["items"] as? [Any])?.count == 40)
        }
    }

    @Test("the server's own timer service fires due timers as the clock moves")
    func serviceRuns() async throws {
        let clock = VirtualClock()
        try await withTestApplication(configure: { $0.now = clock.function; $0.timerInterval = .milliseconds(50) }) { app in
            let partner = try await app.fixtures.tenant(.partnerCompany, users: [[.partnerUser]])
            let token = partner.users[0].token
            let lead = try #require((try await app.request(.post, "/v1/leads", token: token, json: leadBody)).json?["id"] as? String)
            clock.advance(by: 8 * 86_400)
            var status: String?
            for _ in 0..<100 {
                status = (try await app.request(.get, "/v1/leads/\(lead)", token: token)).json?["status"] as? String
                if status == "expired" { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(status == "expired")
        }
    }
}
