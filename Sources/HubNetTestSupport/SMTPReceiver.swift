import Foundation

/// A real SMTP server on loopback for tests: Debian's aiosmtpd, whose debugging handler writes
/// every message it accepts to a file this type reads back.
public final class SMTPReceiver: Sendable {
    public let port: Int
    private let process: Process
    private let capture: URL

    /// How a secure receiver speaks: STARTTLS required before anything else, or TLS from the first
    /// byte; both require AUTH with this user and password.
    public enum Security: Sendable {
        case startTLS(user: String, password: String)
        case implicitTLS(user: String, password: String)
    }

    /// The throwaway certificate of a secure receiver (for `localhost` and 127.0.0.1), to trust as a CA file.
    public let certificateFile: String?

    /// Starts the receiver on a free loopback port and waits until it accepts connections.
    /// `loginOnly` offers AUTH LOGIN and not PLAIN. A plain receiver answers `RCPT TO` for the
    /// addresses in `refusing` with `550` (no such mailbox), and accepts the rest; with
    /// `pipelining` it offers PIPELINING (RFC 2920) and notes, for each envelope, whether its
    /// commands arrived together (`pipelinedEnvelopes`).
    public init(security: Security? = nil, loginOnly: Bool = false, refusing: [String] = [], pipelining: Bool = false) async throws {
        let python = "/usr/bin/python3"
        guard FileManager.default.isExecutableFile(atPath: python) else {
            throw ReceiverError(description: "\(python) is missing: install python3-aiosmtpd")
        }
        var certificate: (cert: String, key: String)?
        if security != nil { certificate = try Self.makeCertificate() }
        var lastError: (any Error)?
        for _ in 0..<5 {
            let port = Int.random(in: 20_000...60_000)
            let capture = FileManager.default.temporaryDirectory.appendingPathComponent("hubnet-smtp-\(UUID().uuidString).txt")
            FileManager.default.createFile(atPath: capture.path, contents: nil)
            let process = Process()
            process.executableURL = URL(fileURLWithPath: python)
            switch security {
            case nil where !refusing.isEmpty || pipelining:
                process.arguments = ["-u", "-c", Self.refusingServer, "\(port)", pipelining ? "pipelining" : "plain"] + refusing
            case nil:
                process.arguments = ["-u", "-c", Self.plainServer, "\(port)"]
            case .startTLS(let user, let password), .implicitTLS(let user, let password):
                guard let certificate else { throw ReceiverError(description: "no certificate") }
                var implicit = false
                if case .implicitTLS = security { implicit = true }
                process.arguments = [
                    "-u", "-c", Self.secureServer, "\(port)", certificate.cert, certificate.key, user, password, implicit ? "implicit" : "starttls",
                    loginOnly ? "login-only" : "any",
                ]
            }
            let output = try FileHandle(forWritingTo: capture)
            process.standardOutput = output
            process.standardError = output
            process.standardInput = FileHandle.nullDevice
            try process.run()
            if await Self.waitUntilReady(port: port, process: process, capture: capture) {
                self.port = port
                self.process = process
                self.capture = capture
                self.certificateFile = certificate?.cert
                return
            }
            process.terminate()
            lastError = ReceiverError(description: "aiosmtpd did not start on port \(port)")
        }
        throw lastError ?? ReceiverError(description: "aiosmtpd did not start")
    }

    /// A self-signed certificate for localhost and 127.0.0.1, made with the openssl command.
    static func makeCertificate() throws -> (cert: String, key: String) {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("hubnet-smtp-tls-\(UUID().uuidString)").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = [
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", base + ".key", "-out", base + ".pem", "-days", "2",
            "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw ReceiverError(description: "openssl could not make a certificate") }
        return (base + ".pem", base + ".key")
    }

    /// aiosmtpd with the Debugging handler, which prints each message it accepts.
    static let plainServer = #"""
        import sys, time
        from aiosmtpd.controller import Controller
        from aiosmtpd.handlers import Debugging
        port = int(sys.argv[1])
        controller = Controller(Debugging(sys.stdout), hostname="127.0.0.1", port=port)
        controller.start()
        print("RECEIVER READY", port, flush=True)
        while True:
            time.sleep(3600)
        """#

    /// aiosmtpd with TLS and AUTH required; prints each message as the Debugging handler does,
    /// with the authenticated user.
    static let secureServer = #"""
        import ssl, sys, time
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult
        port, cert, key, user, password, mode, mechanisms = sys.argv[1:8]
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        def authenticate(server, session, envelope, mechanism, data):
            ok = data.login.decode() == user and data.password.decode() == password
            print("AUTH", mechanism, "ok" if ok else "refused", flush=True)
            return AuthResult(success=ok, auth_data=data.login.decode() if ok else None)
        class Handler:
            async def handle_DATA(self, server, session, envelope):
                print("---------- MESSAGE FOLLOWS ----------", flush=True)
                print("X-Authenticated-As:", session.auth_data or "-", flush=True)
                print(envelope.content.decode("utf-8", "replace"), flush=True)
                print("------------ END MESSAGE ------------", flush=True)
                return "250 OK"
        options = dict(authenticator=authenticate, auth_required=True)
        if mechanisms == "login-only":
            options["auth_exclude_mechanism"] = ["PLAIN"]
        if mode == "implicit":
            # The whole connection is TLS (aiosmtpd's own TLS check sees only STARTTLS).
            controller = Controller(Handler(), hostname="127.0.0.1", port=int(port), ssl_context=context, auth_require_tls=False, **options)
        else:
            controller = Controller(Handler(), hostname="127.0.0.1", port=int(port), tls_context=context, require_starttls=True, auth_require_tls=True, **options)
        controller.start()
        print("RECEIVER READY", port, flush=True)
        while True:
            time.sleep(3600)
        """#

    /// aiosmtpd that refuses some recipients with `550`; prints each message as the Debugging
    /// handler does (with `X-Peer`, the client's address and port), and each `RSET`. With
    /// `pipelining` it offers PIPELINING; either way it prints, for each `MAIL FROM`, whether the
    /// envelope's `RCPT TO` and `DATA` were already waiting unread behind it (sent in one go).
    static let refusingServer = #"""
        import sys, time
        from aiosmtpd.controller import Controller
        port, mode, refused = int(sys.argv[1]), sys.argv[2], set(sys.argv[3:])
        class Handler:
            async def handle_EHLO(self, server, session, envelope, hostname, responses):
                session.host_name = hostname
                if mode == "pipelining":
                    responses.insert(len(responses) - 1, "250-PIPELINING")
                return responses
            async def handle_MAIL(self, server, session, envelope, address, mail_options):
                waiting = bytes(server._reader._buffer)
                together = b"RCPT TO:" in waiting and b"DATA" in waiting
                print("ENVELOPE", "pipelined" if together else "one-by-one", flush=True)
                envelope.mail_from = address
                envelope.mail_options.extend(mail_options)
                return "250 OK"
            async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
                if address in refused:
                    print("REFUSED", address, flush=True)
                    return "550 5.1.1 no such mailbox"
                envelope.rcpt_tos.append(address)
                return "250 OK"
            async def handle_RSET(self, server, session, envelope):
                print("RSET", session.peer, flush=True)
                return "250 OK"
            async def handle_DATA(self, server, session, envelope):
                print("---------- MESSAGE FOLLOWS ----------", flush=True)
                print(envelope.content.decode("utf-8", "replace"), flush=True)
                print("X-Peer:", session.peer, flush=True)
                print("------------ END MESSAGE ------------", flush=True)
                return "250 OK"
        controller = Controller(Handler(), hostname="127.0.0.1", port=port)
        controller.start()
        print("RECEIVER READY", port, flush=True)
        while True:
            time.sleep(3600)
        """#

    /// How each envelope arrived, in order: `true` when its `RCPT TO` and `DATA` came with its
    /// `MAIL FROM`, before the receiver answered it (a receiver started with `refusing` or `pipelining`).
    public var pipelinedEnvelopes: [Bool] {
        transcript.split(whereSeparator: \.isNewline).compactMap { line in
            line.hasPrefix("ENVELOPE ") ? line.hasSuffix(" pipelined") : nil
        }
    }

    /// The connections the messages arrived through (aiosmtpd's `X-Peer`, the client's address and
    /// port), one per message.
    public var peers: [String] {
        messages.compactMap { message in
            message.split(whereSeparator: \.isNewline).first { $0.hasPrefix("X-Peer: ") }.map { String($0.dropFirst(8)) }
        }
    }

    /// Everything received so far, as aiosmtpd printed it.
    public var transcript: String { (try? String(contentsOf: capture, encoding: .utf8)) ?? "" }

    /// The messages received so far, one transcript section each.
    public var messages: [String] {
        transcript.components(separatedBy: "---------- MESSAGE FOLLOWS ----------").dropFirst().map { $0 }
    }

    /// The messages matching `predicate` once at least `count` of them arrived, or after five
    /// seconds whatever arrived (the caller asserts the exact count).
    public func waitForMessages(count: Int, matching predicate: (String) -> Bool) async throws -> [String] {
        let deadline = ContinuousClock.now + .seconds(5)
        while true {
            let found = messages.filter(predicate)
            if found.count >= count || ContinuousClock.now >= deadline { return found }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Stops the receiver for good. aiosmtpd outlives SIGTERM, so it gets SIGKILL, and is waited for.
    public func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(at: capture)
    }

    /// Waits until this process's own aiosmtpd says it listens on the port. Each script prints
    /// `RECEIVER READY <port>` only after its `Controller.start()` bound the port and answered its
    /// own test connection, and a receiver whose port is taken exits instead; so a receiver of
    /// another test that happens to listen on the same random port is never taken for this one
    /// (which a greeting or a bare connection could not tell apart: once, a TLS test met another
    /// receiver's certificate that way).
    private static func waitUntilReady(port: Int, process: Process, capture: URL) async -> Bool {
        let ready = "RECEIVER READY \(port)"
        for _ in 0..<200 {
            guard process.isRunning else { return false }
            if let text = try? String(contentsOf: capture, encoding: .utf8), text.contains(ready) { return process.isRunning }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return false
    }
}

public struct ReceiverError: Error, CustomStringConvertible, Sendable {
    public var description: String
}
