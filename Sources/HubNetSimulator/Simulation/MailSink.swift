import Foundation
import NIOCore
import NIOExtras
import NIOPosix
import Synchronization

/// A loopback SMTP receiver for simulations: accepts every message and counts them by Message-ID,
/// so the invariant "every notification delivered once" can be checked against the outbox.
public final class MailSink: Sendable {
    private final class Counts: Sendable { let byID = Mutex<[String: Int]>([:]) }
    private let received = Counts()
    /// While down, every connection is answered `421` and closed: nothing is accepted.
    private let down = Counts()
    private let server: NIOAsyncChannel<NIOAsyncChannel<ByteBuffer, ByteBuffer>, Never>
    private let serving: Task<Void, Never>
    public let port: Int

    public init() async throws {
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 64)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(host: "127.0.0.1", port: 0) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(LineBasedFrameDecoder()))
                    return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        self.server = server
        self.port = server.channel.localAddress?.port ?? 0
        let received = self.received
        let down = self.down
        serving = Task {
            try? await server.executeThenClose { connections in
                try await withThrowingDiscardingTaskGroup { group in
                    for try await connection in connections {
                        group.addTask { try? await Self.converse(connection, received: received, down: down) }
                    }
                }
            }
        }
    }

    /// Takes the receiver down (every connection refused with `421`) or brings it back.
    public func setDown(_ isDown: Bool) { down.byID.withLock { $0["down"] = isDown ? 1 : 0 } }

    /// How many times each Message-ID arrived.
    public var messages: [String: Int] { received.byID.withLock { $0 } }

    public func close() async {
        try? await server.channel.close()
        serving.cancel()
    }

    private static func converse(_ connection: NIOAsyncChannel<ByteBuffer, ByteBuffer>, received: Counts, down: Counts) async throws {
        try await connection.executeThenClose { inbound, outbound in
            func reply(_ line: String) async throws { try await outbound.write(ByteBuffer(string: line + "\r\n")) }
            if down.byID.withLock({ $0["down"] == 1 }) {
                try await reply("421 hubnet-simulator is down, try again later")
                return
            }
            try await reply("220 hubnet-simulator ESMTP")
            var inData = false
            var messageID: String?
            for try await buffer in inbound {
                let line = String(buffer: buffer).trimmingCharacters(in: CharacterSet(charactersIn: "\r"))
                if inData {
                    if line == "." {
                        inData = false
                        let id = messageID ?? ""
                        received.byID.withLock { $0[id, default: 0] += 1 }
                        messageID = nil
                        try await reply("250 accepted")
                    } else if line.lowercased().hasPrefix("message-id:") {
                        messageID = line.dropFirst("message-id:".count).trimmingCharacters(in: .whitespaces)
                            .trimmingCharacters(in: CharacterSet(charactersIn: "<>")).components(separatedBy: "@").first
                    }
                    continue
                }
                switch line.prefix(4).uppercased() {
                case "EHLO":
                    // As a production relay does: the server's envelopes then come in one write each.
                    try await reply("250-hubnet-simulator")
                    try await reply("250 PIPELINING")
                case "DATA":
                    inData = true
                    try await reply("354 end with .")
                case "QUIT":
                    try await reply("221 bye")
                    return
                default: try await reply("250 ok")
                }
            }
        }
    }
}
