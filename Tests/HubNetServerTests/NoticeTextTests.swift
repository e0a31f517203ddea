import Foundation
import HubNetCore
import HubNetPostgres
import HubNetServer
import HubNetTestSupport
import HummingbirdTesting
import Logging
import PostgresNIO
import Testing

/// A tenant's own text for a notice of the catalog (`MessageTemplate.notice`): its people's emails
/// of that notice are written in it; everyone else's stay in the catalog's text.
@Suite("Notice texts of a tenant")
struct NoticeTextTests {
    /// Every email of `event` in the outbox: recipient, subject and body, read as the owner.
    static func emails(_ app: TestApplication, event: String) async throws -> [(recipient: String, subject: String, body: String)] {
        let logger = Logger(label: "notice-texts")
        return try await withPostgresClient(app.database.ownerURL, logger: logger) { client in
            try await client.rows(
                "SELECT recipient, subject, body FROM outbox WHERE event = \(event) AND channel = 'email' ORDER BY recipient, subject",
                logger: logger
            ).decode((String, String, String).self).map { ($0, $1, $2) }
        }
    }

    static func lead(_ name: String) -> String { #"{"contact":{"name":"\#(name)","email":"\#(name.lowercased().prefix(3))@notice.test"}}"# }

    @Test("a partner's own text for a new referral is what its people receive, another partner's people get the catalog's, the source hears of a decline in its own text, and deleting the text brings the catalog's back")
    func ownTextReplacesTheCatalogs() async throws {
        try await withTestApplication { app in
            let source = try await app.fixtures.tenant(.sourcingCompany, users: [[.partnerUser]])
            let spanish = try await app.fixtures.tenant(.partnerCompany, users: [[.partnerUser]])
            let plain = try await app.fixtures.tenant(.partnerCompany, users: [[.partnerUser]])
            let received = try await app.request(
                .post, "/v1/message-templates", token: spanish.admin.token,
                json: ##"{"name":"Nueva derivación","channel":"email","subject":"Nueva derivación: #lead.name","body":"#source.name le deriva a #lead.name.\n\n#answer.links","notice":"referral_received"}"##)
            #expect(received.status == .created, "\(received.text)")
            #expect(received.json?["notice"] as? String == "referral_received")
            let receivedID = try #require(received.json?["id"] as? String)
            let update = try await app.request(
                .post, "/v1/message-templates", token: source.admin.token,
                json: ##"{"name":"Su derivación","channel":"email","subject":"#lead.name: #lead.status en #hub.name","body":"#action.reason (#lead.city)","notice":"referral_update"}"##)
            #expect(update.status == .created, "\(update.text)")

            let token = source.users[0].token
            let toSpanish = try #require(try await app.request(.post, "/v1/leads", token: token, json: Self.lead("Ana Ortega")).json?["id"] as? String)
            let toPlain = try #require(try await app.request(.post, "/v1/leads", token: token, json: Self.lead("Ben Plain")).json?["id"] as? String)
            #expect(try await app.request(.post, "/v1/leads/\(toSpanish)/referrals", token: token, json: #"{"partner_id":"\#(spanish.tenant.id)"}"#).status == .created)
            #expect(try await app.request(.post, "/v1/leads/\(toPlain)/referrals", token: token, json: #"{"partner_id":"\#(plain.tenant.id)"}"#).status == .created)

            let invitations = try await Self.emails(app, event: "referral.received")
            let spanishEmail = try #require(invitations.first { $0.recipient == spanish.users[0].user.email })
            // No consent covers the person crossing: the partner knows the lead by the placeholder.
            let withheld = LeadDetails.withheldName
            #expect(spanishEmail.subject == "Nueva derivación: \(withheld)")
            #expect(spanishEmail.body.hasPrefix("\(source.tenant.name) le deriva a \(withheld).\n\nAccept: "), "\(spanishEmail.body)")
            #expect(spanishEmail.body.contains("Decline: "))
            let plainEmail = try #require(invitations.first { $0.recipient == plain.users[0].user.email })
            #expect(plainEmail.subject == "New referral: \(withheld)")
            // Every person of the partner (its admin too) gets its text; nobody else does.
            #expect(invitations.filter { $0.subject.hasPrefix("Nueva") }.map(\.recipient) == [spanish.admin.user.email, spanish.users[0].user.email].sorted())

            // The partner declines: its source's creator hears of it in the source's own text.
            let copy = try #require((try await app.request(.get, "/v1/leads", token: spanish.users[0].token)).json?["items"] as? [[String: Any]])
            let copyID = try #require(copy.first?["id"] as? String)
            let declined = try await app.request(
                .post, "/v1/leads/\(copyID)/actions/decline", token: spanish.users[0].token, json: #"{"reason":"fuera de zona"}"#)
            #expect(declined.status == .ok, "\(declined.text)")
            let updates = try await Self.emails(app, event: "referral.decline")
            #expect(updates.map(\.recipient) == [source.users[0].user.email])
            #expect(updates.first?.subject == "Ana Ortega: Declined en \(spanish.tenant.name)")
            #expect(updates.first?.body == "Reason: fuera de zona ()")

            // The catalog lists the notice with the partner's template; without it, the catalog's text again.
            let notices = try #require(try await app.request(.get, "/v1/notices", token: spanish.admin.token).json?["items"] as? [[String: Any]])
            #expect(notices.count == NoticeCatalog.all.count)
            #expect(notices.first { $0["key"] as? String == "referral_received" }?["template_id"] as? String == receivedID)
            #expect(notices.filter { $0["template_id"] != nil }.count == 1)
            #expect(notices.first { $0["key"] as? String == "reminder" }?["tags"] as? [String] == ["#lead.name", "#reminder.days", "#stage.name"])
            #expect(try await app.request(.delete, "/v1/message-templates/\(receivedID)", token: spanish.admin.token).status == .noContent)
            let third = try #require(try await app.request(.post, "/v1/leads", token: token, json: Self.lead("Cal Third")).json?["id"] as? String)
            #expect(try await app.request(.post, "/v1/leads/\(third)/referrals", token: token, json: #"{"partner_id":"\#(spanish.tenant.id)"}"#).status == .created)
            let after = try await Self.emails(app, event: "referral.received").filter { $0.recipient == spanish.users[0].user.email }
            #expect(after.map(\.subject) == ["New referral: \(withheld)", "Nueva derivación: \(withheld)"])
        }
    }

    @Test("a text for a notice names a notice of the catalog, is an email, uses only the tags that notice is given, and is one per notice")
    func noticeTextsAreChecked() async throws {
        try await withTestApplication { app in
            let hub = try await app.fixtures.tenant(.hub, users: [])
            let token = hub.admin.token
            func save(_ json: String) async throws -> TestResponse { try await app.request(.post, "/v1/message-templates", token: token, json: json) }
            let unknown = try await save(#"{"name":"a","channel":"email","subject":"s","body":"b","notice":"birthday"}"#)
            #expect(unknown.status == .unprocessableContent && unknown.errorField == "notice", "\(unknown.text)")
            let webhook = try await save(#"{"name":"b","channel":"webhook","body":"b","notice":"reminder"}"#)
            #expect(webhook.status == .unprocessableContent && webhook.errorField == "channel", "\(webhook.text)")
            // A reminder is given the lead's name, its stage and the days: not its city.
            let city = try await save(##"{"name":"c","channel":"email","subject":"#lead.name","body":"in #lead.city","notice":"reminder"}"##)
            #expect(city.status == .unprocessableContent && city.errorField == "body", "\(city.text)")
            #expect(city.text.contains("#lead.city"))
            let reminder = try await save(##"{"name":"d","channel":"email","subject":"Recordatorio: #lead.name","body":"#reminder.days días en #stage.name","notice":"reminder"}"##)
            #expect(reminder.status == .created, "\(reminder.text)")
            let again = try await save(##"{"name":"e","channel":"email","subject":"#lead.name","body":"x","notice":"reminder"}"##)
            #expect(again.status == .conflict && again.errorCode == "notice_text_taken", "\(again.text)")
            // A template of its own (no notice) keeps every lead tag; a referral update's text may use them too.
            #expect(try await save(##"{"name":"f","channel":"email","subject":"#lead.name","body":"in #lead.city"}"##).status == .created)
            #expect(try await save(##"{"name":"g","channel":"email","subject":"#lead.name","body":"in #lead.city","notice":"referral_update"}"##).status == .created)
            let listed = try #require(try await app.request(.get, "/v1/message-templates", token: token).json?["items"] as? [[String: Any]])
            #expect(listed.compactMap { $0["notice"] as? String }.sorted() == ["referral_update", "reminder"])
            // The API description names exactly the catalog's notices.
            let document = try #require(try await app.request(.get, "/openapi.json").json)
            let schemas = try #require((document["components"] as? [String: Any])?["schemas"] as? [String: Any])
            let notice = try #require(((schemas["MessageTemplate"] as? [String: Any])?["properties"] as? [String: Any])?["notice"] as? [String: Any])
            let named = try #require(notice["enum"] as? [Any]).compactMap { $0 as? String }
            #expect(named == NoticeCatalog.all.map(NoticeCatalog.key(of:)))
        }
    }
}
