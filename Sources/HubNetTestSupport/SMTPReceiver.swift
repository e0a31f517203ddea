import Foundation
import NIOCore
import NIOPosix

/// A real SMTP server on loopback for tests: Debian's aiosmtpd, whose debugging handler writes
/// every message it accepts to a file this type reads back.
public final class SMTPReceiver: Sendable {
    public let port: Int
    private let process: Process
    private let capture: URL

    /// Starts the receiver on a free loopback port and waits until it accepts connections.
    public init() async throws {
        let python = "/usr/bin/python3"
        guard FileManager.default.isExecutableFile(atPath: python) else {
            throw ReceiverError(description: "\(python) is missing: install python3-aiosmtpd")
        }
        var lastError: (any Error)?
        for _ in 0..<5 {
            let port = Int.random(in: 20_000...60_000)
            let capture = FileManager.default.temporaryDirectory.appendingPathComponent("hubnet-smtp-\(UUID().uuidString).txt")
            FileManager.default.createFile(atPath: capture.path, contents: nil)
            let process = Process()
            process.executableURL = URL(fileURLWithPath: python)
            process.arguments = ["-u", "-m", "aiosmtpd", "-n", "-l", "127.0.0.1:\(port)", "-c", "aiosmtpd.handlers.Debugging"]
            let output = try FileHandle(forWritingTo: capture)
            process.standardOutput = output
            process.standardError = output
            process.standardInput = FileHandle.nullDevice
            try process.run()
            if await Self.waitForListener(port: port) {
                self.port = port
                self.process = process
                self.capture = capture
                return
            }
            process.terminate()
            lastError = ReceiverError(description: "aiosmtpd did not start on port \(port)")
        }
        throw lastError ?? ReceiverError(description: "aiosmtpd did not start")
    }

    /// Everything received so far, as aiosmtpd printed it.
    public var transcript: String { (try? String(contentsOf: capture, encoding: .utf8)) ?? "" }

    /// The messages received so far, one transcript section each.
    public var messages: [String] {
        transcript.components(separatedBy: "---------- MESSAGE FOLLOWS ----------").dropFirst().map { $0 }
    }

    public func stop() {
        process.terminate()
        try? FileManager.default.removeItem(at: capture)
    }

    private static func waitForListener(port: Int) async -> Bool {
        for _ in 0..<100 {
            if let channel = try? await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connect(host: "127.0.0.1", port: port).get()
            {
                try? await channel.close()
                return true
            }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return false
    }
}

public struct ReceiverError: Error, CustomStringConvertible, Sendable {
    public var description: String
}
