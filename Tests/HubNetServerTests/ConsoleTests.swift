import Foundation
import HTTPTypes
import HubNetCore
import HubNetServer
import HubNetTestSupport
import HummingbirdTesting
import NIOCore
import PropertyBased
import Testing

/// The web console through the real router, database and a real SMTP receiver: sign-in by email
/// link, sessions, form tokens, and pages that show what the API's rules allow. The browser test
/// (`scripts/browser-test`) drives the same pages in Chromium.
@Suite("Web console", .serialized)
struct ConsoleTests {
    /// A browser's state: its cookie and the last page's form token.
    struct Browser {
        var cookie: String?
        var csrf: String?

        mutating func remember(_ response: TestResponse) {
            if let set = response.headers[.setCookie], let pair = set.split(separator: ";").first {
                let value = pair.split(separator: "=", maxSplits: 1).last.map(String.init) ?? ""
                cookie = value.isEmpty ? nil : "hubnet_session=\(value)"
            }
            if let range = response.text.range(of: #"name="csrf" value="([^"]+)""#, options: .regularExpression) {
                let match = response.text[range]
                csrf = match.split(separator: "\"").dropFirst(3).first.map(String.init)
            }
        }
    }

    static func form(_ fields: [(String, String)]) -> String {
        fields.map { name, value in
            let allowed = CharacterSet.alphanumerics.union(.init(charactersIn: "-._~"))
            return name + "=" + (value.addingPercentEncoding(withAllowedCharacters: allowed) ?? "")
        }.joined(separator: "&")
    }

    static func get(_ app: TestApplication, _ path: String, _ browser: inout Browser) async throws -> TestResponse {
        var headers = HTTPFields()
        if let cookie = browser.cookie { headers[.cookie] = cookie }
        let response = try await app.client.execute(uri: path, method: .get, headers: headers, body: nil)
        browser.remember(response)
        return response
    }

    static func post(_ app: TestApplication, _ path: String, _ fields: [(String, String)], _ browser: inout Browser) async throws
        -> TestResponse
    {
        var headers = HTTPFields()
        headers[.contentType] = "application/x-www-form-urlencoded"
        if let cookie = browser.cookie { headers[.cookie] = cookie }
        let response = try await app.client.execute(
            uri: path, method: .post, headers: headers, body: ByteBuffer(string: form(fields)))
        browser.remember(response)
        return response
    }

    /// Asks for a link, delivers the outbox to the receiver, and returns the links mailed to `email`.
    static func mailedLinks(
        _ app: TestApplication, smtp: SMTPReceiver, email: String, to recipient: String? = nil, now: @escaping @Sendable () -> Date
    ) async throws -> [String] {
        var browser = Browser()
        let before = smtp.messages.count
        let answer = try await post(app, "/sign-in", [("email", email)], &browser)
        #expect(answer.status == .ok)
        let delivery = OutboxDeliveryService(
            database: app.fixtures.database, smtp: SMTPClient(host: "127.0.0.1", port: smtp.port, from: "hubnet@test.local"), now: now)
        let delivered = try await delivery.deliverDue()
        let waiting = try await InputFuzzTests.count(
            app, "SELECT count(*)::INTEGER FROM outbox WHERE delivered_at IS NULL AND event = 'console.sign_in'")
        #expect(waiting == 0, "a sign-in email was not delivered (\(delivered) were)")
        return smtp.messages.dropFirst(before).filter { $0.contains("To: <\(recipient ?? email)>") }.compactMap { message in
            message.range(of: #"hnl_[A-Za-z0-9_-]+"#, options: .regularExpression).map { String(message[$0]) }
        }
    }

    static func signIn(_ app: TestApplication, smtp: SMTPReceiver, email: String, now: @escaping @Sendable () -> Date) async throws
        -> Browser
    {
        let link = try #require(try await mailedLinks(app, smtp: smtp, email: email, now: now).first)
        var browser = Browser()
        let opened = try await post(app, "/sign-in/link", [("token", link)], &browser)
        #expect(opened.status == .seeOther)
        #expect(opened.headers[.location] == "/leads")
        return browser
    }

    static func configure(_ smtp: SMTPReceiver, _ clock: TestClock) -> @Sendable (inout ServerConfiguration) -> Void {
        { configuration in
            configuration.smtp = SMTPClient(host: "127.0.0.1", port: smtp.port, from: "hubnet@test.local")
            configuration.deliveryInterval = nil
            configuration.timerInterval = nil
            configuration.testClock = clock
        }
    }

    @Test("sign-in: the emailed link works once, within 15 minutes, and opens a HttpOnly SameSite=Lax session")
    func signInLink() async throws {
        let smtp = try await SMTPReceiver()
        defer { smtp.stop() }
        let clock = TestClock()
        try await withTestApplication(configure: Self.configure(smtp, clock)) { app in
            let hub = try await app.fixtures.tenant(.hub, name: "Link Hub", users: [[.moderator]])
            let email = hub.users[0].user.email
            // Typed in another case, the address still finds the account; the mail goes to the address as the account has it.
            #expect(try await Self.mailedLinks(app, smtp: smtp, email: email.uppercased(), now: clock.function).isEmpty)
            #expect(smtp.messages.count == 1)
            let link = try #require(try await Self.mailedLinks(app, smtp: smtp, email: email, now: clock.function).first)
            let message = try #require(smtp.messages.last)
            #expect(message.contains("Subject: Sign in to HubNet: Link Hub"))
            #expect(message.contains("http://127.0.0.1:8080/sign-in/link?token=\(link)"))

            // Opening the link only shows a button: a mail scanner following it spends nothing.
            var browser = Browser()
            let shown = try await Self.get(app, "/sign-in/link?token=\(link)", &browser)
            #expect(shown.status == .ok)
            #expect(shown.text.contains(#"id="continue""#))

            let opened = try await Self.post(app, "/sign-in/link", [("token", link)], &browser)
            #expect(opened.status == .seeOther)
            let cookie = try #require(opened.headers[.setCookie])
            #expect(cookie.hasPrefix("hubnet_session=hns_"))
            #expect(cookie.contains("HttpOnly"))
            #expect(cookie.contains("SameSite=Lax"))
            #expect(!cookie.contains("Secure"), "served over plain HTTP here")
            let table = try await Self.get(app, "/leads", &browser)
            #expect(table.status == .ok)
            #expect(table.text.contains(hub.users[0].user.displayName))

            // Used once: the same link again is refused, and so is a link past its 15 minutes.
            var other = Browser()
            #expect(try await Self.post(app, "/sign-in/link", [("token", link)], &other).status == .gone)
            #expect(other.cookie == nil)
            let late = try #require(try await Self.mailedLinks(app, smtp: smtp, email: email, now: clock.function).first)
            _ = try clock.advance(by: 15 * 60 + 1)
            #expect(try await Self.post(app, "/sign-in/link", [("token", late)], &other).status == .gone)
            // A forged link (right shape, wrong secret) is refused the same way.
            let forged = String(late.dropLast(4)) + "AAAA"
            #expect(try await Self.post(app, "/sign-in/link", [("token", forged)], &other).status == .gone)
            #expect(other.cookie == nil)

            // A delivered link's text does not stay in the outbox.
            let bodies = try await InputFuzzTests.count(
                app, "SELECT count(*)::INTEGER FROM outbox WHERE event = 'console.sign_in' AND body LIKE '%hnl_%' AND delivered_at IS NOT NULL")
            #expect(bodies == 0)
        }
    }

    @Test("sign-in: the form answers alike for unknown and deactivated addresses and mails nothing to them")
    func signInDoesNotTell() async throws {
        let smtp = try await SMTPReceiver()
        defer { smtp.stop() }
        let clock = TestClock()
        try await withTestApplication(configure: Self.configure(smtp, clock)) { app in
            let hub = try await app.fixtures.tenant(.hub, users: [[.moderator], [.advisor]])
            _ = try await app.request(.delete, "/v1/users/\(hub.users[1].user.id)", token: hub.admin.token)
            var browser = Browser()
            let known = try await Self.post(app, "/sign-in", [("email", hub.users[0].user.email)], &browser)
            let unknown = try await Self.post(app, "/sign-in", [("email", "nobody@nowhere.test")], &browser)
            let deactivated = try await Self.post(app, "/sign-in", [("email", hub.users[1].user.email)], &browser)
            func stripped(_ text: String, _ email: String) -> String { text.replacingOccurrences(of: email, with: "…") }
            #expect(stripped(known.text, hub.users[0].user.email) == stripped(unknown.text, "nobody@nowhere.test"))
            #expect(stripped(deactivated.text, hub.users[1].user.email) == stripped(unknown.text, "nobody@nowhere.test"))
            #expect(try await InputFuzzTests.count(app, "SELECT count(*)::INTEGER FROM outbox WHERE event = 'console.sign_in'") == 1)
            #expect(try await InputFuzzTests.count(app, "SELECT count(*)::INTEGER FROM console_sign_in_links") == 1)
            let bad = try await Self.post(app, "/sign-in", [("email", "not an address")], &browser)
            #expect(bad.status == .unprocessableContent)
        }
    }

    @Test("sign-in: attempts are limited to 5 a minute per email and 20 per client address, then 429 with Retry-After and no link")
    func signInRateLimited() async throws {
        let smtp = try await SMTPReceiver()
        defer { smtp.stop() }
        let clock = TestClock()
        try await withTestApplication(configure: Self.configure(smtp, clock)) { app in
            let hub = try await app.fixtures.tenant(.hub, users: [[.moderator]])
            var browser = Browser()
            var statuses: [Int] = []
            for _ in 0..<7 {
                statuses.append(try await Self.post(app, "/sign-in", [("email", hub.users[0].user.email)], &browser).status.code)
            }
            #expect(statuses == [200, 200, 200, 200, 200, 429, 429])
            #expect(try await InputFuzzTests.count(app, "SELECT count(*)::INTEGER FROM console_sign_in_links") == 5)
            let refused = try await Self.post(app, "/sign-in", [("email", hub.users[0].user.email)], &browser)
            #expect(Int(refused.headers[.retryAfter] ?? "") != nil)
            // And 20 attempts a minute per client address, whatever the addresses typed: 8 so far.
            var others: [Int] = []
            for index in 0..<13 {
                others.append(try await Self.post(app, "/sign-in", [("email", "other\(index)@x.test")], &browser).status.code)
            }
            #expect(others == Array(repeating: 200, count: 12) + [429])
            _ = try clock.advance(by: 60)
            #expect(try await Self.post(app, "/sign-in", [("email", "later@x.test")], &browser).status == .ok, "a new minute, a new allowance")
        }
    }

    @Test("a console form without its session's form token is refused with 403 and changes nothing")
    func csrf() async throws {
        let smtp = try await SMTPReceiver()
        defer { smtp.stop() }
        let clock = TestClock()
        try await withTestApplication(configure: Self.configure(smtp, clock)) { app in
            let partner = try await app.fixtures.tenant(.partnerCompany, users: [[.partnerUser]])
            let lead = try await app.createLead(token: partner.users[0].token)
            var browser = try await Self.signIn(app, smtp: smtp, email: partner.users[0].user.email, now: clock.function)
            _ = try await Self.get(app, "/leads/\(lead)", &browser)
            let token = try #require(browser.csrf)
            let missing = try await Self.post(app, "/leads/\(lead)/actions/accept", [], &browser)
            let wrong = try await Self.post(app, "/leads/\(lead)/actions/accept", [("csrf", String(token.reversed()))], &browser)
            #expect(missing.status == .forbidden)
            #expect(wrong.status == .forbidden)
            let state = try await app.request(.get, "/v1/leads/\(lead)", token: partner.users[0].token)
            #expect(state.json?["status"] as? String == "pending")
            #expect(try await InputFuzzTests.count(app, "SELECT count(*)::INTEGER FROM lead_history WHERE action = 'accept'") == 0)
            // With it, the same form acts, and the page then shows the new status.
            let done = try await Self.post(app, "/leads/\(lead)/actions/accept", [("csrf", token)], &browser)
            #expect(done.status == .seeOther)
            let after = try await app.request(.get, "/v1/leads/\(lead)", token: partner.users[0].token)
            #expect(after.json?["status"] as? String == "accepted")
        }
    }

    @Test("the lead page shows exactly the engine's buttons for this user; a refusal is shown, not applied")
    func buttons() async throws {
        let smtp = try await SMTPReceiver()
        defer { smtp.stop() }
        let clock = TestClock()
        try await withTestApplication(configure: Self.configure(smtp, clock)) { app in
            let partner = try await app.fixtures.tenant(.partnerCompany, users: [[.partnerUser], [.viewer]])
            let lead = try await app.createLead(token: partner.users[0].token)
            for user in partner.users {
                var browser = try await Self.signIn(app, smtp: smtp, email: user.user.email, now: clock.function)
                let page = try await Self.get(app, "/leads/\(lead)", &browser)
                #expect(page.status == .ok)
                let shown = Set(Self.matches(#"id="act-([a-z_]+)""#, in: page.text))
                let api = try await app.request(.get, "/v1/leads/\(lead)", token: user.token)
                let allowed = Set(((api.json?["available_actions"] as? [[String: Any]]) ?? []).compactMap { $0["key"] as? String })
                #expect(shown == allowed, "\(user.user.roles)")
                if user.user.roles.contains(.viewer) {
                    #expect(shown.isEmpty)
                    #expect(!page.text.contains(#"name="body""#), "a viewer gets no note form")
                } else {
                    #expect(shown == ["accept", "decline"])
                    #expect(page.text.contains(#"id="reason-decline""#), "decline asks for its reason")
                    // Sent without the reason the form requires (a browser would not; a script can).
                    let refused = try await Self.post(app, "/leads/\(lead)/actions/decline", [("csrf", browser.csrf ?? "")], &browser)
                    #expect(refused.status == .unprocessableContent)
                    #expect(refused.text.contains(#"id="problem""#))
                    let state = try await app.request(.get, "/v1/leads/\(lead)", token: user.token)
                    #expect(state.json?["status"] as? String == "pending")
                }
            }
        }
    }

    @Test("another tenant's lead answers exactly as a missing one, and the table lists only the tenant's leads")
    func isolation() async throws {
        let smtp = try await SMTPReceiver()
        defer { smtp.stop() }
        let clock = TestClock()
        try await withTestApplication(configure: Self.configure(smtp, clock)) { app in
            let mine = try await app.fixtures.tenant(.partnerCompany, users: [[.partnerUser]])
            let theirs = try await app.fixtures.tenant(.partnerCompany, users: [[.partnerUser]])
            let own = try await app.createLead(token: mine.users[0].token)
            let foreign = try await app.createLead(token: theirs.users[0].token)
            var browser = try await Self.signIn(app, smtp: smtp, email: mine.users[0].user.email, now: clock.function)
            let other = try await Self.get(app, "/leads/\(foreign)", &browser)
            let missing = try await Self.get(app, "/leads/\(UUID())", &browser)
            #expect(other.status == .notFound)
            #expect(other.text == missing.text)
            let table = try await Self.get(app, "/leads", &browser)
            #expect(Self.matches(#"data-lead="([0-9a-f-]+)""#, in: table.text) == ["\(own)"])
            // Acting on it is the same 404, and nothing happens to it.
            let act = try await Self.post(app, "/leads/\(foreign)/actions/accept", [("csrf", browser.csrf ?? "")], &browser)
            #expect(act.status == .notFound)
            let state = try await app.request(.get, "/v1/leads/\(foreign)", token: theirs.users[0].token)
            #expect(state.json?["status"] as? String == "pending")
        }
    }

    @Test("lead table: the search and badge filters are the API's, with New badges and keyset pages")
    func table() async throws {
        let smtp = try await SMTPReceiver()
        defer { smtp.stop() }
        let clock = TestClock()
        try await withTestApplication(configure: Self.configure(smtp, clock)) { app in
            let partner = try await app.fixtures.tenant(.partnerCompany, users: [[.partnerUser]])
            let token = partner.users[0].token
            var ids: [String] = []
            for name in ["Ada Obi", "Ben 100%_off", "Cleo Obi"] {
                let created = try await app.request(.post, "/v1/leads", token: token, json: #"{"contact":{"name":"\#(name)","phone":"555-0100"}}"#)
                ids.append(try #require(created.json?["id"] as? String))
            }
            _ = try await app.request(.post, "/v1/leads/\(ids[0])/actions/accept", token: token, json: "{}")
            var browser = try await Self.signIn(app, smtp: smtp, email: partner.users[0].user.email, now: clock.function)
            let found = try await Self.get(app, "/leads?q=obi&status=&template=&badge=", &browser)
            #expect(Self.matches(#"data-lead="([0-9a-f-]+)""#, in: found.text) == [ids[0], ids[2]])
            // LIKE's wildcards are the characters themselves.
            let literal = try await Self.get(app, "/leads?q=%25_", &browser)
            #expect(Self.matches(#"data-lead="([0-9a-f-]+)""#, in: literal.text) == [ids[1]])
            let fresh = try await Self.get(app, "/leads?badge=new", &browser)
            #expect(Self.matches(#"data-lead="([0-9a-f-]+)""#, in: fresh.text) == [ids[1], ids[2]])
            #expect(fresh.text.components(separatedBy: #"class="badge badge-new""#).count - 1 == 2)
            // Keyset pages: two, then one, through the page's own next link.
            let first = try await Self.get(app, "/leads?limit=2", &browser)
            #expect(Self.matches(#"data-lead="([0-9a-f-]+)""#, in: first.text) == [ids[0], ids[1]])
            let next = try #require(Self.matches(#"href="(/leads\?[^"]+)" rel="next""#, in: first.text).first)
            let second = try await Self.get(app, next.replacingOccurrences(of: "&amp;", with: "&"), &browser)
            #expect(Self.matches(#"data-lead="([0-9a-f-]+)""#, in: second.text) == [ids[2]])
            #expect(!second.text.contains(#"rel="next""#))
            // Text is escaped: a name is never markup.
            let named = try await app.request(.post, "/v1/leads", token: token, json: #"{"contact":{"name":"<script>x</script>","phone":"555-0100"}}"#)
            let escaped = try await Self.get(app, "/leads/\(try #require(named.json?["id"] as? String))", &browser)
            #expect(escaped.text.contains("&lt;script&gt;x&lt;/script&gt;"))
            #expect(!escaped.text.contains("<script>x"))
        }
    }

    @Test("sessions: sign out ends one, sign out everywhere ends all of the user's, and a session lasts 12 hours")
    func sessions() async throws {
        let smtp = try await SMTPReceiver()
        defer { smtp.stop() }
        let clock = TestClock()
        try await withTestApplication(configure: Self.configure(smtp, clock)) { app in
            let hub = try await app.fixtures.tenant(.hub, users: [[.moderator]])
            let email = hub.users[0].user.email
            var laptop = try await Self.signIn(app, smtp: smtp, email: email, now: clock.function)
            var phone = try await Self.signIn(app, smtp: smtp, email: email, now: clock.function)
            var desk = try await Self.signIn(app, smtp: smtp, email: email, now: clock.function)
            #expect(try await Self.get(app, "/leads", &laptop).status == .ok)
            #expect(try await Self.get(app, "/leads", &phone).status == .ok)

            let out = try await Self.post(app, "/sign-out", [("csrf", laptop.csrf ?? "")], &laptop)
            #expect(out.status == .seeOther)
            #expect(out.headers[.setCookie]?.contains("Max-Age=0") == true)
            #expect(try await Self.get(app, "/leads", &phone).status == .ok, "signing out one browser leaves the others")

            _ = try await Self.get(app, "/leads", &desk)
            let everywhere = try await Self.post(app, "/sign-out/everywhere", [("csrf", desk.csrf ?? "")], &desk)
            #expect(everywhere.status == .seeOther)
            let after = try await Self.get(app, "/leads", &phone)
            #expect(after.status == .seeOther)
            #expect(after.headers[.location] == "/sign-in")
            // The API token of the same user is a different credential and still works.
            #expect(try await app.request(.get, "/v1/leads", token: hub.users[0].token).status == .ok)

            var later = try await Self.signIn(app, smtp: smtp, email: email, now: clock.function)
            _ = try clock.advance(by: 12 * 3600 - 60)
            #expect(try await Self.get(app, "/leads", &later).status == .ok)
            _ = try clock.advance(by: 120)
            #expect(try await Self.get(app, "/leads", &later).status == .seeOther)
            // A deactivated user's session ends at once.
            var admin = try await Self.signIn(app, smtp: smtp, email: hub.admin.user.email, now: clock.function)
            var moderator = try await Self.signIn(app, smtp: smtp, email: email, now: clock.function)
            #expect(try await Self.get(app, "/leads", &moderator).status == .ok)
            _ = try await app.request(.delete, "/v1/users/\(hub.users[0].user.id)", token: hub.admin.token)
            #expect(try await Self.get(app, "/leads", &moderator).status == .seeOther)
            #expect(try await Self.get(app, "/leads", &admin).status == .ok)
        }
    }

    @Test("console forms: any body to the sign-in forms, the action and note forms answers a page or a refusal, never a 5xx")
    func hostileForms() async throws {
        let smtp = try await SMTPReceiver()
        defer { smtp.stop() }
        let clock = TestClock()
        try await withTestApplication(configure: Self.configure(smtp, clock)) { app in
            let partner = try await app.fixtures.tenant(.partnerCompany, users: [[.partnerUser]])
            let lead = try await app.createLead(token: partner.users[0].token)
            let signedIn = try await Self.signIn(app, smtp: smtp, email: partner.users[0].user.email, now: clock.function)
            var warm = signedIn
            _ = try await Self.get(app, "/leads/\(lead)", &warm)
            let csrf = try #require(warm.csrf)
            let cookie = try #require(warm.cookie)
            let paths = [
                "/sign-in", "/sign-in/link", "/leads/\(lead)/actions/decline", "/leads/\(lead)/actions/accept", "/leads/\(lead)/notes",
                "/leads/\(lead)/activities", "/devices/\(UUID())/revoke",
            ]
            await propertyCheck(count: 150, input: Gen.uint64()) { seed in
                var input = HostileInput(seed: seed)
                let path = input.pick(paths)
                let keys = [
                    "csrf", "email", "token", "reason", "status", "listing_id", "advisor_id", "assignee_id", "create_opportunity", "body",
                    "kind", "title", "due",
                ]
                var fields: [String] = []
                for _ in 0..<input.below(6) {
                    let key = input.pick(keys)
                    let value = key == "csrf" && input.chance(70) ? csrf : input.string()
                    fields.append(input.chance(10) ? value : key + "=" + (input.chance(50) ? value : (value.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")))
                }
                if input.chance(15) { fields.append(input.pick(["%", "%zz", "a[b]=c", "==", "&&", "x=%E0%A4%A", "k[]=1&k[]=2"])) }
                var headers = HTTPFields()
                headers[.contentType] = "application/x-www-form-urlencoded"
                headers[.cookie] = cookie
                let response = try? await app.client.execute(
                    uri: path, method: .post, headers: headers, body: ByteBuffer(string: fields.joined(separator: "&")))
                guard let response else { Issue.record("no answer"); return }
                #expect(response.status.code < 500, "\(path) \(fields) → \(response.status)")
            }
            // Still alive and the session still works.
            var browser = Browser(cookie: cookie)
            #expect(try await Self.get(app, "/leads", &browser).status == .ok)
        }
    }

    @Test("002 stage board: leads in their stage's column, the engine's forward and back moves, which move them")
    func board() async throws {
        let smtp = try await SMTPReceiver()
        defer { smtp.stop() }
        let clock = TestClock()
        try await withTestApplication(configure: Self.configure(smtp, clock)) { app in
            let partner = try await app.fixtures.tenant(.partnerCompany, users: [[.partnerUser]])
            let token = partner.users[0].token
            let created = try await app.request(
                .post, "/v1/leads", token: token, json: #"{"template":"staged_pipeline","contact":{"name":"Deal One","phone":"555-0100"}}"#)
            let lead = try #require(created.json?["id"] as? String)
            var browser = try await Self.signIn(app, smtp: smtp, email: partner.users[0].user.email, now: clock.function)
            let board = try await Self.get(app, "/board?template=staged_pipeline", &browser)
            #expect(board.status == .ok)
            let columns = Self.matches(#"<section class="column" aria-label="([^"]+)">"#, in: board.text)
            #expect(columns == ["Added", "Negotiation", "Legal", "Execution"])
            let added = try #require(board.text.components(separatedBy: #"<section class="column""#).dropFirst().first)
            #expect(added.contains(#"data-lead="\#(lead)""#))
            let moves = Set(Self.matches(#"data-move="([a-z_]+)""#, in: added))
            #expect(moves == ["move_to_next_stage", "move_to_previous_stage"] || moves == ["move_to_next_stage"])
            let api = try await app.request(.get, "/v1/leads/\(lead)", token: token)
            let offered = Set(((api.json?["available_actions"] as? [[String: Any]]) ?? []).compactMap { $0["key"] as? String })
            #expect(moves.isSubset(of: offered))
            let moved = try await Self.post(
                app, "/leads/\(lead)/actions/move_to_next_stage?back=board", [("csrf", browser.csrf ?? "")], &browser)
            #expect(moved.status == .seeOther)
            #expect(moved.headers[.location] == "/board?template=staged_pipeline")
            let after = try await app.request(.get, "/v1/leads/\(lead)", token: token)
            #expect(after.json?["stage"] as? String == "negotiation")
            let again = try await Self.get(app, "/board?template=staged_pipeline", &browser)
            let negotiation = try #require(again.text.components(separatedBy: #"<section class="column""#).dropFirst(2).first)
            #expect(negotiation.contains(#"data-lead="\#(lead)""#))
        }
    }

    @Test("outgoing referrals: the source follows the target's progress, with no button; reports and devices read the API's figures")
    func referralsReportsDevices() async throws {
        let smtp = try await SMTPReceiver()
        defer { smtp.stop() }
        let clock = TestClock()
        try await withTestApplication(configure: Self.configure(smtp, clock)) { app in
            let source = try await app.fixtures.tenant(.hub, name: "Source Hub", users: [[.moderator]])
            let target = try await app.fixtures.tenant(
                .hub, name: "Target Hub", users: [[.moderator]], listings: [ListingDraft(name: "Desk", serviceAreas: ["X"])])
            let lead = try await app.createLead(token: source.users[0].token, name: "Referred Person")
            _ = try await app.request(
                .post, "/v1/leads/\(lead)/actions/refer_external", token: source.users[0].token,
                json: #"{"listing_id":"\#(target.listings[0].id)"}"#)
            var browser = try await Self.signIn(app, smtp: smtp, email: source.users[0].user.email, now: clock.function)
            let before = try await Self.get(app, "/referrals", &browser)
            #expect(before.status == .ok)
            #expect(before.text.contains("Referred Person"))
            #expect(before.text.contains("Target Hub"))
            #expect(!before.text.contains("/actions/"), "the source follows; it has no button")
            let copy = try #require(
                ((try await app.request(.get, "/v1/leads", token: target.users[0].token)).json?["items"] as? [[String: Any]])?.first?["id"]
                    as? String)
            _ = try await app.request(.post, "/v1/leads/\(copy)/actions/accept", token: target.users[0].token, json: "{}")
            let after = try await Self.get(app, "/referrals", &browser)
            let row = try #require(after.text.components(separatedBy: "<tbody>").last)
            #expect(row.contains("<td>Accepted</td>"))

            // Reports: the funnel's figures are the API's; a lead past its expected completion is overdue.
            _ = try clock.advance(by: 6 * 86_400)
            browser = try await Self.signIn(app, smtp: smtp, email: source.users[0].user.email, now: clock.function)
            let report = try await Self.get(app, "/reports?template=hub_moderation", &browser)
            #expect(report.status == .ok)
            let funnel = try await app.request(.get, "/v1/reports/funnel?template=hub_moderation", token: source.users[0].token)
            for status in (funnel.json?["statuses"] as? [[String: Any]]) ?? [] {
                let name = try #require(status["name"] as? String)
                let count = try #require(status["count"] as? Int)
                #expect(report.text.contains("<tr><th scope=\"row\">\(name)</th><td>\(count)</td></tr>"), "\(name)")
            }
            #expect(report.text.contains("<svg id=\"funnel\""))
            let overdue = try await app.request(.get, "/v1/reports/overdue", token: source.users[0].token)
            let overdueTotal = try #require(overdue.json?["total"] as? Int)
            #expect(report.text.contains("Overdue (\(overdueTotal))"))

            // Devices: listed, and revoked from the console (its token stops at once).
            let registered = try await app.request(.post, "/v1/devices", token: source.users[0].token, json: #"{"name":"Field phone"}"#)
            let deviceID = try #require((registered.json?["device"] as? [String: Any])?["id"] as? String)
            let deviceToken = try #require(registered.json?["token"] as? String)
            let listed = try await Self.get(app, "/devices", &browser)
            #expect(listed.text.contains("Field phone"))
            #expect(try await app.request(.get, "/v1/sync/pull", token: deviceToken).status != .unauthorized)
            let revoked = try await Self.post(app, "/devices/\(deviceID)/revoke", [("csrf", browser.csrf ?? "")], &browser)
            #expect(revoked.status == .seeOther)
            #expect(try await app.request(.get, "/v1/sync/pull", token: deviceToken).status == .unauthorized)
            // Another tenant's device answers as a missing one.
            let other = try await app.request(.post, "/v1/devices", token: target.users[0].token, json: #"{"name":"Theirs"}"#)
            let otherID = try #require((other.json?["device"] as? [String: Any])?["id"] as? String)
            let refused = try await Self.post(app, "/devices/\(otherID)/revoke", [("csrf", browser.csrf ?? "")], &browser)
            #expect(refused.status == .notFound)
        }
    }

    @Test("004 quick replies: the tenant's email templates filled in for the lead, as a mailto link that decodes to them")
    func quickReplies() async throws {
        let smtp = try await SMTPReceiver()
        defer { smtp.stop() }
        let clock = TestClock()
        try await withTestApplication(configure: Self.configure(smtp, clock)) { app in
            let sourcing = try await app.fixtures.tenant(.sourcingCompany, name: "Solar Co", users: [[.admin]])
            let token = sourcing.users[0].token
            let template = try await app.request(
                .post, "/v1/message-templates", token: token,
                json: #"{"name":"Need more details","channel":"email","subject":"Your request, #lead.name","body":"Hello #lead.name,\nwhat is your roof's size?\n#hub.name"}"#)
            #expect(template.status == .created, "\(template.text)")
            let created = try await app.request(
                .post, "/v1/leads", token: token, json: #"{"template":"status_path","contact":{"name":"Ana & Bo","email":"ana@roof.test"}}"#)
            let lead = try #require(created.json?["id"] as? String)
            var browser = try await Self.signIn(app, smtp: smtp, email: sourcing.users[0].user.email, now: clock.function)
            let page = try await Self.get(app, "/leads/\(lead)", &browser)
            #expect(page.text.contains(#"id="replies-h""#))
            #expect(page.text.contains("Your request, Ana &amp; Bo"))
            let href = try #require(Self.matches(#"href="(mailto:[^"]+)" class="reply-link""#, in: page.text).first)
            let components = try #require(URLComponents(string: href.replacingOccurrences(of: "&amp;", with: "&")))
            #expect(components.path == "ana@roof.test")
            let items = Dictionary(uniqueKeysWithValues: (components.queryItems ?? []).map { ($0.name, $0.value ?? "") })
            #expect(items["subject"] == "Your request, Ana & Bo")
            #expect(items["body"] == "Hello Ana & Bo,\r\nwhat is your roof's size?\r\nSolar Co")
            // The 004 path from there: "Waiting for more information" is one of the page's choices.
            #expect(page.text.contains("Waiting for more information"))
        }
    }

    @Test("003 activities: scheduled, completed and cancelled from the lead page, as the API then lists them")
    func activities() async throws {
        let smtp = try await SMTPReceiver()
        defer { smtp.stop() }
        let clock = TestClock()
        try await withTestApplication(configure: Self.configure(smtp, clock)) { app in
            let partner = try await app.fixtures.tenant(.partnerCompany, users: [[.partnerUser], [.viewer]])
            let lead = try await app.createLead(token: partner.users[0].token)
            var browser = try await Self.signIn(app, smtp: smtp, email: partner.users[0].user.email, now: clock.function)
            _ = try await Self.get(app, "/leads/\(lead)", &browser)
            let csrf = try #require(browser.csrf)
            for (kind, title) in [("call", "Call back"), ("meeting", "Site visit")] {
                let scheduled = try await Self.post(
                    app, "/leads/\(lead)/activities", [("csrf", csrf), ("kind", kind), ("title", title), ("due", "2027-01-04T09:30")], &browser)
                #expect(scheduled.status == .seeOther)
            }
            let bad = try await Self.post(app, "/leads/\(lead)/activities", [("csrf", csrf), ("kind", "party"), ("title", "x")], &browser)
            #expect(bad.status == .unprocessableContent)
            let listed = try await app.request(.get, "/v1/leads/\(lead)/activities", token: partner.users[0].token)
            let items = try #require(listed.json?["items"] as? [[String: Any]])
            #expect(items.compactMap { $0["title"] as? String }.sorted() == ["Call back", "Site visit"])
            #expect(items.compactMap { $0["due_at"] as? String }.allSatisfy { $0.hasPrefix("2027-01-04T09:30:00") })
            let call = try #require(items.first { $0["title"] as? String == "Call back" }?["id"] as? String)
            let visit = try #require(items.first { $0["title"] as? String == "Site visit" }?["id"] as? String)
            let page = try await Self.get(app, "/leads/\(lead)", &browser)
            #expect(page.text.contains(#"id="complete-\#(call)""#))
            _ = try await Self.post(app, "/leads/\(lead)/activities/\(call)/complete", [("csrf", csrf)], &browser)
            _ = try await Self.post(app, "/leads/\(lead)/activities/\(visit)/cancel", [("csrf", csrf)], &browser)
            let closed = try #require((try await app.request(.get, "/v1/leads/\(lead)/activities", token: partner.users[0].token)).json?["items"] as? [[String: Any]])
            let states = Dictionary(uniqueKeysWithValues: closed.compactMap { item in (item["id"] as? String).map { ($0, item["state"] as? String ?? "") } })
            #expect(states == [call: "completed", visit: "cancelled"])
            let after = try await Self.get(app, "/leads/\(lead)", &browser)
            #expect(!after.text.contains("id=\"complete-"), "closed activities have no buttons")
            // A viewer reads activities and gets no form.
            var viewer = try await Self.signIn(app, smtp: smtp, email: partner.users[1].user.email, now: clock.function)
            let read = try await Self.get(app, "/leads/\(lead)", &viewer)
            #expect(read.text.contains("Site visit"))
            #expect(!read.text.contains(#"id="schedule-activity""#))
        }
    }

    @Test("people and deliveries: an admin adds and deactivates people and reads the delivery log; others may not")
    func peopleAndDeliveries() async throws {
        let smtp = try await SMTPReceiver()
        defer { smtp.stop() }
        let clock = TestClock()
        try await withTestApplication(configure: Self.configure(smtp, clock)) { app in
            let hub = try await app.fixtures.tenant(.hub, users: [[.moderator]])
            var admin = try await Self.signIn(app, smtp: smtp, email: hub.admin.user.email, now: clock.function)
            let page = try await Self.get(app, "/users", &admin)
            #expect(page.text.contains(#"id="add-user""#))
            #expect(page.text.contains(#"href="/deliveries""#))
            let added = try await Self.post(
                app, "/users",
                [("csrf", admin.csrf ?? ""), ("email", "new@hub.test"), ("display_name", "Nia New"), ("roles[]", "moderator"), ("roles[]", "advisor")],
                &admin)
            #expect(added.status == .seeOther)
            let listed = try #require((try await app.request(.get, "/v1/users?limit=200", token: hub.admin.token)).json?["items"] as? [[String: Any]])
            let nia = try #require(listed.first { $0["email"] as? String == "new@hub.test" })
            #expect(Set(nia["roles"] as? [String] ?? []) == ["moderator", "advisor"])
            let refused = try await Self.post(
                app, "/users", [("csrf", admin.csrf ?? ""), ("email", "x@hub.test"), ("display_name", "X"), ("roles[]", "partner_user")], &admin)
            #expect(refused.status == .unprocessableContent, "a partner user does not exist in a hub")
            #expect(refused.text.contains(#"id="problem""#))

            // Deactivating from the console: the person's API token stops at once.
            _ = try await Self.post(app, "/users/\(hub.users[0].user.id)/deactivate", [("csrf", admin.csrf ?? "")], &admin)
            #expect(try await app.request(.get, "/v1/me", token: hub.users[0].token).status == .unauthorized)
            let last = try await Self.post(app, "/users/\(hub.admin.user.id)/deactivate", [("csrf", admin.csrf ?? "")], &admin)
            #expect(last.status == .conflict, "the last admin stays")

            // The delivery log shows the sign-in emails sent so far.
            let log = try await Self.get(app, "/deliveries", &admin)
            #expect(log.status == .ok)
            #expect(log.text.contains("<td>console.sign_in</td>"))
            #expect(log.text.contains("<td>delivered</td>"))

            // A moderator: no add form, no deliveries in the navigation, and the forms are refused.
            let moderator = try await app.request(
                .post, "/v1/users", token: hub.admin.token, json: #"{"email":"mo@hub.test","display_name":"Mo","roles":["moderator"]}"#)
            #expect(moderator.status == .created)
            var mo = try await Self.signIn(app, smtp: smtp, email: "mo@hub.test", now: clock.function)
            let seen = try await Self.get(app, "/users", &mo)
            #expect(!seen.text.contains(#"id="add-user""#))
            #expect(!seen.text.contains(#"href="/deliveries""#))
            let sneaky = try await Self.post(
                app, "/users", [("csrf", mo.csrf ?? ""), ("email", "y@hub.test"), ("display_name", "Y"), ("roles[]", "admin")], &mo)
            #expect(sneaky.status == .forbidden)
            #expect(try await Self.get(app, "/deliveries", &mo).status == .forbidden)
            let after = try #require((try await app.request(.get, "/v1/users?limit=200", token: hub.admin.token)).json?["items"] as? [[String: Any]])
            #expect(!after.contains { $0["email"] as? String == "y@hub.test" })
        }
    }

    @Test("message templates: an admin writes one in the console, a tag it does not know is refused, and it becomes a quick reply")
    func messageTemplates() async throws {
        let smtp = try await SMTPReceiver()
        defer { smtp.stop() }
        let clock = TestClock()
        try await withTestApplication(configure: Self.configure(smtp, clock)) { app in
            let sourcing = try await app.fixtures.tenant(.sourcingCompany, users: [[.partnerUser]])
            var admin = try await Self.signIn(app, smtp: smtp, email: sourcing.admin.user.email, now: clock.function)
            let empty = try await Self.get(app, "/templates", &admin)
            #expect(empty.text.contains("#lead.name"))
            let saved = try await Self.post(
                app, "/templates",
                [("csrf", admin.csrf ?? ""), ("name", "Ask size"), ("subject", "About #lead.name"), ("body", "Hi #lead.name, how big?")],
                &admin)
            #expect(saved.status == .seeOther)
            let unknown = try await Self.post(
                app, "/templates", [("csrf", admin.csrf ?? ""), ("name", "Bad"), ("subject", "x"), ("body", "Hi #lead.shoe_size")], &admin)
            #expect(unknown.status == .unprocessableContent)
            #expect(unknown.text.contains(#"id="problem""#))
            let listed = try #require((try await app.request(.get, "/v1/message-templates", token: sourcing.admin.token)).json?["items"] as? [[String: Any]])
            #expect(listed.compactMap { $0["name"] as? String } == ["Ask size"])
            let created = try await app.request(
                .post, "/v1/leads", token: sourcing.admin.token, json: #"{"template":"status_path","contact":{"name":"Kim","email":"kim@x.test"}}"#)
            let lead = try #require(created.json?["id"] as? String)
            let page = try await Self.get(app, "/leads/\(lead)", &admin)
            #expect(page.text.contains("About Kim"))
            // A partner user (not an admin) gets neither the page nor the navigation entry.
            var worker = try await Self.signIn(app, smtp: smtp, email: sourcing.users[0].user.email, now: clock.function)
            #expect(try await Self.get(app, "/templates", &worker).status == .forbidden)
            #expect(!(try await Self.get(app, "/leads", &worker)).text.contains(#"href="/templates""#))
            let id = try #require(listed.first?["id"] as? String)
            _ = try await Self.post(app, "/templates/\(id)/delete", [("csrf", admin.csrf ?? "")], &admin)
            let after = try #require((try await app.request(.get, "/v1/message-templates", token: sourcing.admin.token)).json?["items"] as? [[String: Any]])
            #expect(after.isEmpty)
        }
    }

    @Test("notice texts in the console: the templates page lists the catalog's notices and their tags, a template saved as a notice's text is marked yours, and it is no quick reply")
    func noticeTexts() async throws {
        let smtp = try await SMTPReceiver()
        defer { smtp.stop() }
        let clock = TestClock()
        try await withTestApplication(configure: Self.configure(smtp, clock)) { app in
            let sourcing = try await app.fixtures.tenant(.sourcingCompany, users: [])
            var admin = try await Self.signIn(app, smtp: smtp, email: sourcing.admin.user.email, now: clock.function)
            let empty = try await Self.get(app, "/templates", &admin)
            for notice in NoticeCatalog.all.map(NoticeCatalog.key(of:)) {
                #expect(empty.text.contains(#"<option value="\#(notice)">"#), "\(notice)")
                #expect(empty.text.contains(#"<tr data-notice="\#(notice)">"#), "\(notice)")
            }
            #expect(!empty.text.contains("<td>yours</td>"))
            let wrongTag = try await Self.post(
                app, "/templates",
                [("csrf", admin.csrf ?? ""), ("name", "Erinnerung"), ("subject", "#lead.name"), ("body", "in #lead.city"), ("notice", "reminder")],
                &admin)
            #expect(wrongTag.status == .unprocessableContent)
            #expect(wrongTag.text.contains("#lead.city"))
            let saved = try await Self.post(
                app, "/templates",
                [("csrf", admin.csrf ?? ""), ("name", "Erinnerung"), ("subject", "Erinnerung: #lead.name"),
                 ("body", "Seit #reminder.days Tagen in #stage.name"), ("notice", "reminder")],
                &admin)
            #expect(saved.status == .seeOther)
            let listed = try #require((try await app.request(.get, "/v1/message-templates", token: sourcing.admin.token)).json?["items"] as? [[String: Any]])
            #expect(listed.map { $0["notice"] as? String } == ["reminder"])
            let page = try await Self.get(app, "/templates", &admin)
            #expect(page.text.contains(#"<tr data-notice="reminder"><td><code>reminder</code></td><td>Reminder: #lead.name is waiting in #stage.name</td><td><code>#lead.name #reminder.days #stage.name</code></td><td>yours</td></tr>"#))
            #expect(page.text.contains("the text of the notice reminder"))
            // It is the reminder's text, not a reply to send from the lead page.
            let created = try await app.request(
                .post, "/v1/leads", token: sourcing.admin.token, json: #"{"template":"status_path","contact":{"name":"Kim","email":"kim@x.test"}}"#)
            let lead = try #require(created.json?["id"] as? String)
            #expect(!(try await Self.get(app, "/leads/\(lead)", &admin)).text.contains("Erinnerung"))
        }
    }

    @Test("hub pages: accepted leads are clients (000), listings with their HSDS export identical to the API's")
    func hubPages() async throws {
        let smtp = try await SMTPReceiver()
        defer { smtp.stop() }
        let clock = TestClock()
        try await withTestApplication(configure: Self.configure(smtp, clock)) { app in
            let hub = try await app.fixtures.tenant(
                .hub, users: [[.moderator]], listings: [ListingDraft(name: "Small Business Desk", serviceAreas: ["Oakland"])])
            let lead = try await app.createLead(token: hub.users[0].token, name: "Client Carla")
            _ = try await app.createLead(token: hub.users[0].token, name: "Still New")
            _ = try await app.request(.post, "/v1/leads/\(lead)/actions/accept", token: hub.users[0].token, json: "{}")
            var browser = try await Self.signIn(app, smtp: smtp, email: hub.users[0].user.email, now: clock.function)
            let clients = try await Self.get(app, "/clients", &browser)
            #expect(clients.text.contains(#"<a href="/leads/\#(lead)">Client Carla</a>"#))
            #expect(!clients.text.contains("Still New"))
            let listings = try await Self.get(app, "/listings", &browser)
            #expect(listings.text.contains("Small Business Desk"))
            let download = try await Self.get(app, "/listings/hsds.json", &browser)
            #expect(download.headers[.contentDisposition]?.contains("attachment") == true)
            let api = try await app.request(.get, "/v1/listings/export", token: hub.users[0].token)
            let mine = try JSONSerialization.jsonObject(with: Data(buffer: download.body)) as? NSDictionary
            let theirs = try JSONSerialization.jsonObject(with: Data(buffer: api.body)) as? NSDictionary
            #expect(mine != nil && mine == theirs)
            let partner = try await app.fixtures.tenant(.partnerCompany, users: [[.partnerUser]])
            var other = try await Self.signIn(app, smtp: smtp, email: partner.users[0].user.email, now: clock.function)
            #expect(!(try await Self.get(app, "/leads", &other)).text.contains(#"href="/clients""#))
        }
    }

    @Test("001 convert from the lead page: the opportunity checkbox creates one, and it is listed with its lead")
    func convert() async throws {
        let smtp = try await SMTPReceiver()
        defer { smtp.stop() }
        let clock = TestClock()
        try await withTestApplication(configure: Self.configure(smtp, clock)) { app in
            let partner = try await app.fixtures.tenant(.partnerCompany, users: [[.partnerUser]])
            let lead = try await app.createLead(token: partner.users[0].token, name: "Convert Me")
            var browser = try await Self.signIn(app, smtp: smtp, email: partner.users[0].user.email, now: clock.function)
            _ = try await Self.get(app, "/leads/\(lead)", &browser)
            _ = try await Self.post(app, "/leads/\(lead)/actions/accept", [("csrf", browser.csrf ?? "")], &browser)
            let page = try await Self.get(app, "/leads/\(lead)", &browser)
            #expect(page.text.contains(#"name="create_opportunity""#))
            let converted = try await Self.post(
                app, "/leads/\(lead)/actions/convert", [("csrf", browser.csrf ?? ""), ("create_opportunity", "true")], &browser)
            #expect(converted.status == .seeOther)
            let state = try await app.request(.get, "/v1/leads/\(lead)", token: partner.users[0].token)
            #expect(state.json?["status"] as? String == "closed_converted")
            #expect(state.json?["opportunity_linked"] as? Bool == true)
            let listed = try await Self.get(app, "/opportunities", &browser)
            #expect(listed.text.contains(#"<a href="/leads/\#(lead)">"#))
        }
    }

    @Test("settings: an admin sets the offline grace in hours, as the API then reports it; out of range is refused; others may not")
    func settings() async throws {
        let smtp = try await SMTPReceiver()
        defer { smtp.stop() }
        let clock = TestClock()
        try await withTestApplication(configure: Self.configure(smtp, clock)) { app in
            let partner = try await app.fixtures.tenant(.partnerCompany, users: [[.partnerUser]])
            var admin = try await Self.signIn(app, smtp: smtp, email: partner.admin.user.email, now: clock.function)
            _ = try await Self.get(app, "/settings", &admin)
            let saved = try await Self.post(app, "/settings", [("csrf", admin.csrf ?? ""), ("grace_hours", "1.5")], &admin)
            #expect(saved.status == .seeOther)
            let api = try await app.request(.get, "/v1/tenant/settings", token: partner.admin.token)
            #expect(api.json?["offline_grace_seconds"] as? Int == 5400)
            #expect((try await Self.get(app, "/settings", &admin)).text.contains(#"value="1.50""#))
            for bad in ["169", "-1", "nan", "1e400", "", "two"] {
                let refused = try await Self.post(app, "/settings", [("csrf", admin.csrf ?? ""), ("grace_hours", bad)], &admin)
                #expect(refused.status == .unprocessableContent, "\(bad)")
            }
            #expect((try await app.request(.get, "/v1/tenant/settings", token: partner.admin.token)).json?["offline_grace_seconds"] as? Int == 5400)
            var worker = try await Self.signIn(app, smtp: smtp, email: partner.users[0].user.email, now: clock.function)
            #expect(try await Self.get(app, "/settings", &worker).status == .forbidden)
            #expect(try await Self.post(app, "/settings", [("csrf", worker.csrf ?? ""), ("grace_hours", "2")], &worker).status == .forbidden)
        }
    }

    @Test("000 manual entry: the new-lead form saves a manual lead once, even when sent twice, and refuses one without a name")
    func newLead() async throws {
        let smtp = try await SMTPReceiver()
        defer { smtp.stop() }
        let clock = TestClock()
        try await withTestApplication(configure: Self.configure(smtp, clock)) { app in
            let hub = try await app.fixtures.tenant(.hub, users: [[.moderator], [.viewer]])
            var browser = try await Self.signIn(app, smtp: smtp, email: hub.users[0].user.email, now: clock.function)
            let form = try await Self.get(app, "/leads/new", &browser)
            let key = try #require(Self.matches(#"name="key" value="([^"]+)""#, in: form.text).first)
            let fields = [
                ("csrf", browser.csrf ?? ""), ("key", key), ("template", "hub_moderation"), ("name", "Walk-in Wanda"),
                ("email", "wanda@x.test"), ("phone", ""), ("city", "Oakland"), ("region", ""), ("request", "Needs a loan"),
                ("consent", "on"), ("consent_method", "written"),
            ]
            let first = try await Self.post(app, "/leads/new", fields, &browser)
            let again = try await Self.post(app, "/leads/new", fields, &browser)
            #expect(first.status == .seeOther)
            #expect(first.headers[.location] == again.headers[.location], "the same form twice is one lead")
            let listed = try #require((try await app.request(.get, "/v1/leads", token: hub.users[0].token)).json?["items"] as? [[String: Any]])
            #expect(listed.count == 1)
            #expect(listed.first?["source"] as? String == "manual")
            #expect((listed.first?["contact"] as? [String: Any])?["city"] as? String == "Oakland")
            #expect(listed.first?["request"] as? String == "Needs a loan")
            // The consent checkbox records the person's consent to the network, as they gave it.
            let wanda = try #require(listed.first?["id"] as? String)
            let consents = try #require((try await app.request(
                .get, "/v1/leads/\(wanda)/consents", token: hub.users[0].token)).json?["items"] as? [[String: Any]])
            #expect(consents.map { "\($0["scope"] ?? "-") \($0["method"] ?? "-") \($0["recorded_by"] ?? "-")" } == ["network written \(hub.users[0].user.id)"])
            let nameless = try await Self.post(app, "/leads/new", [("csrf", browser.csrf ?? ""), ("name", " ")], &browser)
            #expect(nameless.status.code >= 400 && nameless.status.code < 500)
            #expect(nameless.text.contains(#"id="problem""#))
            var viewer = try await Self.signIn(app, smtp: smtp, email: hub.users[1].user.email, now: clock.function)
            #expect(try await Self.get(app, "/leads/new", &viewer).status == .forbidden)
        }
    }

    static func matches(_ pattern: String, in text: String) -> [String] {
        guard let expression = try? NSRegularExpression(pattern: pattern) else { return [] }
        let range = NSRange(text.startIndex..., in: text)
        return expression.matches(in: text, range: range).compactMap { match in
            Range(match.range(at: 1), in: text).map { String(text[$0]) }
        }
    }
}
