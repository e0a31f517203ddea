import Crypto
import Foundation
import HTTPTypes
import HubNetCore
import HubNetPostgres
import HubNetServer
import HubNetTestSupport
import HummingbirdTesting
import Logging
import PostgresNIO
import Testing

/// Privacy across tenants, on PostgreSQL with a real SMTP receiver: consent before a person's
/// details cross, withdrawal and expiry, duplicate matching by keyed hashes, the access log and
/// the subject access export.
@Suite("Privacy across tenants")
struct PrivacyTests {
    static let person = (name: "Rosa Quintero", email: "Rosa.Quintero@bakery.test", phone: "+1 (510) 555-0142")

    static func leadBody(consent: String? = nil) -> String {
        let consentPart = consent.map { #","consent":\#($0)"# } ?? ""
        return #"{"contact":{"name":"\#(person.name)","email":"\#(person.email)","phone":"\#(person.phone)","city":"Fresno","region":"CA"},"request":"Help with a bakery lease"\#(consentPart)}"#
    }

    /// A sourcing company, a partner company (user + admin) and a lead; returns the lead's id.
    static func network(_ app: TestApplication, consent: String? = nil) async throws
        -> (sourcing: TenantFixture, partner: TenantFixture, lead: String)
    {
        let sourcing = try await app.fixtures.tenant(.sourcingCompany, name: "Source Co", users: [[.partnerUser]])
        let partner = try await app.fixtures.tenant(.partnerCompany, name: "Partner Co", users: [[.partnerUser]])
        let created = try await app.request(.post, "/v1/leads", token: sourcing.users[0].token, json: leadBody(consent: consent))
        #expect(created.status == .created, "\(created.text)")
        return (sourcing, partner, try #require(created.json?["id"] as? String))
    }

    /// Refers the lead to the partner; the referral's JSON.
    static func refer(_ app: TestApplication, _ lead: String, from sourcing: TenantFixture, to partner: TenantFixture) async throws -> [String: Any] {
        let referral = try await app.request(
            .post, "/v1/leads/\(lead)/referrals", token: sourcing.users[0].token, json: #"{"partner_id":"\#(partner.tenant.id)"}"#)
        #expect(referral.status == .created, "\(referral.text)")
        return try #require(referral.json)
    }

    /// The lead records with this id among a device's changes.
    static func leads(in changes: [SyncChange], id: String) -> [SyncLead] {
        changes.compactMap { change -> SyncLead? in
            if case .lead(let lead)? = change.record, lead.id.description == id { return lead }
            return nil
        }
    }

    /// Whether a text holds any of the person's identifying values (in any spelling of the email).
    static func identifies(_ text: String) -> Bool {
        text.contains(person.name) || text.lowercased().contains(person.email.lowercased()) || text.contains("555-0142")
            || text.contains("5105550142")
    }

    @Test("consent: a referral without consent crosses de-identified — API, devices and the invitation email carry no name, email or phone")
    func withoutConsentDeidentified() async throws {
        let smtp = try await SMTPReceiver()
        defer { smtp.stop() }
        let relay = SMTPClient(host: "127.0.0.1", port: smtp.port, from: "hubnet@test.local")
        try await withTestApplication(configure: { $0.smtp = relay; $0.deliveryInterval = nil }) { app in
            let (sourcing, partner, lead) = try await Self.network(app)
            let device = try await SyncTestDevice.register(app, as: partner.users[0])
            let referral = try await Self.refer(app, lead, from: sourcing, to: partner)
            let copyID = try #require(referral["target_lead_id"] as? String)

            let copy = try await app.request(.get, "/v1/leads/\(copyID)", token: partner.users[0].token)
            #expect(copy.status == .ok)
            #expect(copy.json?["identity_withheld"] as? Bool == true)
            let contact = try #require(copy.json?["contact"] as? [String: Any])
            #expect(contact["name"] as? String == LeadDetails.withheldName)
            #expect(contact["email"] == nil && contact["phone"] == nil)
            // The need and the area cross.
            #expect(contact["city"] as? String == "Fresno" && contact["region"] as? String == "CA")
            #expect(copy.json?["request"] as? String == "Help with a bakery lease")
            #expect(!Self.identifies(copy.text))

            let snapshot = try await device.snapshot()
            let records = Self.leads(in: snapshot.changes, id: copyID)
            let record = try #require(records.first)
            #expect(record.name == LeadDetails.withheldName && record.email == nil && record.phone == nil)

            _ = try await OutboxDeliveryService(database: app.fixtures.database, smtp: relay, now: { Date() }).deliverDue()
            let invitations = try await smtp.waitForMessages(count: 2, matching: { $0.contains("Subject: New referral:") })
            #expect(invitations.count == 2)
            #expect(invitations.allSatisfy { !Self.identifies($0) })

            // The source still holds the whole lead; the referral records no consent.
            let own = try await app.request(.get, "/v1/leads/\(lead)", token: sourcing.users[0].token)
            #expect((own.json?["contact"] as? [String: Any])?["name"] as? String == Self.person.name)
            let matches = try await app.request(.get, "/v1/leads/\(lead)/matches", token: sourcing.users[0].token)
            let copies = try #require(matches.json?["referrals"] as? [[String: Any]])
            #expect(copies.map { $0["crossed"] as? String } == ["deidentified"])
        }
    }

    @Test("consent: with a valid consent covering the target the referral crosses whole; one for another organisation, kind or an expired one does not")
    func consentScopes() async throws {
        let clock = VirtualClock()
        try await withTestApplication(configure: { $0.now = clock.function; $0.timerInterval = nil }) { app in
            let sourcing = try await app.fixtures.tenant(.sourcingCompany, users: [[.partnerUser]])
            let partner = try await app.fixtures.tenant(.partnerCompany, users: [[.partnerUser]])
            let other = try await app.fixtures.tenant(.partnerCompany)
            let token = sourcing.users[0].token
            let past = Timestamp.rfc3339(clock.now - 3 * 86_400)
            let yesterday = Timestamp.rfc3339(clock.now - 86_400)
            let cases: [(String, Bool)] = [
                (#"{"scope":"organisation","organisation_id":"\#(partner.tenant.id)","purpose":"referral","method":"written"}"#, true),
                (#"{"scope":"kind","kind":"partner_company","purpose":"referral","method":"verbal"}"#, true),
                (#"{"scope":"network","purpose":"referral","method":"electronic"}"#, true),
                (#"{"scope":"organisation","organisation_id":"\#(other.tenant.id)","purpose":"referral","method":"written"}"#, false),
                (#"{"scope":"kind","kind":"hub","purpose":"referral","method":"written"}"#, false),
                (#"{"scope":"network","purpose":"referral","method":"written","obtained_at":"\#(past)","expires_at":"\#(yesterday)"}"#, false),
            ]
            for (consent, whole) in cases {
                let created = try await app.request(.post, "/v1/leads", token: token, json: Self.leadBody(consent: consent))
                #expect(created.status == .created, "\(created.text)")
                let lead = try #require(created.json?["id"] as? String)
                let referral = try await Self.refer(app, lead, from: sourcing, to: partner)
                let copy = try await app.request(.get, "/v1/leads/\(try #require(referral["target_lead_id"] as? String))", token: partner.users[0].token)
                let name = (copy.json?["contact"] as? [String: Any])?["name"] as? String
                #expect(name == (whole ? Self.person.name : LeadDetails.withheldName), "\(consent)")
                #expect(copy.json?["identity_withheld"] as? Bool == !whole, "\(consent)")
            }
            // Consents are checked at the boundary, naming the field.
            let bad: [(String, String)] = [
                (#"{"scope":"organisation","purpose":"x","method":"written"}"#, "consent.organisation_id"),
                (#"{"scope":"kind","kind":"bank","purpose":"x","method":"written"}"#, "consent.kind"),
                (#"{"scope":"galaxy","purpose":"x","method":"written"}"#, "consent.scope"),
                (#"{"scope":"network","purpose":"","method":"written"}"#, "consent.purpose"),
                (#"{"scope":"network","purpose":"x","method":"telepathy"}"#, "consent.method"),
                (#"{"scope":"network","purpose":"x","method":"written","obtained_at":"2999-01-01T00:00:00Z"}"#, "consent.obtained_at"),
                (#"{"scope":"network","purpose":"x","method":"written","obtained_at":"\#(yesterday)","expires_at":"\#(past)"}"#, "consent.expires_at"),
            ]
            for (consent, field) in bad {
                let refused = try await app.request(.post, "/v1/leads", token: token, json: Self.leadBody(consent: consent))
                #expect(refused.status == .unprocessableContent, "\(consent) \(refused.text)")
                #expect((refused.json?["error"] as? [String: Any])?["field"] as? String == field, "\(consent)")
            }
            // A refused consent leaves no lead behind (one transaction): six leads from the cases above.
            let list = try await app.request(.get, "/v1/leads?limit=50", token: token)
            #expect((list.json?["items"] as? [Any])?.count == cases.count)
        }
    }

    @Test("consent: withdrawal de-identifies the target's copy, replaces it on the target's devices and emails the target")
    func withdrawal() async throws {
        let smtp = try await SMTPReceiver()
        defer { smtp.stop() }
        let relay = SMTPClient(host: "127.0.0.1", port: smtp.port, from: "hubnet@test.local")
        try await withTestApplication(configure: { $0.smtp = relay; $0.deliveryInterval = nil }) { app in
            let (sourcing, partner, lead) = try await Self.network(
                app, consent: #"{"scope":"network","purpose":"referral","method":"written"}"#)
            let device = try await SyncTestDevice.register(app, as: partner.users[0])
            let referral = try await Self.refer(app, lead, from: sourcing, to: partner)
            let copyID = try #require(referral["target_lead_id"] as? String)
            let before = try await device.snapshot()
            #expect(before.changes.contains { if case .lead(let l)? = $0.record { l.name == Self.person.name } else { false } })

            let consents = try #require((try await app.request(.get, "/v1/leads/\(lead)/consents", token: sourcing.users[0].token)).json?["items"] as? [[String: Any]])
            #expect(consents.count == 1 && consents[0]["valid"] as? Bool == true)
            let consent = try #require(consents[0]["id"] as? String)
            // The target cannot withdraw the source's consent: it is not its lead's.
            #expect(try await app.request(.post, "/v1/leads/\(copyID)/consents/\(consent)/withdraw", token: partner.users[0].token).status == .notFound)
            // While another valid consent covers the partner, withdrawing one keeps the copy whole.
            let second = try await app.request(
                .post, "/v1/leads/\(lead)/consents", token: sourcing.users[0].token,
                json: #"{"scope":"organisation","organisation_id":"\#(partner.tenant.id)","purpose":"referral","method":"verbal"}"#)
            let secondID = try #require(second.json?["id"] as? String)
            let kept = try await app.request(.post, "/v1/leads/\(lead)/consents/\(consent)/withdraw", token: sourcing.users[0].token)
            #expect(kept.status == .ok, "\(kept.text)")
            #expect(kept.json?["redacted_copies"] as? Int == 0)
            #expect(((try await app.request(.get, "/v1/leads/\(copyID)", token: partner.users[0].token)).json?["contact"] as? [String: Any])?["name"] as? String == Self.person.name)
            let withdrawn = try await app.request(.post, "/v1/leads/\(lead)/consents/\(secondID)/withdraw", token: sourcing.users[0].token)
            #expect(withdrawn.status == .ok, "\(withdrawn.text)")
            #expect(withdrawn.json?["redacted_copies"] as? Int == 1)

            let copy = try await app.request(.get, "/v1/leads/\(copyID)", token: partner.users[0].token)
            #expect(copy.json?["identity_withheld"] as? Bool == true)
            #expect(!Self.identifies(copy.text))
            let after = try await device.pullAll(before.cursor)
            let pulled = Self.leads(in: after.changes, id: copyID)
            let updated = try #require(pulled.last)
            #expect(updated.name == LeadDetails.withheldName && updated.email == nil && updated.phone == nil)
            // A fresh snapshot agrees with what the device pulled.
            let fresh = try await device.snapshot()
            #expect(!fresh.changes.contains { if case .lead(let l)? = $0.record { Self.identifies(l.name) } else { false } })

            _ = try await OutboxDeliveryService(database: app.fixtures.database, smtp: relay, now: { Date() }).deliverDue()
            let notices = try await smtp.waitForMessages(count: 2, matching: { $0.contains("Subject: Consent was withdrawn") })
            #expect(notices.count == 2)  // the partner user and the partner's admin
            #expect(notices.allSatisfy { !Self.identifies($0) })
            // Withdrawing twice changes nothing more.
            let again = try await app.request(.post, "/v1/leads/\(lead)/consents/\(secondID)/withdraw", token: sourcing.users[0].token)
            #expect(again.json?["redacted_copies"] as? Int == 0)
        }
    }

    @Test("consent: expiry on the virtual clock de-identifies the copy once, in the timer pass")
    func expiry() async throws {
        let clock = VirtualClock()
        try await withTestApplication(configure: { $0.now = clock.function; $0.timerInterval = nil; $0.deliveryInterval = nil }) { app in
            let expires = Timestamp.rfc3339(clock.now + 86_400)
            let (sourcing, partner, lead) = try await Self.network(
                app, consent: #"{"scope":"kind","kind":"partner_company","purpose":"referral","method":"written","expires_at":"\#(expires)"}"#)
            let copyID = try #require(try await Self.refer(app, lead, from: sourcing, to: partner)["target_lead_id"] as? String)
            let timers = LeadTimerService(database: app.fixtures.database, now: clock.function)
            #expect(try await timers.lapseConsents() == 0)
            let name: @Sendable () async throws -> String? = {
                ((try await app.request(.get, "/v1/leads/\(copyID)", token: partner.users[0].token)).json?["contact"] as? [String: Any])?["name"] as? String
            }
            #expect(try await name() == Self.person.name)
            clock.advance(by: 86_400 + 1)
            #expect(try await timers.lapseConsents() == 1)
            #expect(try await timers.lapseConsents() == 0)
            #expect(try await name() == LeadDetails.withheldName)
            let consents = try #require((try await app.request(.get, "/v1/leads/\(lead)/consents", token: sourcing.users[0].token)).json?["items"] as? [[String: Any]])
            #expect(consents.first?["valid"] as? Bool == false)
            // A new referral after expiry crosses de-identified too: decline, then refer again.
            _ = try await app.request(.post, "/v1/leads/\(copyID)/actions/decline", token: partner.users[0].token, json: #"{"reason":"not now"}"#)
            let second = try await app.fixtures.tenant(.partnerCompany, users: [[.partnerUser]])
            let again = try await Self.refer(app, lead, from: sourcing, to: second)
            let copy = try await app.request(.get, "/v1/leads/\(try #require(again["target_lead_id"] as? String))", token: second.users[0].token)
            #expect(copy.json?["identity_withheld"] as? Bool == true)
        }
    }

    @Test("consent: the target of a de-identified referral requests consent; the referral's creator is emailed")
    func consentRequest() async throws {
        let smtp = try await SMTPReceiver()
        defer { smtp.stop() }
        let relay = SMTPClient(host: "127.0.0.1", port: smtp.port, from: "hubnet@test.local")
        try await withTestApplication(configure: { $0.smtp = relay; $0.deliveryInterval = nil }) { app in
            let (sourcing, partner, lead) = try await Self.network(app)
            let copyID = try #require(try await Self.refer(app, lead, from: sourcing, to: partner)["target_lead_id"] as? String)
            let asked = try await app.request(.post, "/v1/leads/\(copyID)/consent-request", token: partner.users[0].token)
            #expect(asked.status == .ok, "\(asked.text)")
            // Only a referred copy without consent: the source's own lead is not one.
            #expect(try await app.request(.post, "/v1/leads/\(lead)/consent-request", token: sourcing.users[0].token).errorCode == "not_referred")
            _ = try await OutboxDeliveryService(database: app.fixtures.database, smtp: relay, now: { Date() }).deliverDue()
            let requests = try await smtp.waitForMessages(count: 1, matching: { $0.contains("Subject: Consent requested") })
            #expect(requests.count == 1)
            #expect(requests.first?.contains("To: <\(sourcing.users[0].user.email)>") == true)
            #expect(requests.first?.contains("Partner Co asks for \(Self.person.name)") == true)
        }
    }

    @Test("matching: a lead in another tenant is found by keyed hashes of the normalised email and phone, and none of its fields cross")
    func duplicateMatching() async throws {
        try await withTestApplication { app in
            let first = try await app.fixtures.tenant(.hub, name: "North Hub", users: [[.moderator]])
            let second = try await app.fixtures.tenant(.hub, name: "South Hub", users: [[.moderator]])
            let third = try await app.fixtures.tenant(.partnerCompany, name: "Phone Co", users: [[.partnerUser]])
            let theirs = try #require((try await app.request(
                .post, "/v1/leads", token: first.users[0].token,
                json: #"{"contact":{"name":"Rosa Q. (North)","email":"  ROSA.quintero@Bakery.test ","city":"Visalia"},"request":"North's private request"}"#)).json?["id"] as? String)
            _ = try await app.request(
                .post, "/v1/leads", token: third.users[0].token, json: #"{"contact":{"name":"R. Quintero","phone":"+15105550142"}}"#)
            let ours = try #require((try await app.request(.post, "/v1/leads", token: second.users[0].token, json: Self.leadBody())).json?["id"] as? String)
            let unrelated = try #require((try await app.request(
                .post, "/v1/leads", token: second.users[0].token, json: #"{"contact":{"name":"Someone Else","email":"else@x.test"}}"#)).json?["id"] as? String)

            let matches = try await app.request(.get, "/v1/leads/\(ours)/matches", token: second.users[0].token)
            #expect(matches.status == .ok)
            #expect(matches.json?["known_to_organisations"] as? Int == 2)
            for leaked in ["North", "Visalia", "private request", theirs, first.tenant.id.description, "R. Quintero", third.tenant.id.description] {
                #expect(!matches.text.contains(leaked), "\(leaked)")
            }
            #expect((try await app.request(.get, "/v1/leads/\(unrelated)/matches", token: second.users[0].token)).json?["known_to_organisations"] as? Int == 0)
            // Another tenant's lead answers as a missing one.
            #expect(try await app.request(.get, "/v1/leads/\(theirs)/matches", token: second.users[0].token).status == .notFound)

            // The stored key is HMAC-SHA256 of the normalised value under the network's key, which
            // the server's role cannot read.
            let logger = Logger(label: "test")
            let (secret, key) = try await withPostgresClient(app.database.ownerURL, logger: logger) { client in
                let secret = try await client.rows("SELECT secret FROM network_secrets WHERE name = 'match_key'", logger: logger)
                    .decode(ByteBuffer.self).first
                let key = try await client.rows(
                    "SELECT email_key FROM leads WHERE id = \(try #require(UUID(uuidString: ours)))", logger: logger
                ).decode(ByteBuffer?.self).first
                return (secret, key)
            }
            let secretBytes = Array(buffer: try #require(secret))
            let keyBytes = Array(buffer: try #require(key.flatMap { $0 }))
            let expected = HMAC<SHA256>.authenticationCode(for: Array("email:rosa.quintero@bakery.test".utf8), using: SymmetricKey(data: secretBytes))
            #expect(keyBytes == Array(expected))
            let refused = try await withPostgresClient(app.database.serverURL, logger: logger) { client in
                do {
                    _ = try await client.rows("SELECT secret FROM network_secrets", logger: logger)
                    return false
                } catch { return true }
            }
            #expect(refused)
        }
    }

    @Test("matching: a lead's keys follow its email and phone through edits; an edit of another field leaves them as they are")
    func matchKeysFollowEdits() async throws {
        try await withTestApplication { app in
            let hub = try await app.fixtures.tenant(.hub, name: "North Hub", users: [[.moderator]])
            let token = hub.users[0].token
            let lead = try #require((try await app.request(
                .post, "/v1/leads", token: token,
                json: #"{"contact":{"name":"Rosa Quintero","email":"rosa@bakery.test","phone":"+1 510 555 0142"}}"#)).json?["id"] as? String)
            let id = try #require(UUID(uuidString: lead))
            let logger = Logger(label: "test")
            func keys() async throws -> (secret: [UInt8], email: [UInt8]?, phone: [UInt8]?) {
                try await withPostgresClient(app.database.ownerURL, logger: logger) { client in
                    let secret = try await client.rows("SELECT secret FROM network_secrets WHERE name = 'match_key'", logger: logger)
                        .decode(ByteBuffer.self).first
                    let row = try #require(
                        try await client.rows("SELECT email_key, phone_key FROM leads WHERE id = \(id)", logger: logger)
                            .decode((ByteBuffer?, ByteBuffer?).self).first)
                    return (Array(buffer: try #require(secret)), row.0.map { Array(buffer: $0) }, row.1.map { Array(buffer: $0) })
                }
            }
            func expected(_ text: String, _ secret: [UInt8]) -> [UInt8] {
                Array(HMAC<SHA256>.authenticationCode(for: Array(text.utf8), using: SymmetricKey(data: secret)))
            }

            let created = try await keys()
            #expect(created.email == expected("email:rosa@bakery.test", created.secret))
            #expect(created.phone == expected("phone:+15105550142", created.secret))

            // Another field: the keys are the ones computed at the insert.
            #expect(try await app.request(.patch, "/v1/leads/\(lead)", token: token, json: #"{"contact":{"city":"Berkeley"}}"#).status == .ok)
            let afterCity = try await keys()
            #expect(afterCity.email == created.email && afterCity.phone == created.phone)

            // The email: its key follows, the phone's stays.
            #expect(
                try await app.request(.patch, "/v1/leads/\(lead)", token: token, json: #"{"contact":{"email":"Rosa.Q@Bakery.test"}}"#).status == .ok)
            let afterEmail = try await keys()
            #expect(afterEmail.email == expected("email:rosa.q@bakery.test", created.secret))
            #expect(afterEmail.phone == created.phone)

            // The phone removed: no key; the email's stays.
            #expect(try await app.request(.patch, "/v1/leads/\(lead)", token: token, json: #"{"contact":{"phone":""}}"#).status == .ok)
            let afterPhone = try await keys()
            #expect(afterPhone.phone == nil)
            #expect(afterPhone.email == afterEmail.email)
        }
    }

    @Test("access log: reads of a lead's personal data through the API, the list, a device snapshot and the export are logged per user; only admins read it")
    func accessLog() async throws {
        try await withTestApplication { app in
            let hub = try await app.fixtures.tenant(.hub, users: [[.moderator], [.viewer]])
            let other = try await app.fixtures.tenant(.hub)
            let lead = try #require((try await app.request(.post, "/v1/leads", token: hub.users[0].token, json: Self.leadBody())).json?["id"] as? String)
            _ = try await app.request(.get, "/v1/leads/\(lead)", token: hub.users[1].token)
            _ = try await app.request(.get, "/v1/leads?limit=10", token: hub.users[0].token)
            let device = try await SyncTestDevice.register(app, as: hub.users[0])
            _ = try await device.snapshot()
            let export = try await app.request(.get, "/v1/subject-export?email=rosa.quintero%40bakery.test", token: hub.admin.token)
            #expect(export.status == .ok, "\(export.text)")

            #expect(try await app.request(.get, "/v1/leads/\(lead)/access-log", token: hub.users[0].token).status == .forbidden)
            #expect(try await app.request(.get, "/v1/leads/\(lead)/access-log", token: other.admin.token).status == .notFound)
            let log = try #require((try await app.request(.get, "/v1/leads/\(lead)/access-log", token: hub.admin.token)).json?["items"] as? [[String: Any]])
            let seen = log.map { "\($0["channel"] as? String ?? "?") \($0["user_id"] as? String ?? "-")" }
            #expect(seen == [
                "api \(hub.users[1].user.id)", "list \(hub.users[0].user.id)", "snapshot \(hub.users[0].user.id)", "export \(hub.admin.user.id)",
            ])
            #expect(log[2]["device_id"] as? String != nil)

            // Append-only: the server's role can neither change nor delete an entry.
            let logger = Logger(label: "test")
            for statement: PostgresQuery in ["UPDATE lead_access_log SET channel = 'api'", "DELETE FROM lead_access_log"] {
                let refused = try await withPostgresClient(app.database.serverURL, logger: logger) { client in
                    do {
                        _ = try await client.rows(statement, logger: logger)
                        return false
                    } catch { return true }
                }
                #expect(refused, "\(statement.sql)")
            }
        }
    }

    @Test("export: everything the tenant holds about one person, with every copy, where it went, when and under which consent")
    func subjectExport() async throws {
        try await withTestApplication { app in
            let (sourcing, partner, lead) = try await Self.network(app)
            let second = try await app.fixtures.tenant(.partnerCompany, name: "Second Partner", users: [[.partnerUser]])
            let token = sourcing.users[0].token
            _ = try await app.request(.post, "/v1/leads/\(lead)/notes", token: token, json: #"{"body":"Prefers mornings"}"#)
            // First referral without consent; declined; consent to the second partner; referred again.
            let first = try await Self.refer(app, lead, from: sourcing, to: partner)
            _ = try await app.request(
                .post, "/v1/leads/\(try #require(first["target_lead_id"] as? String))/actions/decline", token: partner.users[0].token,
                json: #"{"reason":"full"}"#)
            let consent = try await app.request(
                .post, "/v1/leads/\(lead)/consents", token: token,
                json: #"{"scope":"organisation","organisation_id":"\#(second.tenant.id)","purpose":"lease advice","method":"written"}"#)
            #expect(consent.status == .created, "\(consent.text)")
            let secondReferral = try await Self.refer(app, lead, from: sourcing, to: second)
            // An unrelated lead of the same tenant stays out.
            _ = try await app.request(.post, "/v1/leads", token: token, json: #"{"contact":{"name":"Other","email":"other@x.test"}}"#)

            // The same person by phone, in another spelling.
            let export = try await app.request(.get, "/v1/subject-export?phone=%2B1%20510%20555%200142", token: sourcing.admin.token)
            #expect(export.status == .ok, "\(export.text)")
            let leads = try #require(export.json?["leads"] as? [[String: Any]])
            #expect(leads.count == 1)
            let entry = try #require(leads.first)
            #expect(((entry["lead"] as? [String: Any])?["contact"] as? [String: Any])?["name"] as? String == Self.person.name)
            #expect((entry["notes"] as? [[String: Any]])?.map { $0["body"] as? String } == ["Prefers mornings"])
            #expect((entry["consents"] as? [[String: Any]])?.count == 1)
            let copies = try #require(entry["copies"] as? [[String: Any]])
            #expect(copies.map { $0["organisation_name"] as? String } == ["Partner Co", "Second Partner"])
            #expect(copies.map { $0["crossed"] as? String } == ["withdrawn", "whole"])
            #expect(copies[1]["consent_id"] as? String == consent.json?["id"] as? String)
            #expect(copies[1]["referral_id"] as? String == secondReferral["id"] as? String)
            #expect((entry["history"] as? [Any])?.isEmpty == false)
            // Only admins export; a person nobody holds gives an empty export, not an error.
            #expect(try await app.request(.get, "/v1/subject-export?email=rosa.quintero%40bakery.test", token: token).status == .forbidden)
            let none = try await app.request(.get, "/v1/subject-export?email=nobody%40x.test", token: sourcing.admin.token)
            #expect((none.json?["leads"] as? [Any])?.count == 0)
            #expect(try await app.request(.get, "/v1/subject-export", token: sourcing.admin.token).errorCode == "validation_failed")
        }
    }
}

extension PrivacyTests {
    @Test("minimisation: the source sees status, dates and outcome of its referral field by field alike through the API, device snapshot and pull, and never the target's notes or activities")
    func sourceViewThroughEachPath() async throws {
        try await withTestApplication { app in
            let (sourcing, partner, lead) = try await Self.network(app, consent: #"{"scope":"network","purpose":"referral","method":"written"}"#)
            let token = sourcing.users[0].token
            let device = try await SyncTestDevice.register(app, as: sourcing.users[0])
            let start = try await device.snapshot()
            let referral = try await Self.refer(app, lead, from: sourcing, to: partner)
            let referralID = try #require(referral["id"] as? String)
            let copy = try #require(referral["target_lead_id"] as? String)
            let partnerToken = partner.users[0].token
            _ = try await app.request(.post, "/v1/leads/\(copy)/notes", token: partnerToken, json: #"{"body":"PRIVATE-NOTE of the partner"}"#)
            _ = try await app.request(.post, "/v1/leads/\(copy)/activities", token: partnerToken, json: #"{"kind":"call","title":"PRIVATE-ACTIVITY"}"#)
            #expect(try await app.request(.post, "/v1/leads/\(copy)/actions/accept", token: partnerToken, json: "{}").status == .ok)

            // The three paths, read raw.
            let api = try await app.request(.get, "/v1/referrals/\(referralID)", token: token)
            let escaped = start.cursor.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(.init(charactersIn: ".-"))) ?? start.cursor
            let pull = try await app.request(.get, "/v1/sync/pull?cursor=\(escaped)&limit=1000", token: device.token)
            let snapshot = try await app.request(.get, "/v1/sync/snapshot?limit=1000", token: device.token)
            let history = try await app.request(.get, "/v1/referrals/\(referralID)/history", token: token)
            for response in [api, pull, snapshot, history] {
                #expect(response.status == .ok)
                #expect(!response.text.contains("PRIVATE-"), "\(response.text)")
            }
            func records(_ response: TestResponse) -> [[String: Any]] {
                (response.json?["changes"] as? [[String: Any]] ?? []).filter { $0["entity"] as? String == "referral" && $0["id"] as? String == referralID }
                    .compactMap { $0["data"] as? [String: Any] }
            }
            let pulled = try #require(records(pull).last)
            let snapped = try #require(records(snapshot).last)
            let shown = try #require(api.json)
            // Field by field: the devices' records carry exactly the policy's fields (less the
            // withdrawal, which reaches a device as a delete); the API the same, plus its buttons.
            let allowed = VisibilityPolicy.sourceReferralFields
            #expect(Set(pulled.keys) == allowed.subtracting(["withdrawn_at"]))
            #expect(Set(snapped.keys) == Set(pulled.keys))
            #expect(Set(shown.keys).subtracting(["available_actions"]).isSubset(of: allowed))
            #expect((shown["available_actions"] as? [Any])?.isEmpty == true)
            func value(_ record: [String: Any], _ key: String) -> String {
                guard let value = record[key], !(value is NSNull) else { return "-" }
                return "\(value)"
            }
            for key in ["status", "status_name", "life_cycle", "stage", "reason"] {
                #expect(value(pulled, key) == value(shown, key), "\(key)")
                #expect(value(snapped, key) == value(shown, key), "\(key)")
            }
            #expect(value(shown, "status") == "accepted")
            let acceptedMicros = try #require(pulled["accepted_at"] as? Int64 ?? (pulled["accepted_at"] as? NSNumber)?.int64Value)
            let acceptedText = try #require(shown["accepted_at"] as? String)
            #expect(Timestamp.rfc3339(micros: acceptedMicros).prefix(19) == acceptedText.prefix(19))
            // No record of the target's lead, notes or activities reaches the source's device.
            for change in (pull.json?["changes"] as? [[String: Any]] ?? []) + (snapshot.json?["changes"] as? [[String: Any]] ?? []) {
                #expect(change["id"] as? String != copy && change["lead_id"] as? String != copy, "\(change)")
            }
            // The source's own calls for the target's notes and activities answer as for a missing lead.
            #expect(try await app.request(.get, "/v1/leads/\(copy)/notes", token: token).status == .notFound)
            #expect(try await app.request(.get, "/v1/leads/\(copy)/activities", token: token).status == .notFound)
        }
    }
}

extension PrivacyTests {
    @Test("consent: the public lead form collects it (method lead_form); the hub's referral to another hub then crosses whole, and without it de-identified")
    func leadFormConsent() async throws {
        try await withTestApplication { app in
            let hub = try await app.fixtures.tenant(.hub, users: [[.moderator]], listings: [ListingDraft(name: "Front desk", serviceAreas: ["X"])])
            let other = try await app.fixtures.tenant(.hub, users: [[.moderator]], listings: [ListingDraft(name: "Other desk", serviceAreas: ["X"])])
            let moderator = hub.users[0].token
            for (consent, whole) in [(#","consent":{"scope":"kind","kind":"hub","purpose":"find advice","method":"written"}"#, true), ("", false)] {
                let body = #"{"name":"\#(Self.person.name)","email":"\#(Self.person.email)","city":"Fresno"\#(consent)}"#
                let submitted = try await app.request(.post, "/v1/public/listings/\(hub.listings[0].id)/leads", json: body)
                #expect(submitted.status == .accepted || submitted.status == .created || submitted.status == .ok, "\(submitted.text)")
                let items = try #require((try await app.request(.get, "/v1/leads?sort=-created_at&limit=1", token: moderator)).json?["items"] as? [[String: Any]])
                let lead = try #require(items.first?["id"] as? String)
                let consents = try #require((try await app.request(.get, "/v1/leads/\(lead)/consents", token: moderator)).json?["items"] as? [[String: Any]])
                #expect(consents.map { $0["method"] as? String } == (whole ? ["lead_form"] : []))
                #expect(consents.first?["recorded_by"] == nil)
                let referred = try await app.request(
                    .post, "/v1/leads/\(lead)/actions/refer_external", token: moderator, json: #"{"listing_id":"\#(other.listings[0].id)"}"#)
                #expect(referred.status == .ok, "\(referred.text)")
                let received = try #require((try await app.request(.get, "/v1/leads?sort=-created_at&limit=1", token: other.users[0].token)).json?["items"] as? [[String: Any]])
                let name = (received.first?["contact"] as? [String: Any])?["name"] as? String
                #expect(name == (whole ? Self.person.name : LeadDetails.withheldName))
            }
            // A bad consent on the form is refused whole, naming the field, and stores no lead.
            let before = try #require((try await app.request(.get, "/v1/leads?limit=100", token: moderator)).json?["items"] as? [Any]).count
            let refused = try await app.request(
                .post, "/v1/public/listings/\(hub.listings[0].id)/leads", json: #"{"name":"X","email":"x@y.test","consent":{"scope":"kind","kind":"moon","purpose":"p"}}"#)
            #expect((refused.json?["error"] as? [String: Any])?["field"] as? String == "consent.kind")
            #expect(try #require((try await app.request(.get, "/v1/leads?limit=100", token: moderator)).json?["items"] as? [Any]).count == before)
        }
    }
}

extension PrivacyTests {
    @Test("access log: a person's page of the lead in the web console is logged as a console read")
    func consoleRead() async throws {
        let smtp = try await SMTPReceiver()
        defer { smtp.stop() }
        let clock = TestClock()
        try await withTestApplication(configure: ConsoleTests.configure(smtp, clock)) { app in
            let partner = try await app.fixtures.tenant(.partnerCompany, users: [[.partnerUser]])
            let lead = try await app.createLead(token: partner.users[0].token)
            var browser = try await ConsoleTests.signIn(app, smtp: smtp, email: partner.users[0].user.email, now: clock.function)
            let alone = try await ConsoleTests.get(app, "/leads/\(lead)", &browser)
            #expect(alone.status == .ok)
            #expect(!alone.text.contains("Known to"))
            // The same person's email at two other organisations: the page says so, and nothing more.
            for kind in [Tenant.Kind.hub, .sourcingCompany] {
                let other = try await app.fixtures.tenant(kind, users: [[kind == .hub ? .moderator : .partnerUser]])
                _ = try await app.createLead(token: other.users[0].token, name: "Someone Elsewhere")
            }
            let page = try await ConsoleTests.get(app, "/leads/\(lead)", &browser)
            #expect(page.text.contains("<dt>Known to</dt><dd>2 other organisations</dd>"), "\(page.text)")
            #expect(!page.text.contains("Someone Elsewhere"))
            let log = try #require((try await app.request(.get, "/v1/leads/\(lead)/access-log", token: partner.admin.token)).json?["items"] as? [[String: Any]])
            #expect(log.map { $0["channel"] as? String } == ["console", "console"])
            #expect(log.first?["user_id"] as? String == partner.users[0].user.id.description)
        }
    }
}
