import Foundation
import HTTPTypes
import HubNetCore
@testable import HubNetServer
import HubNetTestSupport
import PropertyBased
import Testing

/// Mail to relays that require encryption and authentication, against real aiosmtpd receivers
/// with a throwaway certificate: STARTTLS and implicit TLS, AUTH, certificate verification, and
/// what happens to a message when the relay cannot be trusted.
@Suite("Mail over TLS", .serialized)
struct MailTLSTests {
    static let user = "hubnet-relay"
    static let password = "s3cret pass:word"

    @Test("STARTTLS then AUTH PLAIN: the message arrives, sent by the authenticated user, through a verified certificate")
    func startTLS() async throws {
        let relay = try await SMTPReceiver(security: .startTLS(user: Self.user, password: Self.password))
        defer { relay.stop() }
        let client = try SMTPClient(
            url: "smtp://\(Self.user)@localhost:\(relay.port)", from: "hubnet@test.local", password: Self.password,
            caFile: relay.certificateFile)
        #expect(client.security == .startTLSWhenOffered)
        try await client.send(to: "ana@example.test", subject: "Over TLS", body: "Hello", messageID: "m1")
        let message = try #require(relay.messages.first)
        #expect(message.contains("X-Authenticated-As: \(Self.user)"))
        #expect(message.contains("Subject: Over TLS"))
        #expect(relay.transcript.contains("AUTH PLAIN ok"))
    }

    @Test("AUTH LOGIN when the relay offers no PLAIN")
    func authLogin() async throws {
        let relay = try await SMTPReceiver(security: .startTLS(user: Self.user, password: Self.password), loginOnly: true)
        defer { relay.stop() }
        let client = try SMTPClient(
            url: "smtp://\(Self.user)@localhost:\(relay.port)", from: "hubnet@test.local", password: Self.password,
            caFile: relay.certificateFile)
        try await client.send(to: "ana@example.test", subject: "Login", body: "Hello", messageID: "m9")
        #expect(relay.transcript.contains("AUTH LOGIN ok"))
        #expect(relay.messages.first?.contains("X-Authenticated-As: \(Self.user)") == true)
    }

    @Test("smtps:// speaks TLS from the first byte (port 465 by default) and authenticates")
    func implicitTLS() async throws {
        let relay = try await SMTPReceiver(security: .implicitTLS(user: Self.user, password: Self.password))
        defer { relay.stop() }
        #expect(try SMTPClient(url: "smtps://u@relay.example:465", from: "x@y.z", password: "p").port == 465)
        let client = try SMTPClient(
            url: "smtps://\(Self.user)@localhost:\(relay.port)", from: "hubnet@test.local", password: Self.password,
            caFile: relay.certificateFile)
        #expect(client.security == .implicitTLS)
        try await client.send(to: "ana@example.test", subject: "Implicit", body: "Hello", messageID: "m2")
        #expect(relay.messages.count == 1)
        #expect(relay.messages.first?.contains("X-Authenticated-As: \(Self.user)") == true)
    }

    @Test("a relay whose certificate does not verify gets nothing: the email stays in the outbox and is retried")
    func untrustedRelay() async throws {
        let relay = try await SMTPReceiver(security: .startTLS(user: Self.user, password: Self.password))
        defer { relay.stop() }
        let untrusting = try SMTPClient(
            url: "smtp://\(Self.user)@localhost:\(relay.port)", from: "hubnet@test.local", password: Self.password)
        // The system's roots do not know the throwaway certificate.
        await #expect(throws: (any Error).self) {
            try await untrusting.send(to: "ana@example.test", subject: "No", body: "No", messageID: "m3")
        }
        // Right CA, wrong name: a certificate for localhost does not vouch for another name.
        let misnamed = try SMTPClient(
            url: "smtp://\(Self.user)@127.0.0.2:\(relay.port)", from: "hubnet@test.local", password: Self.password,
            caFile: relay.certificateFile)
        await #expect(throws: (any Error).self) {
            try await misnamed.send(to: "ana@example.test", subject: "No", body: "No", messageID: "m4")
        }
        #expect(relay.messages.isEmpty)
        #expect(!relay.transcript.contains("AUTH"), "no credentials reached an untrusted relay")

        let clock = TestClock()
        try await withTestApplication(configure: {
            $0.smtp = untrusting
            $0.deliveryInterval = nil
            $0.timerInterval = nil
            $0.testClock = clock
        }) { app in
            let hub = try await app.fixtures.tenant(.hub, users: [[.moderator]])
            var headers = HTTPFields()
            headers[.contentType] = "application/x-www-form-urlencoded"
            _ = try await app.client.execute(
                uri: "/sign-in", method: .post, headers: headers, body: .init(string: "email=\(hub.users[0].user.email)"))
            let refused = OutboxDeliveryService(database: app.fixtures.database, smtp: untrusting, now: clock.function)
            #expect(try await refused.deliverDue() == 0)
            let waiting = try await InputFuzzTests.count(
                app, "SELECT count(*)::INTEGER FROM outbox WHERE delivered_at IS NULL AND failed_at IS NULL AND attempts = 1")
            #expect(waiting == 1)
            #expect(relay.messages.isEmpty)
            // Once the relay's CA is trusted, the retry delivers it.
            let trusting = OutboxDeliveryService(
                database: app.fixtures.database,
                smtp: SMTPClient(
                    host: "localhost", port: relay.port, from: "hubnet@test.local",
                    credentials: .init(user: Self.user, password: Self.password), caFile: relay.certificateFile),
                now: clock.function)
            _ = try clock.advance(by: 3600)
            #expect(try await trusting.deliverDue() == 1)
            #expect(relay.messages.count == 1)
            #expect(relay.messages.first?.contains("To: <\(hub.users[0].user.email)>") == true)
        }
    }

    @Test("a wrong password is refused by the relay and nothing is sent; credentials never go to a relay without STARTTLS")
    func refusals() async throws {
        let relay = try await SMTPReceiver(security: .startTLS(user: Self.user, password: Self.password))
        defer { relay.stop() }
        var wrong = try SMTPClient(
            url: "smtp://\(Self.user)@localhost:\(relay.port)", from: "hubnet@test.local", password: "guess",
            caFile: relay.certificateFile)
        // aiosmtpd 1.4 does not answer a failed AUTH at all; the client's own timeout ends the attempt.
        wrong.timeout = .seconds(3)
        let silence = await #expect(throws: SMTPError.self) {
            try await wrong.send(to: "ana@example.test", subject: "No", body: "No", messageID: "m5")
        }
        #expect(silence?.message == "the relay did not answer within 3.0 seconds", "\(String(describing: silence))")
        #expect(relay.messages.isEmpty)
        #expect(relay.transcript.contains("refused"))

        let plain = try await SMTPReceiver()
        defer { plain.stop() }
        let careful = try SMTPClient(url: "smtp://\(Self.user)@127.0.0.1:\(plain.port)", from: "hubnet@test.local", password: Self.password)
        await #expect(throws: SMTPError.self) {
            try await careful.send(to: "ana@example.test", subject: "No", body: "No", messageID: "m6")
        }
        let required = try SMTPClient(url: "smtp://127.0.0.1:\(plain.port)?tls=required", from: "hubnet@test.local")
        #expect(required.security == .startTLSRequired)
        await #expect(throws: SMTPError.self) {
            try await required.send(to: "ana@example.test", subject: "No", body: "No", messageID: "m7")
        }
        #expect(plain.messages.isEmpty)
        // Without credentials or the requirement, a plain loopback relay still works as before.
        try await SMTPClient(url: "smtp://127.0.0.1:\(plain.port)", from: "hubnet@test.local")
            .send(to: "ana@example.test", subject: "Plain", body: "Hi", messageID: "m8")
        #expect(plain.messages.count == 1)
    }

    @Test("emails are multipart: the text as written and the same as escaped HTML with clickable links (read back by Python's email parser)")
    func multipart() async throws {
        let relay = try await SMTPReceiver()
        defer { relay.stop() }
        let body = "Ada <b>Obi</b> & co was assigned to you.\n.starts with a dot\n\nOpen it in HubNet: http://127.0.0.1:8080/leads/42?x=1&y=2\n"
        try await SMTPClient(host: "127.0.0.1", port: relay.port, from: "hubnet@test.local")
            .send(to: "ana@example.test", subject: "Über <test>", body: body, messageID: "mp1")
        let raw = try #require(relay.messages.first?.components(separatedBy: "------------ END MESSAGE").first)
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("hubnet-mail-\(UUID().uuidString).eml")
        try raw.trimmingCharacters(in: .newlines).write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let parser = Process()
        parser.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        parser.arguments = [
            "-c",
            """
            import email, json, sys
            from email import policy
            message = email.message_from_string(open(sys.argv[1]).read(), policy=policy.default)
            parts = [(p.get_content_type(), p.get_content()) for p in message.walk() if not p.is_multipart()]
            print(json.dumps({"type": message.get_content_type(), "subject": str(message["subject"]), "parts": parts}))
            """,
            file.path,
        ]
        let output = Pipe()
        parser.standardOutput = output
        try parser.run()
        parser.waitUntilExit()
        let parsed = try #require(try JSONSerialization.jsonObject(with: output.fileHandleForReading.readDataToEndOfFile()) as? [String: Any])
        #expect(parsed["type"] as? String == "multipart/alternative")
        #expect(parsed["subject"] as? String == "Über <test>", "non-ASCII subjects travel as RFC 2047 encoded words")
        let parts = try #require(parsed["parts"] as? [[String]])
        try #require(parts.count == 2)
        #expect(parts[0][0] == "text/plain")
        #expect(parts[0][1].replacingOccurrences(of: "\r\n", with: "\n") == body, "the text part is the body as written, dots and all")
        #expect(parts[1][0] == "text/html")
        #expect(parts[1][1].contains("Ada &lt;b&gt;Obi&lt;/b&gt; &amp; co"))
        #expect(parts[1][1].contains(#"<a href="http://127.0.0.1:8080/leads/42?x=1&amp;y=2""#))
        #expect(!parts[1][1].contains("<b>"))
    }

    @Test("an email's Date header is RFC 5322 in UTC, as Foundation's DateFormatter writes it, for any instant; one beyond year 9999 is its last second")
    func dateHeader() async {
        let reference = DateFormatter()
        reference.locale = Locale(identifier: "en_US_POSIX")
        reference.timeZone = TimeZone(identifier: "UTC")
        reference.dateFormat = "EEE, dd MMM yyyy HH:mm:ss Z"
        // The epoch, leap days (2000 is one, 1900 and 2100 are not), the turn of a century, before 1970.
        let instants: [Double] = [0, -1, 951_782_400, 951_868_799, -2_203_891_200, 4_107_542_400, 4_102_444_799, 1_796_578_500.9]
        for seconds in instants {
            let date = Date(timeIntervalSince1970: seconds)
            #expect(Timestamp.rfc5322(date) == reference.string(from: date), "\(seconds)")
        }
        await propertyCheck(count: 500, input: Gen.int(in: -2_208_988_800...7_258_118_400)) { seconds in
            let date = Date(timeIntervalSince1970: Double(seconds))
            #expect(Timestamp.rfc5322(date) == reference.string(from: date))
        }
        #expect(Timestamp.rfc5322(.distantFuture) == reference.string(from: .distantFuture))
        #expect(Timestamp.rfc5322(Date(timeIntervalSince1970: 1e300)) == "Fri, 31 Dec 9999 23:59:59 +0000")
        #expect(Timestamp.rfc5322(Date(timeIntervalSince1970: .infinity)) == "Fri, 31 Dec 9999 23:59:59 +0000")
        #expect(Timestamp.rfc5322(Date(timeIntervalSince1970: .nan)) == "Thu, 01 Jan 1970 00:00:00 +0000")
        let message = SMTPClient(host: "127.0.0.1", port: 25, from: "a@b.c").message(
            to: "d@e.f", subject: "s", body: "b", messageID: "m1", at: Date(timeIntervalSince1970: 1_796_578_500))
        #expect(message.contains("\r\nDate: Sun, 06 Dec 2026 17:35:00 +0000\r\n"))
    }

    @Test("HUBNET_SMTP_URL: schemes, default ports, credentials, options; anything else is a configuration error, never a crash")
    func urls() async throws {
        let withPassword = try SMTPClient(url: "smtp://mailer:p%40ss@relay.example:587", from: "a@b.c")
        #expect(withPassword.port == 587)
        #expect(withPassword.credentials?.user == "mailer")
        #expect(withPassword.credentials?.password == "p@ss", "percent-decoded")
        #expect(try SMTPClient(url: "smtp://relay.example", from: "a@b.c").port == 25)
        #expect(try SMTPClient(url: "smtp://u@relay.example", from: "a@b.c", password: "from-file").credentials?.password == "from-file")
        for bad in ["http://relay", "smtp://", "smtp://u@relay.example", "smtp://relay?tls=maybe", "smtps://relay?tls=required", "relay:25"] {
            #expect(throws: SMTPError.self, "\(bad)") { try SMTPClient(url: bad, from: "a@b.c") }
        }
        await propertyCheck(count: 300, input: Gen.uint64()) { seed in
            var input = HostileInput(seed: seed)
            let text = input.pick(["smtp://", "smtps://", "", "smtp:", "SMTP://"]) + input.string().trimmingCharacters(in: ["\""])
                + input.pick(["", ":25", ":99999", ":-1", "?tls=required", "@", "@h:1"])
            _ = try? SMTPClient(url: text, from: "a@b.c")
        }
    }
}
