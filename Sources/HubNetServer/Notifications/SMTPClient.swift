import Foundation
import NIOCore
import NIOExtras
import NIOPosix

/// A minimal SMTP client for a trusted relay (plain SMTP on a private network or loopback):
/// EHLO, MAIL FROM, RCPT TO, DATA, QUIT. No AUTH or STARTTLS: put a relay that does them in front.
public struct SMTPClient: Sendable {
    public var host: String
    public var port: Int
    /// The envelope sender and `From:` header.
    public var from: String
    public var timeout: Duration

    public init(host: String, port: Int, from: String, timeout: Duration = .seconds(10)) {
        self.host = host
        self.port = port
        self.from = from
        self.timeout = timeout
    }

    /// `smtp://host:port`.
    public init(url: String, from: String) throws {
        guard let components = URLComponents(string: url), components.scheme == "smtp", let host = components.host else {
            throw SMTPError(message: "HUBNET_SMTP_URL must look like smtp://host:25")
        }
        self.init(host: host, port: components.port ?? 25, from: from)
    }

    /// Sends one message; `messageID` lets receivers recognise a retry of the same message.
    public func send(to recipient: String, subject: String, body: String, messageID: String) async throws {
        try Self.requireSafe(recipient)
        try Self.requireSafe(from)
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.seconds(5))
            .connect(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(LineBasedFrameDecoder()))
                    return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await Task.sleep(for: timeout)
                throw SMTPError(message: "the relay did not answer within \(timeout)")
            }
            group.addTask {
                try await channel.executeThenClose { inbound, outbound in
                    var lines = inbound.makeAsyncIterator()
                    func expect(_ code: Int) async throws {
                        // A reply may span lines: "250-…" continues, "250 …" ends it.
                        while let buffer = try await lines.next() {
                            let line = String(buffer: buffer)
                            guard line.count >= 3, let replyCode = Int(line.prefix(3)) else {
                                throw SMTPError(message: "unreadable reply from the relay")
                            }
                            if line.count > 3 && line[line.index(line.startIndex, offsetBy: 3)] == "-" { continue }
                            guard replyCode == code else { throw SMTPError(message: "relay answered \(line)") }
                            return
                        }
                        throw SMTPError(message: "the relay closed the connection")
                    }
                    func say(_ line: String) async throws { try await outbound.write(ByteBuffer(string: line + "\r\n")) }
                    try await expect(220)
                    try await say("EHLO hubnet")
                    try await expect(250)
                    try await say("MAIL FROM:<\(from)>")
                    try await expect(250)
                    try await say("RCPT TO:<\(recipient)>")
                    try await expect(250)
                    try await say("DATA")
                    try await expect(354)
                    try await outbound.write(ByteBuffer(string: message(to: recipient, subject: subject, body: body, messageID: messageID)))
                    try await expect(250)
                    try await say("QUIT")
                    try? await expect(221)
                }
            }
            try await group.next()
            group.cancelAll()
        }
    }

    /// The message text: headers, a blank line, the body with CRLF line ends and dot-stuffing, the end mark.
    func message(to recipient: String, subject: String, body: String, messageID: String) -> String {
        let date = DateFormatter()
        date.locale = Locale(identifier: "en_US_POSIX")
        date.dateFormat = "EEE, dd MMM yyyy HH:mm:ss Z"
        let headers = [
            "From: <\(from)>", "To: <\(recipient)>", "Subject: \(Self.headerSafe(subject))",
            "Message-ID: <\(messageID)@hubnet>", "Date: \(date.string(from: Date()))",
            "MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit",
        ]
        let lines = body.replacingOccurrences(of: "\r\n", with: "\n").split(separator: "\n", omittingEmptySubsequences: false)
            .map { $0.hasPrefix(".") ? "." + $0 : String($0) }
        return (headers + [""] + lines).joined(separator: "\r\n") + "\r\n.\r\n"
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
