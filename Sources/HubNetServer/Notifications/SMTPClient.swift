import Foundation
import HubNetCore
import NIOCore
import NIOExtras
import NIOPosix
import NIOSSL
import Synchronization

/// An SMTP client for a relay: EHLO, STARTTLS (or implicit TLS on `smtps://`), AUTH PLAIN or
/// LOGIN, MAIL FROM, RCPT TO, DATA, QUIT.
///
/// Encryption: with `smtp://` the connection is upgraded with STARTTLS whenever the relay offers
/// it, and must be when credentials are configured (they are never sent in clear); `smtps://`
/// speaks TLS from the first byte. The relay's certificate is always verified against the system's
/// roots, or the CA file configured, and its name; a relay that fails verification gets nothing
/// and the message stays in the outbox to be retried.
public struct SMTPClient: Sendable {
    public enum Security: String, Sendable {
        /// `smtp://`: STARTTLS when offered (required with credentials).
        case startTLSWhenOffered
        /// `smtp://…?tls=required`: STARTTLS or nothing.
        case startTLSRequired
        /// `smtps://`: TLS from the first byte (port 465).
        case implicitTLS
    }

    public struct Credentials: Sendable {
        public var user: String
        public var password: String
        public init(user: String, password: String) {
            self.user = user
            self.password = password
        }
    }

    public var host: String
    public var port: Int
    /// The envelope sender and `From:` header.
    public var from: String
    public var timeout: Duration
    public var security: Security
    public var credentials: Credentials?
    /// A PEM file of CA certificates to trust instead of the system's (a private relay's CA).
    public var caFile: String? { didSet { tls = TLSContextCache() } }
    /// The TLS context, built at the first message and kept: reading the trust roots costs more than
    /// sending a message (they are read again when the process starts).
    private var tls = TLSContextCache()

    public init(
        host: String, port: Int, from: String, timeout: Duration = .seconds(10), security: Security = .startTLSWhenOffered,
        credentials: Credentials? = nil, caFile: String? = nil
    ) {
        self.host = host
        self.port = port
        self.from = from
        self.timeout = timeout
        self.security = security
        self.credentials = credentials
        self.caFile = caFile
    }

    /// `smtp://[user[:password]@]host[:port][?tls=required]` or `smtps://…` (default ports 25 and
    /// 465). A password in the URL may be replaced by `password` (read from a file by the caller).
    public init(url: String, from: String, password: String? = nil, caFile: String? = nil) throws {
        guard let components = URLComponents(string: url), let scheme = components.scheme, ["smtp", "smtps"].contains(scheme),
            let host = components.host, !host.isEmpty
        else {
            throw SMTPError(message: "HUBNET_SMTP_URL must look like smtp://host:25, smtp://user@host:587 or smtps://user@host:465")
        }
        if let port = components.port, !(1...65535).contains(port) { throw SMTPError(message: "HUBNET_SMTP_URL: the port must be 1-65535") }
        var security: Security = scheme == "smtps" ? .implicitTLS : .startTLSWhenOffered
        for item in components.queryItems ?? [] {
            switch (item.name, item.value) {
            case ("tls", "required") where scheme == "smtp": security = .startTLSRequired
            default: throw SMTPError(message: "HUBNET_SMTP_URL: unknown option \(item.name); the only one is tls=required")
            }
        }
        var credentials: Credentials?
        if let user = components.user, !user.isEmpty {
            guard let secret = password ?? components.password, !secret.isEmpty else {
                throw SMTPError(message: "HUBNET_SMTP_URL names a user but no password (in the URL or HUBNET_SMTP_PASSWORD_FILE)")
            }
            credentials = Credentials(user: user, password: secret)
        }
        self.init(
            host: host, port: components.port ?? (scheme == "smtps" ? 465 : 25), from: from, security: security,
            credentials: credentials, caFile: caFile)
    }

    /// The TLS context for the relay: full verification of its chain and name.
    func tlsContext() throws -> NIOSSLContext {
        try tls.context.withLock { cached in
            if let cached { return cached }
            var configuration = TLSConfiguration.makeClientConfiguration()
            configuration.certificateVerification = .fullVerification
            if let caFile { configuration.trustRoots = .file(caFile) }
            let made = try NIOSSLContext(configuration: configuration)
            cached = made
            return made
        }
    }

    private final class TLSContextCache: Sendable {
        let context = Mutex<NIOSSLContext?>(nil)
    }

    /// The name the certificate must carry; an IP address is checked against the certificate's
    /// addresses instead (and cannot be sent as SNI).
    var serverHostname: String? {
        host.contains(":") || host.split(separator: ".").count == 4 && host.split(separator: ".").allSatisfy { UInt8($0) != nil }
            ? nil : host
    }

    /// Sends one message through a session of its own; `messageID` lets receivers recognise a retry
    /// of the same message.
    public func send(to recipient: String, subject: String, body: String, messageID: String) async throws {
        try Self.requireSafe(recipient)
        try await withSession { session in
            try await session.send(to: recipient, subject: subject, body: body, messageID: messageID)
        }
    }

    /// Opens one conversation with the relay (greeting, EHLO, STARTTLS, AUTH, each once), runs
    /// `body` with it, and says QUIT: a pass of many emails pays for the connection and the TLS
    /// handshake once, not per message, as a relay that limits connections expects.
    ///
    /// The opening and each message are bounded by `timeout`: when the relay does not answer in
    /// time, the connection is closed and the exchange fails. Errors of the opening are thrown
    /// before `body` runs; `body`'s own errors pass through.
    public func withSession<Result>(_ body: (SMTPSession) async throws -> Result) async throws -> Result {
        try Self.requireSafe(from)
        let tls = try tlsContext()
        let implicit = security == .implicitTLS
        let hostname = serverHostname
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.seconds(5))
            .connect(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    if implicit {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: tls, serverHostname: hostname))
                    }
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(LineBasedFrameDecoder()))
                    return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        return try await channel.executeThenClose { inbound, outbound in
            let session = SMTPSession(client: self, channel: channel.channel, lines: inbound.makeAsyncIterator(), outbound: outbound)
            try await session.open(tls: tls, hostname: hostname)
            let result = try await body(session)
            await session.quit()
            return result
        }
    }

    /// The message: headers, then `multipart/alternative` with the text as written and the same
    /// text as HTML in the console's look (links clickable), CRLF line ends and dot-stuffing, the end mark.
    func message(to recipient: String, subject: String, body: String, messageID: String, at now: Date = Date()) -> String {
        // A boundary that cannot occur in either part: derived from the message id, checked against the body.
        var boundary = "hubnet-\(Hex.lowercase(Array(messageID.utf8.prefix(24))))"
        while body.contains(boundary) { boundary += "x" }
        let headers = [
            "From: <\(from)>", "To: <\(recipient)>", "Subject: \(Self.encodedWord(Self.headerSafe(subject)))",
            "Message-ID: <\(messageID)@hubnet>", "Date: \(Timestamp.rfc5322(now))",
            "MIME-Version: 1.0", "Content-Type: multipart/alternative; boundary=\"\(boundary)\"",
        ]
        let text = body.replacingOccurrences(of: "\r\n", with: "\n")
        let parts = [
            "--\(boundary)", "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit", "", text,
            "--\(boundary)", "Content-Type: text/html; charset=utf-8", "Content-Transfer-Encoding: 8bit", "",
            Self.html(text, subject: subject), "--\(boundary)--",
        ].joined(separator: "\n")
        let lines = parts.split(separator: "\n", omittingEmptySubsequences: false).map { $0.hasPrefix(".") ? "." + $0 : String($0) }
        return (headers + [""] + lines).joined(separator: "\r\n") + "\r\n.\r\n"
    }

    /// The text as a small HTML page: escaped, paragraphs kept, http(s) links made clickable.
    static func html(_ text: String, subject: String) -> String {
        func escape(_ value: some StringProtocol) -> String {
            var escaped = String.UnicodeScalarView()
            for scalar in value.unicodeScalars {
                switch scalar {
                case "&": escaped.append(contentsOf: "&amp;".unicodeScalars)
                case "<": escaped.append(contentsOf: "&lt;".unicodeScalars)
                case ">": escaped.append(contentsOf: "&gt;".unicodeScalars)
                case "\"": escaped.append(contentsOf: "&quot;".unicodeScalars)
                default: escaped.append(scalar)
                }
            }
            return String(escaped)
        }
        let paragraphs = text.components(separatedBy: "\n\n").map { paragraph -> String in
            let lines = paragraph.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
                line.split(separator: " ", omittingEmptySubsequences: false).map { word -> String in
                    word.hasPrefix("https://") || word.hasPrefix("http://")
                        ? "<a href=\"\(escape(word))\" style=\"color:#0b5cad\">\(escape(word))</a>" : escape(word)
                }.joined(separator: " ")
            }
            return "<p>" + lines.joined(separator: "<br>") + "</p>"
        }.filter { $0 != "<p></p>" }
        return """
            <!doctype html><html lang="en"><head><meta charset="utf-8"><title>\(escape(subject))</title></head>
            <body style="margin:0;font:16px/1.5 system-ui,sans-serif;color:#1b1f24">
            <div style="background:#1b1f24;color:#fff;padding:10px 16px;font-weight:700">HubNet</div>
            <div style="padding:16px;max-width:40rem">\(paragraphs.joined(separator: "\n"))</div>
            </body></html>
            """
    }

    /// A header value outside ASCII as RFC 2047 encoded words (UTF-8, base64), each at most 75 characters.
    static func encodedWord(_ text: String) -> String {
        guard !text.unicodeScalars.allSatisfy({ $0.isASCII }) else { return text }
        var words: [String] = []
        var chunk: [UInt8] = []
        for character in text {
            let bytes = Array(String(character).utf8)
            if chunk.count + bytes.count > 45 {
                words.append("=?utf-8?B?\(Data(chunk).base64EncodedString())?=")
                chunk = []
            }
            chunk += bytes
        }
        if !chunk.isEmpty { words.append("=?utf-8?B?\(Data(chunk).base64EncodedString())?=") }
        return words.joined(separator: "\r\n ")
    }

    /// Header text on one line: a subject can never inject another header.
    static func headerSafe(_ text: String) -> String {
        text.replacingOccurrences(of: "\r", with: " ").replacingOccurrences(of: "\n", with: " ")
    }

    static func requireSafe(_ address: String) throws {
        guard !address.contains(where: { $0 == "<" || $0 == ">" || $0 == "\r" || $0 == "\n" || $0 == " " }) else {
            throw SMTPError(message: "unusable address")
        }
    }
}

public struct SMTPError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public var description: String { message }
}

/// One open conversation with the relay (`SMTPClient.withSession`), through which messages go one
/// after another. A message the relay refuses (a 4xx or 5xx reply) is followed by `RSET`, and the
/// session goes on with the next; a lost connection, an unreadable reply or a timeout leaves it
/// unusable (`isUsable`), and the caller opens another.
public final class SMTPSession {
    private let client: SMTPClient
    private let channel: any Channel
    private var lines: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
    private let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
    /// Whether another message may be sent: the connection is open and in step with the relay.
    public private(set) var isUsable = true
    /// Messages the relay accepted through this session.
    public private(set) var accepted = 0
    /// Whether the relay offered PIPELINING: each message's envelope then goes in one write.
    public private(set) var pipelining = false

    init(
        client: SMTPClient, channel: any Channel, lines: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator,
        outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
    ) {
        self.client = client
        self.channel = channel
        self.lines = lines
        self.outbound = outbound
    }

    /// A reply with another code than the one expected: the relay answered, so the conversation is
    /// still in step.
    private struct Refused: Error {
        var line: String
    }

    /// Sends one message; `messageID` lets receivers recognise a retry of the same message.
    public func send(to recipient: String, subject: String, body: String, messageID: String) async throws {
        try SMTPClient.requireSafe(recipient)
        guard isUsable else { throw SMTPError(message: "the connection to the relay was lost") }
        do {
            try await bounded {
                if pipelining {
                    try await envelopeInOneWrite(to: recipient)
                } else {
                    try await say("MAIL FROM:<\(client.from)>")
                    try await expect(250)
                    try await say("RCPT TO:<\(recipient)>")
                    try await expect(250, 251)
                    try await say("DATA")
                    try await expect(354)
                }
                try await outbound.write(ByteBuffer(string: client.message(to: recipient, subject: subject, body: body, messageID: messageID)))
                try await expect(250)
            }
            accepted += 1
        } catch let refused as Refused {
            // The relay said no to this message; the next one starts from a clean state.
            do {
                try await bounded {
                    try await say("RSET")
                    try await expect(250)
                }
            } catch {
                isUsable = false
            }
            throw SMTPError(message: "relay answered \(refused.line)")
        } catch let refused as SMTPError {
            isUsable = false
            throw refused
        } catch {
            isUsable = false
            throw SMTPError(message: "the connection to the relay failed: \(error)")
        }
    }

    /// With a relay that offers PIPELINING (RFC 2920): the envelope's three commands in one write,
    /// then their three replies in order, one round trip where there were three. Every reply of
    /// the group is read before the outcome is decided, so the conversation stays in step; a relay
    /// that refused the envelope but still waits for data gets an empty message, ended at once.
    private func envelopeInOneWrite(to recipient: String) async throws {
        try await outbound.write(ByteBuffer(string: "MAIL FROM:<\(client.from)>\r\nRCPT TO:<\(recipient)>\r\nDATA\r\n"))
        let replies = [try await reply(), try await reply(), try await reply()]
        let expected: [Set<Int>] = [[250], [250, 251], [354]]
        guard let refused = zip(replies, expected).first(where: { !$1.contains($0.code) })?.0 else { return }
        if replies[2].code == 354 {
            try await say(".")
            _ = try await reply()
        }
        throw Refused(line: refused.line)
    }

    /// Greeting, EHLO, STARTTLS when offered (required with credentials or `tls=required`), AUTH.
    func open(tls: NIOSSLContext, hostname: String?) async throws {
        do {
            try await bounded { try await greet(tls: tls, hostname: hostname) }
        } catch let refused as Refused {
            isUsable = false
            throw SMTPError(message: "relay answered \(refused.line)")
        } catch {
            isUsable = false
            throw error
        }
    }

    private func greet(tls: NIOSSLContext, hostname: String?) async throws {
        try await expect(220)
        try await say("EHLO hubnet")
        var capabilities = Set(try await expect(250).dropFirst().map { $0.uppercased() })
        var encrypted = client.security == .implicitTLS
        if !encrypted && capabilities.contains("STARTTLS") {
            try await say("STARTTLS")
            try await expect(220)
            // From here on the bytes go through TLS; the handshake runs on the next write.
            try await channel.pipeline.addHandler(try NIOSSLClientHandler(context: tls, serverHostname: hostname), position: .first)
            encrypted = true
            try await say("EHLO hubnet")
            capabilities = Set(try await expect(250).dropFirst().map { $0.uppercased() })
        }
        pipelining = capabilities.contains("PIPELINING")
        if !encrypted && (client.security == .startTLSRequired || client.credentials != nil) {
            throw SMTPError(message: "the relay does not offer STARTTLS; credentials and mail are not sent in clear")
        }
        if let credentials = client.credentials {
            let mechanisms = Set(
                capabilities.filter { $0.hasPrefix("AUTH ") || $0.hasPrefix("AUTH=") }
                    .flatMap { $0.dropFirst(5).split(separator: " ").map(String.init) })
            if mechanisms.contains("PLAIN") {
                let token = Data("\0\(credentials.user)\0\(credentials.password)".utf8).base64EncodedString()
                try await say("AUTH PLAIN \(token)")
                try await expect(235)
            } else if mechanisms.contains("LOGIN") {
                try await say("AUTH LOGIN")
                try await expect(334)
                try await say(Data(credentials.user.utf8).base64EncodedString())
                try await expect(334)
                try await say(Data(credentials.password.utf8).base64EncodedString())
                try await expect(235)
            } else {
                throw SMTPError(message: "the relay offers neither AUTH PLAIN nor AUTH LOGIN")
            }
        }
    }

    /// Says goodbye when the conversation is still in step; the connection closes either way.
    func quit() async {
        guard isUsable else { return }
        try? await bounded {
            try await say("QUIT")
            try await expect(221)
        }
        isUsable = false
    }

    /// Runs one exchange under the client's timeout: when it runs out, the connection is closed
    /// (which ends any wait for a reply) and the exchange fails as timed out.
    private func bounded(_ exchange: () async throws -> Void) async throws {
        let expired = Expiry()
        let channel = channel
        let timer = channel.eventLoop.scheduleTask(in: TimeAmount(client.timeout)) {
            expired.flag.withLock { $0 = true }
            channel.close(promise: nil)
        }
        defer { timer.cancel() }
        do {
            try await exchange()
        } catch {
            if expired.flag.withLock({ $0 }) {
                isUsable = false
                throw SMTPError(message: "the relay did not answer within \(client.timeout)")
            }
            throw error
        }
    }

    private final class Expiry: Sendable {
        let flag = Mutex(false)
    }

    private func say(_ line: String) async throws { try await outbound.write(ByteBuffer(string: line + "\r\n")) }

    /// One reply (it may span lines: "250-…" continues, "250 …" ends it); its text lines. Another
    /// code than those expected is `Refused`.
    @discardableResult
    private func expect(_ codes: Int...) async throws -> [String] {
        let reply = try await reply()
        guard codes.contains(reply.code) else { throw Refused(line: reply.line) }
        return reply.text
    }

    /// One reply, whatever its code: the code, its last line as sent, and its text lines.
    private func reply() async throws -> (code: Int, line: String, text: [String]) {
        var text: [String] = []
        while let buffer = try await lines.next() {
            let line = String(buffer: buffer)
            guard line.count >= 3, let replyCode = Int(line.prefix(3)) else {
                throw SMTPError(message: "unreadable reply from the relay")
            }
            text.append(String(line.dropFirst(4)))
            if line.count > 3 && line[line.index(line.startIndex, offsetBy: 3)] == "-" { continue }
            return (replyCode, line, text)
        }
        throw SMTPError(message: "the relay closed the connection")
    }
}
