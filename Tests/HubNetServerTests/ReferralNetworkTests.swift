import Foundation
import HTTPTypes
import HubNetCore
import HubNetPostgres
import HubNetServer
import HubNetTestSupport
import Hummingbird
import HummingbirdTesting
import Logging
import Testing

/// The whole referral loop across three tenants, through two successive server instances on one
/// database (a restart in between), with real SMTP delivery and a virtual clock.
@Suite("A referral network across a restart", .serialized)
struct ReferralNetworkTests {
    struct Network: Sendable {
        var referring: TenantFixture
        var receiving: TenantFixture
        var partner: TenantFixture
    }

    @Test("the source sees and cannot act; accept, decline and contact each email the creator once; an unanswered lead expires and is re-referred; the first target loses it")
    func threeTenants() async throws {
        let smtp = try await SMTPReceiver()
        defer { smtp.stop() }
        let clock = VirtualClock()
        var logger = Logger(label: "test")
        logger.logLevel = .error
        try await withTestDatabase { database in
            var configuration = ServerConfiguration(operatorToken: TestApplication.operatorToken, databasePoolSize: 4)
            configuration.now = clock.function
            configuration.timerInterval = nil
            configuration.deliveryInterval = .milliseconds(50)
            configuration.smtp = SMTPClient(host: "127.0.0.1", port: smtp.port, from: "hubnet@test.local")
            let creatorInbox: @Sendable (String) -> [String] = { email in smtp.messages.filter { $0.contains("To: <\(email)>") } }

            // First server instance: the referrals and the target's answers.
            let first = try buildApplication(configuration: configuration, databaseURL: database.serverURL, logger: logger)
            let (network, leads) = try await withPostgresClient(database.serverURL, logger: logger) { client in
                let fixtures = Fixtures(database: Database(client: client, logger: logger))
                let network = Network(
                    referring: try await fixtures.tenant(.hub, name: "Referring Hub", users: [[.moderator]]),
                    receiving: try await fixtures.tenant(.hub, name: "Receiving Hub", users: [[.moderator]], listings: [ListingDraft(name: "Desk", serviceAreas: ["X"])]),
                    partner: try await fixtures.tenant(.partnerCompany, name: "Partner Co", users: [[.partnerUser]]))
                let leads = try await first.test(.router) { client in
                    let app = TestApplication(client: client, fixtures: fixtures, database: database)
                    let source = network.referring.users[0].token
                    let target = network.receiving.users[0].token
                    var targetLeads: [String: String] = [:]
                    for action in ["accept", "decline", "contact"] {
                        // Each referral a moment after the last, so "newest" is well defined.
                        clock.advance(by: 1)
                        let lead = try #require((try await app.request(.post, "/v1/leads", token: source, json: #"{"contact":{"name":"Lead \#(action)","email":"l@x.test"}}"#)).json?["id"] as? String)
                        _ = try await app.request(.post, "/v1/leads/\(lead)/actions/refer_external", token: source, json: #"{"listing_id":"\#(network.receiving.listings[0].id)"}"#)
                        let landed = try #require(((try await app.request(.get, "/v1/leads?sort=-created_at&limit=1", token: target)).json?["items"] as? [[String: Any]])?.first?["id"] as? String)
                        targetLeads[action] = landed
                        let referral = try #require(((try await app.request(.get, "/v1/referrals?limit=200", token: source)).json?["items"] as? [[String: Any]])?.last?["id"] as? String)
                        // The source sees it, and cannot act.
                        #expect(try await app.request(.post, "/v1/referrals/\(referral)/actions/\(action)", token: source, json: "{}").errorCode == "source_cannot_act")
                        #expect(try await app.request(.get, "/v1/leads/\(landed)", token: source).status == .notFound)
                        _ = try await app.request(.post, "/v1/leads/\(landed)/actions/\(action)", token: target, json: "{}")
                        #expect((try await app.request(.get, "/v1/referrals/\(referral)", token: source)).json?["status"] as? String == ["accept": "accepted", "decline": "declined", "contact": "contacted"][action])
                    }
                    // An unanswered lead for the partner company.
                    let waiting = try #require((try await app.request(.post, "/v1/leads", token: source, json: #"{"contact":{"name":"Lead waiting","email":"w@x.test"}}"#)).json?["id"] as? String)
                    #expect(try await app.request(.post, "/v1/leads/\(waiting)/referrals", token: source, json: #"{"partner_id":"\#(network.partner.tenant.id)"}"#).status == .created)
                    // Let the running server deliver part of its outbox before it stops.
                    for _ in 0..<400 where creatorInbox(network.referring.users[0].user.email).count < 3 {
                        try await Task.sleep(for: .milliseconds(50))
                    }
                    return targetLeads.merging(["waiting": waiting]) { $1 }
                }
                return (network, leads)
            }
            let creator = network.referring.users[0].user.email
            #expect(creatorInbox(creator).count == 3)

            // Second server instance on the same database: nothing is sent twice; the clock moves on.
            let second = try buildApplication(configuration: configuration, databaseURL: database.serverURL, logger: logger)
            try await withPostgresClient(database.serverURL, logger: logger) { client in
                let fixtures = Fixtures(database: Database(client: client, logger: logger))
                try await second.test(.router) { client in
                    let app = TestApplication(client: client, fixtures: fixtures, database: database)
                    try await Task.sleep(for: .milliseconds(300))
                    #expect(creatorInbox(creator).count == 3)
                    for (action, status) in [("accept", "Accepted"), ("decline", "Declined"), ("contact", "Contacted")] {
                        #expect(creatorInbox(creator).filter { $0.contains("Subject: Your referral of Lead \(action): \(status)") }.count == 1)
                    }
                    let partnerToken = network.partner.users[0].token
                    let partnerLead = try #require(((try await app.request(.get, "/v1/leads", token: partnerToken)).json?["items"] as? [[String: Any]])?.first?["id"] as? String)
                    clock.advance(by: 8 * 86_400)
                    #expect(try await LeadTimerService(database: fixtures.database, now: clock.function).fireDue() == 1)
                    let waiting = try #require(leads["waiting"])
                    let source = network.referring.users[0].token
                    let reReferred = try await app.request(
                        .post, "/v1/leads/\(waiting)/actions/refer_external", token: source,
                        json: #"{"listing_id":"\#(network.receiving.listings[0].id)"}"#)
                    #expect(reReferred.status == .ok, "\(reReferred.text)")
                    #expect(try await app.request(.get, "/v1/leads/\(partnerLead)", token: partnerToken).status == .notFound)
                    for _ in 0..<400 where creatorInbox(creator).count < 4 { try await Task.sleep(for: .milliseconds(50)) }
                    #expect(creatorInbox(creator).filter { $0.contains("Subject: Your referral of Lead waiting: Expired") }.count == 1)
                }
            }
        }
    }
}
