import Foundation
import HTTPTypes
import HubNetCore
import HubNetPostgres
import HubNetServer
import HubNetTestSupport
import HummingbirdTesting
import Testing

@Suite("Notifications through the outbox", .serialized)
struct NotificationTests {
    /// With the person's consent to the network, so the emails name them (without it a
    /// de-identified copy crosses: `PrivacyTests`).
    let leadBody = #"{"contact":{"name":"Ada Obi","email":"ada@cafe.test","city":"Oakland"},"consent":{"scope":"network","purpose":"referral","method":"verbal"}}"#

    /// A referring hub and a receiving hub with a listing; returns a function that refers a new
    /// lead and gives the receiving hub's copy.
    func network(_ app: TestApplication) async throws -> (source: TenantFixture, target: TenantFixture, refer: @Sendable () async throws -> String) {
        let source = try await app.fixtures.tenant(.hub, name: "Referring Hub", users: [[.moderator]])
        let target = try await app.fixtures.tenant(.hub, name: "Receiving Hub", users: [[.moderator]], listings: [ListingDraft(name: "Desk", serviceAreas: ["X"])])
        let body = leadBody
        let refer: @Sendable () async throws -> String = {
            let lead = try #require((try await app.request(.post, "/v1/leads", token: source.users[0].token, json: body)).json?["id"] as? String)
            _ = try await app.request(.post, "/v1/leads/\(lead)/actions/refer_external", token: source.users[0].token, json: #"{"listing_id":"\#(target.listings[0].id)"}"#)
            let leads = try #require((try await app.request(.get, "/v1/leads?sort=-created_at&limit=1", token: target.users[0].token)).json?["items"] as? [[String: Any]])
            return try #require(leads.first?["id"] as? String)
        }
        return (source, target, refer)
    }

    @Test("000: the target's accept, decline and contact each send exactly one email to the referral's creator")
    func emails() async throws {
        let smtp = try await SMTPReceiver()
        defer { smtp.stop() }
        try await withTestApplication(configure: {
            $0.smtp = SMTPClient(host: "127.0.0.1", port: smtp.port, from: "hubnet@test.local")
            $0.deliveryInterval = nil
        }) { app in
            let (source, target, refer) = try await network(app)
            let delivery = OutboxDeliveryService(database: app.fixtures.database, smtp: SMTPClient(host: "127.0.0.1", port: smtp.port, from: "hubnet@test.local"), now: { Date() })
            for action in ["accept", "decline", "contact"] {
                let lead = try await refer()
                _ = try await app.request(.post, "/v1/leads/\(lead)/actions/\(action)", token: target.users[0].token, json: "{}")
            }
            // Three notices to the creator, and the receiving hub's invitations (moderator and admin, each
            // referral). A second pass, as after a restart, finds nothing left to send.
            #expect(try await delivery.deliverDue() == 9)
            #expect(try await delivery.deliverDue() == 0)
            let creator = source.users[0].user.email
            let messages = smtp.messages.filter { $0.contains("To: <\(creator)>") }
            #expect(messages.count == 3)
            for status in ["Accepted", "Declined", "Contacted"] {
                #expect(messages.filter { $0.contains("Subject: Your referral of Ada Obi: \(status)") }.count == 1, "\(status)")
            }
            #expect(messages.allSatisfy { $0.contains("Receiving Hub has marked Ada Obi") })
            let log = try await app.request(.get, "/v1/deliveries", token: source.admin.token)
            #expect((log.json?["items"] as? [[String: Any]])?.filter { $0["outcome"] as? String == "delivered" }.count == 3)
            #expect(smtp.messages.filter { $0.contains("Subject: New referral: Ada Obi") }.count == 6)
        }
    }

    @Test("webhooks are signed with HMAC-SHA256, retried with backoff after a failure, and logged")
    func webhooks() async throws {
        let receiver = try await WebhookReceiver(failing: 1)
        defer { receiver.stop() }
        let clock = VirtualClock()
        try await withTestApplication(configure: { $0.now = clock.function; $0.deliveryInterval = nil }) { app in
            let (source, target, refer) = try await network(app)
            let hook = try await app.request(
                .post, "/v1/webhooks", token: source.admin.token, json: #"{"url":"\#(receiver.url)","events":["referral.accept"]}"#)
            let secret = try #require(hook.json?["secret"] as? String)
            #expect(try await app.request(.post, "/v1/webhooks", token: source.admin.token, json: #"{"url":"\#(receiver.url)","events":["lead.sneeze"]}"#).errorCode == "validation_failed")
            let lead = try await refer()
            _ = try await app.request(.post, "/v1/leads/\(lead)/actions/contact", token: target.users[0].token, json: "{}")
            _ = try await app.request(.post, "/v1/leads/\(lead)/actions/accept", token: target.users[0].token, json: "{}")
            let delivery = OutboxDeliveryService(
                database: app.fixtures.database, smtp: nil, retry: RetryPolicy(base: 60, cap: 600, maximumAttempts: 3), now: clock.function)

            // The first call fails; the retry waits for its backoff.
            _ = try await delivery.deliverDue()
            #expect(receiver.calls.count == 1)
            clock.advance(by: 30)
            _ = try await delivery.deliverDue()
            #expect(receiver.calls.count == 1)
            clock.advance(by: 31)
            _ = try await delivery.deliverDue()
            #expect(receiver.calls.count == 2)
            clock.advance(by: 3600)
            _ = try await delivery.deliverDue()
            #expect(receiver.calls.count == 2)

            // Only the subscribed event was sent; both attempts carry one delivery id and a valid signature.
            let calls = receiver.calls
            #expect(calls.allSatisfy { $0.headers[HTTPField.Name("X-HubNet-Event")!] == "referral.accept" })
            #expect(Set(calls.compactMap { $0.headers[HTTPField.Name("X-HubNet-Delivery")!] }).count == 1)
            for call in calls {
                #expect(call.headers[HTTPField.Name("X-HubNet-Signature")!] == "sha256=" + OutboxDeliveryService.signature(call.body, secret: secret))
                #expect(call.body.contains(#""status":"accepted""#))
            }
            let log = try #require((try await app.request(.get, "/v1/deliveries", token: source.admin.token)).json?["items"] as? [[String: Any]])
            // Emails have no relay here: they wait and retry; the webhook's two attempts are logged.
            let webhookOutcomes = log.filter { $0["channel"] as? String == "webhook" }.compactMap { $0["outcome"] as? String }
            #expect(webhookOutcomes == ["delivered", "retrying"])
        }
    }

    @Test("referral.received: the receiving organisation's webhook hears of each new referral once, with the referral and its copy, however many of its people are invited")
    func referralReceivedWebhook() async throws {
        let receiver = try await WebhookReceiver()
        defer { receiver.stop() }
        try await withTestApplication(configure: { $0.deliveryInterval = nil }) { app in
            let sourcing = try await app.fixtures.tenant(.sourcingCompany, name: "Source Co", users: [[.partnerUser]])
            let partner = try await app.fixtures.tenant(.partnerCompany, name: "Partner Co", users: [[.partnerUser], [.partnerUser]])
            let hook = try await app.request(
                .post, "/v1/webhooks", token: partner.admin.token, json: #"{"url":"\#(receiver.url)","events":["referral.received"]}"#)
            let secret = try #require(hook.json?["secret"] as? String, "\(hook.text)")
            // The source subscribes too: a referral it makes is not "received" by it.
            _ = try await app.request(
                .post, "/v1/webhooks", token: sourcing.admin.token, json: #"{"url":"\#(receiver.url)","events":["referral.received"]}"#)
            var made: [(referral: String, copy: String)] = []
            for _ in 0..<2 {
                let created = try await app.request(.post, "/v1/leads", token: sourcing.users[0].token, json: PrivacyTests.leadBody())
                let lead = try #require(created.json?["id"] as? String, "\(created.text)")
                let referral = try await app.request(
                    .post, "/v1/leads/\(lead)/referrals", token: sourcing.users[0].token, json: #"{"partner_id":"\#(partner.tenant.id)"}"#)
                let id = try #require(referral.json?["id"] as? String, "\(referral.text)")
                made.append((id, try #require(referral.json?["target_lead_id"] as? String)))
            }
            let delivery = OutboxDeliveryService(database: app.fixtures.database, smtp: nil, now: { Date() })
            _ = try await delivery.deliverDue()
            let calls = receiver.calls
            // Two referrals, three people invited to each: two calls, not six.
            #expect(calls.count == 2, "\(calls.map(\.body))")
            var bodies: [[String: Any]] = []
            for call in calls {
                #expect(call.headers[HTTPField.Name("X-HubNet-Event")!] == "referral.received")
                #expect(call.headers[HTTPField.Name("X-HubNet-Signature")!] == "sha256=" + OutboxDeliveryService.signature(call.body, secret: secret))
                bodies.append(try #require(try JSONSerialization.jsonObject(with: Data(call.body.utf8)) as? [String: Any]))
            }
            #expect(Set(bodies.compactMap { $0["referral_id"] as? String }) == Set(made.map { $0.referral.lowercased() }))
            #expect(Set(bodies.compactMap { $0["lead_id"] as? String }) == Set(made.map { $0.copy.lowercased() }))
            // The status is the copy's, as the partner reads it.
            let copy = try await app.request(.get, "/v1/leads/\(made[0].copy)", token: partner.admin.token)
            let status = try #require(copy.json?["status"] as? String, "\(copy.text)")
            #expect(bodies.allSatisfy { $0["status"] as? String == status })
        }
    }

    @Test("two delivery services on one database, as two server processes, send each message once")
    func twoProcesses() async throws {
        let receiver = try await WebhookReceiver()
        defer { receiver.stop() }
        try await withTestApplication(configure: { $0.deliveryInterval = nil }) { app in
            let (source, target, refer) = try await network(app)
            _ = try await app.request(.post, "/v1/webhooks", token: source.admin.token, json: #"{"url":"\#(receiver.url)","events":["referral.contact"]}"#)
            for _ in 0..<12 {
                let lead = try await refer()
                _ = try await app.request(.post, "/v1/leads/\(lead)/actions/contact", token: target.users[0].token, json: "{}")
            }
            let database = app.fixtures.database
            let delivered = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<2 { group.addTask { try await OutboxDeliveryService(database: database, smtp: nil, now: { Date() }).deliverDue() } }
                return try await group.reduce(0, +)
            }
            #expect(delivered == 12)
            #expect(receiver.calls.count == 12)
            #expect(Set(receiver.calls.compactMap { $0.headers[HTTPField.Name("X-HubNet-Delivery")!] }).count == 12)
        }
    }

    @Test("a tenant's emails in a pass are locked, sent and recorded together: 18 emails to 6 people cost the statements of 3, each delivered once and logged")
    func tenantEmailsInOneTransaction() async throws {
        let smtp = try await SMTPReceiver()
        defer { smtp.stop() }
        try await withTestApplication(configure: { $0.deliveryInterval = nil }) { app in
            let database = app.fixtures.database
            let start = Date()
            func pass(emails: Int) async throws -> (delivered: Int, statements: Int) {
                let hub = try await app.fixtures.tenant(.hub, users: [[.moderator]])
                try await database.withTenant(hub.tenant.id) { transaction in
                    for index in 0..<emails {
                        try await PostgresOutboxRepository(logger: database.logger).enqueueEmail(
                            event: "lead.reminder", to: "person\(index % 6)@\(hub.tenant.id).test", subject: "Notice \(index)", body: "Body \(index).\n",
                            now: start.addingTimeInterval(Double(index)), in: transaction)
                    }
                }
                let delivery = OutboxDeliveryService(
                    database: database, smtp: SMTPClient(host: "127.0.0.1", port: smtp.port, from: "hubnet@test.local"),
                    now: { start.addingTimeInterval(60) })
                let counter = StatementCount()
                let delivered = try await StatementCount.$current.withValue(counter) { try await delivery.deliverDue(concurrency: 1) }
                let log = try await database.withTenant(hub.tenant.id) { transaction in
                    try await transaction.connection.query("SELECT outcome, attempt FROM deliveries", logger: database.logger)
                        .collect().map { try $0.decode((String, Int).self) }
                }
                #expect(log.count == emails && log.allSatisfy { $0 == ("delivered", 1) })
                return (delivered, counter.value)
            }
            let few = try await pass(emails: 3)
            let many = try await pass(emails: 18)
            #expect(few.delivered == 3 && many.delivered == 18)
            #expect(few.statements == many.statements, "3 emails: \(few.statements) statements, 18: \(many.statements)")
            #expect(many.statements <= 9, "the scan's transaction and one of the tenant's: \(many.statements)")
            #expect(smtp.messages.count == 21)
            #expect(Set(smtp.messages.compactMap { $0.firstMatch(of: /Message-ID: <([^@>]+)@hubnet>/).map { String($0.1) } }).count == 21)
        }
    }

    @Test("a delivery pass sends to several recipients at once, each recipient's messages in the order they were queued, each once")
    func concurrentPassKeepsEachRecipientsOrder() async throws {
        let smtp = try await SMTPReceiver()
        defer { smtp.stop() }
        try await withTestApplication(configure: { $0.deliveryInterval = nil }) { app in
            let hub = try await app.fixtures.tenant(.hub, users: [[.moderator]])
            let database = app.fixtures.database
            let start = Date()
            let recipients = (1...5).map { "person\($0)@order.test" }
            // Interleaved: message 1 to everyone, then message 2 to everyone, …, each a second later.
            try await database.withTenant(hub.tenant.id) { transaction in
                for round in 1...6 {
                    for (index, recipient) in recipients.enumerated() {
                        try await PostgresOutboxRepository(logger: database.logger).enqueueEmail(
                            event: "lead.reminder", to: recipient, subject: "Notice \(round)", body: "Round \(round).\n", now: start.addingTimeInterval(Double(round * 10 + index)), in: transaction)
                    }
                }
            }
            let delivery = OutboxDeliveryService(
                database: database, smtp: SMTPClient(host: "127.0.0.1", port: smtp.port, from: "hubnet@test.local"),
                now: { start.addingTimeInterval(120) })
            #expect(try await delivery.deliverDue(concurrency: 4) == 30)
            #expect(try await delivery.deliverDue(concurrency: 4) == 0)
            let messages = smtp.messages
            #expect(messages.count == 30)
            // Each of the four workers sends its emails through one relay session.
            #expect(smtp.peers.count == 30)
            #expect((1...4).contains(Set(smtp.peers).count), "\(Set(smtp.peers))")
            for recipient in recipients {
                let subjects = messages.filter { $0.contains("To: <\(recipient)>") }.compactMap { message in
                    message.split(whereSeparator: \.isNewline).first { $0.hasPrefix("Subject: ") }.map { String($0.dropFirst(9)) }
                }
                #expect(subjects == (1...6).map { "Notice \($0)" }, "\(recipient)")
            }
        }
    }
}

extension NotificationTests {
    @Test(
        "a pass's emails share one relay session; a recipient the relay refuses fails on its own, the session goes on after RSET; with a relay that offers PIPELINING each envelope goes in one write",
        arguments: [false, true])
    func oneSessionPerWorkerAndRefusalsStayAlone(pipelining: Bool) async throws {
        let smtp = try await SMTPReceiver(refusing: ["nobody@refused.test"], pipelining: pipelining)
        defer { smtp.stop() }
        try await withTestApplication(configure: { $0.deliveryInterval = nil }) { app in
            let hub = try await app.fixtures.tenant(.hub, users: [[.moderator]])
            let database = app.fixtures.database
            let start = Date()
            let recipients = ["first@session.test", "nobody@refused.test", "third@session.test", "fourth@session.test"]
            try await database.withTenant(hub.tenant.id) { transaction in
                for (index, recipient) in recipients.enumerated() {
                    try await PostgresOutboxRepository(logger: database.logger).enqueueEmail(
                        event: "lead.reminder", to: recipient, subject: "Notice \(index)", body: "For \(recipient).\n", now: start.addingTimeInterval(Double(index)), in: transaction)
                }
            }
            let delivery = OutboxDeliveryService(
                database: database, smtp: SMTPClient(host: "127.0.0.1", port: smtp.port, from: "hubnet@test.local"),
                now: { start.addingTimeInterval(60) })
            #expect(try await delivery.deliverDue(concurrency: 1) == 3)
            let messages = smtp.messages
            #expect(messages.count == 3)
            #expect(messages.allSatisfy { !$0.contains("To: <nobody@refused.test>") })
            // One connection for all four, and a clean slate after the refusal.
            let peers = Set(smtp.peers)
            #expect(peers.count == 1, "\(peers)")
            #expect(smtp.transcript.contains("REFUSED nobody@refused.test"))
            #expect(smtp.transcript.components(separatedBy: "RSET ").count - 1 == 1)
            // Four envelopes, the refused one too: sent in one write each only when the relay offers it.
            #expect(smtp.pipelinedEnvelopes == Array(repeating: pipelining, count: 4))
            // The refused email waits for its retry with the relay's answer; the others are delivered.
            let rows = try await database.withTenant(hub.tenant.id) { transaction in
                try await transaction.connection.query(
                    "SELECT recipient, attempts, delivered_at IS NOT NULL, failed_at IS NULL, last_error FROM outbox ORDER BY created_at",
                    logger: database.logger
                ).collect().map { try $0.decode((String, Int, Bool, Bool, String?).self) }
            }
            #expect(rows.map(\.0) == recipients)
            #expect(rows.map(\.1) == [1, 1, 1, 1])
            #expect(rows.map(\.2) == [true, false, true, true])
            #expect(rows.map(\.3) == [true, true, true, true])
            let error = try #require(rows[1].4)
            #expect(error.contains("550"), "\(error)")
            let log = try await database.withTenant(hub.tenant.id) { transaction in
                try await transaction.connection.query("SELECT outcome FROM deliveries ORDER BY at, outcome", logger: database.logger)
                    .collect().map { try $0.decode(String.self) }
            }
            #expect(log.sorted() == ["delivered", "delivered", "delivered", "retrying"])
        }
    }
}

@Suite("Act from the email", .serialized)
struct EmailActionTests {
    func links(in message: String) -> [String: String] {
        var found: [String: String] = [:]
        for line in message.split(whereSeparator: \.isNewline) {
            for label in ["Accept", "Decline"] where line.hasPrefix("\(label): ") {
                if let range = line.range(of: "/v1/email-actions/") { found[label] = String(line[range.lowerBound...]) }
            }
        }
        return found
    }

    @Test("a partner accepts from the email's signed link, once; used, altered and expired links get a clear page")
    func actFromEmail() async throws {
        let smtp = try await SMTPReceiver()
        defer { smtp.stop() }
        let clock = VirtualClock()
        let relay = SMTPClient(host: "127.0.0.1", port: smtp.port, from: "hubnet@test.local")
        try await withTestApplication(configure: { $0.now = clock.function; $0.smtp = relay; $0.deliveryInterval = nil; $0.timerInterval = nil }) { app in
            let sourcing = try await app.fixtures.tenant(.sourcingCompany, users: [[.partnerUser]])
            let partner = try await app.fixtures.tenant(.partnerCompany, users: [[.partnerUser], [.viewer]])
            let delivery = OutboxDeliveryService(database: app.fixtures.database, smtp: relay, now: clock.function)
            func refer(_ name: String) async throws -> String {
                let lead = try #require((try await app.request(.post, "/v1/leads", token: sourcing.users[0].token, json: #"{"contact":{"name":"\#(name)","email":"x@y.test"},"consent":{"scope":"kind","kind":"partner_company","purpose":"referral","method":"written"}}"#)).json?["id"] as? String)
                let referral = try await app.request(.post, "/v1/leads/\(lead)/referrals", token: sourcing.users[0].token, json: #"{"partner_id":"\#(partner.tenant.id)"}"#)
                return try #require(referral.json?["id"] as? String)
            }
            let referral = try await refer("Ola")
            _ = try await delivery.deliverDue()
            // The partner's user and admin may answer; the viewer gets no links.
            let invitations = smtp.messages.filter { $0.contains("Subject: New referral: Ola") }
            #expect(invitations.count == 2)
            #expect(!invitations.contains { $0.contains(partner.users[1].user.email) })
            let mine = try #require(invitations.first { $0.contains("To: <\(partner.users[0].user.email)>") })
            let urls = links(in: mine)
            let accept = try #require(urls["Accept"])
            let decline = try #require(urls["Decline"])

            let page = try await app.request(.get, accept)
            #expect(page.status == .ok)
            #expect(page.text.contains("<form method=\"post\""))
            let done = try await app.request(.post, accept)
            #expect(done.status == .ok)
            #expect(done.text.contains("is now Accepted"))
            #expect((try await app.request(.get, "/v1/referrals/\(referral)", token: sourcing.users[0].token)).json?["status"] as? String == "accepted")
            let again = try await app.request(.post, accept)
            #expect(again.status == .gone)
            #expect(again.text.contains("already used"))
            let late = try await app.request(.post, decline, json: nil)
            #expect(late.status == .conflict)
            var tampered = accept
            tampered.removeLast()
            tampered.append(accept.hasSuffix("0") ? "1" : "0")
            let forged = try await app.request(.get, tampered)
            #expect(forged.status == .notFound)
            #expect(forged.text.contains("not valid"))

            // A decline needs its reason; links expire.
            _ = try await refer("Pia")
            _ = try await delivery.deliverDue()
            let second = try #require(smtp.messages.first { $0.contains("Subject: New referral: Pia") && $0.contains("To: <\(partner.users[0].user.email)>") })
            let declineLink = try #require(links(in: second)["Decline"])
            var form = HTTPFields()
            form[.contentType] = "application/x-www-form-urlencoded"
            #expect(try await app.request(.post, declineLink, json: "reason=", headers: form).status == .unprocessableContent)
            let declined = try await app.request(.post, declineLink, json: "reason=Too+far+away", headers: form)
            #expect(declined.text.contains("is now Declined"))
            _ = try await refer("Quin")
            _ = try await delivery.deliverDue()
            let third = try #require(smtp.messages.first { $0.contains("Subject: New referral: Quin") && $0.contains("To: <\(partner.users[0].user.email)>") })
            clock.advance(by: 8 * 86_400)
            let expired = try await app.request(.get, try #require(links(in: third)["Accept"]))
            #expect(expired.status == .gone)
            #expect(expired.text.contains("expired"))
        }
    }

    @Test("000: every person of the target who may answer gets one invitation with links of their own: the admin's accept acts as the admin")
    func invitationsPerPerson() async throws {
        let smtp = try await SMTPReceiver()
        defer { smtp.stop() }
        let relay = SMTPClient(host: "127.0.0.1", port: smtp.port, from: "hubnet@test.local")
        try await withTestApplication(configure: { $0.smtp = relay; $0.deliveryInterval = nil; $0.timerInterval = nil }) { app in
            let sourcing = try await app.fixtures.tenant(.sourcingCompany, users: [[.partnerUser]])
            let partner = try await app.fixtures.tenant(.partnerCompany, users: [[.partnerUser], [.partnerUser], [.viewer]])
            let delivery = OutboxDeliveryService(database: app.fixtures.database, smtp: relay, now: { Date() })
            let lead = try #require((try await app.request(.post, "/v1/leads", token: sourcing.users[0].token, json: #"{"contact":{"name":"Rafa","email":"r@y.test"},"consent":{"scope":"kind","kind":"partner_company","purpose":"referral","method":"written"}}"#)).json?["id"] as? String)
            let referral = try await app.request(.post, "/v1/leads/\(lead)/referrals", token: sourcing.users[0].token, json: #"{"partner_id":"\#(partner.tenant.id)"}"#)
            let copy = try #require(referral.json?["target_lead_id"] as? String, "\(referral.text)")
            _ = try await delivery.deliverDue()

            let invitations = smtp.messages.filter { $0.contains("Subject: New referral: Rafa") }
            let answering = [partner.admin, partner.users[0], partner.users[1]]
            #expect(invitations.count == answering.count)
            for person in answering {
                #expect(invitations.filter { $0.contains("To: <\(person.user.email)>") }.count == 1, "one invitation for \(person.user.email)")
            }
            let everyLink = invitations.flatMap { links(in: $0).values }
            #expect(everyLink.count == 2 * answering.count && Set(everyLink).count == everyLink.count, "each link is its own")

            let admins = try #require(invitations.first { $0.contains("To: <\(partner.admin.user.email)>") })
            #expect(try await app.request(.post, try #require(links(in: admins)["Accept"])).status == .ok)
            let history = try #require(
                try await app.request(.get, "/v1/leads/\(copy)/history", token: partner.admin.token).json?["items"] as? [[String: Any]])
            let last = try #require(history.last)
            #expect(last["action"] as? String == "accept")
            #expect(last["actor_user_id"] as? String == partner.admin.user.id.description, "\(last)")
        }
    }
}

@Suite("Assignment notices and inactivity reminders", .serialized)
struct ReminderTests {
    @Test("002: the assigned rep is emailed, and reminded after the stage's days without action, again while nothing happens")
    func remindersPerStage() async throws {
        let smtp = try await SMTPReceiver()
        defer { smtp.stop() }
        let clock = VirtualClock()
        let relay = SMTPClient(host: "127.0.0.1", port: smtp.port, from: "hubnet@test.local")
        try await withTestApplication(configure: { $0.now = clock.function; $0.deliveryInterval = nil; $0.timerInterval = nil }) { app in
            let company = try await app.fixtures.tenant(.partnerCompany, users: [[.partnerUser], [.partnerUser]])
            let token = company.users[0].token
            let rep = company.users[1].user
            let timers = LeadTimerService(database: app.fixtures.database, now: clock.function)
            let delivery = OutboxDeliveryService(database: app.fixtures.database, smtp: relay, now: clock.function)
            let lead = try #require((try await app.request(.post, "/v1/leads", token: token, json: #"{"template":"staged_pipeline","contact":{"name":"Rey","email":"rey@x.test"}}"#)).json?["id"] as? String)
            #expect(try await app.request(.post, "/v1/leads/\(lead)/actions/assign", token: token, json: "{}").errorCode == "assignee_required")
            let assigned = try await app.request(.post, "/v1/leads/\(lead)/actions/assign", token: token, json: #"{"assignee_id":"\#(rep.id)"}"#)
            #expect(assigned.json?["assigned_user_id"] as? String == rep.id.description)
            _ = try await delivery.deliverDue()
            #expect(smtp.messages.filter { $0.contains("To: <\(rep.email)>") && $0.contains("Subject: A lead needs your attention: Rey") }.count == 1)

            clock.advance(by: 1 * 86_400)
            #expect(try await timers.sendDueReminders() == 0)
            clock.advance(by: 1 * 86_400 + 60)
            #expect(try await timers.sendDueReminders() == 1)
            #expect(try await timers.sendDueReminders() == 0)
            clock.advance(by: 2 * 86_400 + 60)
            #expect(try await timers.sendDueReminders() == 1)
            // An action restarts the count, now with the next stage's ten days.
            _ = try await app.request(.post, "/v1/leads/\(lead)/actions/move_to_next_stage", token: token, json: "{}")
            clock.advance(by: 3 * 86_400)
            #expect(try await timers.sendDueReminders() == 0)
            clock.advance(by: 8 * 86_400)
            #expect(try await timers.sendDueReminders() == 1)
            _ = try await delivery.deliverDue()
            let reminders = smtp.messages.filter { $0.contains("To: <\(rep.email)>") && $0.contains("Subject: Reminder: Rey is waiting in") }
            #expect(reminders.count == 3)
            #expect(reminders.last?.contains("waiting in Negotiation") == true)
        }
    }
}
