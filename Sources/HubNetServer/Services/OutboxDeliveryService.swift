import AsyncHTTPClient
import Crypto
import Foundation
import HubNetCore
import HubNetPostgres
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// Delivers the outbox: emails through the SMTP relay, webhooks by signed POST; retries failures
/// with exponential backoff and logs every attempt for the tenant to read.
///
/// A message is locked (`FOR UPDATE SKIP LOCKED`) for the whole attempt, so two processes never
/// send it at once, and marked delivered in the same transaction. If a process dies between a
/// receiver's acceptance and the commit, the message is sent again: receivers recognise the repeat
/// by its stable id (`Message-ID`, `X-HubNet-Delivery`).
public struct OutboxDeliveryService: Service {
    let database: Database
    let outbox: PostgresOutboxRepository
    let smtp: SMTPClient?
    let retry: RetryPolicy
    let now: @Sendable () -> Date
    let interval: Duration
    let logger: Logger
    /// Under the test clock: each background pass takes its turn with the clock's moves.
    let gate: PassGate?
    /// How many messages a pass has in flight at once (one per recipient at most).
    let concurrency: Int

    public init(
        database: Database, smtp: SMTPClient?, retry: RetryPolicy = .init(), now: @escaping @Sendable () -> Date,
        interval: Duration = .seconds(1), gate: PassGate? = nil, concurrency: Int = 4
    ) {
        self.gate = gate
        self.concurrency = max(1, concurrency)
        self.database = database
        self.outbox = PostgresOutboxRepository(logger: database.logger)
        self.smtp = smtp
        self.retry = retry
        self.now = now
        self.interval = interval
        self.logger = database.logger
    }

    public func run() async throws {
        await runPeriodically(every: interval, name: "outbox", logger: logger) {
            if let gate { _ = try await gate.run { try await deliverDue() } } else { _ = try await deliverDue() }
        }
    }

    /// One pass over the due messages (at most `batch`); returns how many were delivered.
    ///
    /// Up to `concurrency` workers deliver at once (a relay's round trips and the database's
    /// overlap), but the messages to one recipient (an address, a webhook URL) go one after another
    /// in the order they were queued, so a person reads "accepted" before "closed". Each worker
    /// sends its emails through one relay session (`SMTPClient.withSession`), opened at its first
    /// email and again after a session breaks. A worker's emails of one tenant are locked, sent and
    /// recorded in one transaction (up to `Self.emailsPerTransaction` at a time): a handful of
    /// statements for a tenant's emails, not five for each.
    @discardableResult
    public func deliverDue(batch: Int = 100, concurrency: Int? = nil) async throws -> Int {
        let concurrency = concurrency ?? self.concurrency
        let now = now()
        let due = try await database.withSchedulerScan { connection in
            try await outbox.due(now: now, limit: batch, on: connection)
        }
        // Emails: a lane per tenant and share of its recipients (a recipient always in the same
        // share), so one tenant's burst still goes out side by side. Webhooks: a lane per URL.
        var lanes: [Lane] = []
        var lane: [String: Int] = [:]
        for message in due {
            let key =
                message.channel == .email
                ? "email \(message.tenant) \(Self.share(of: message.recipient, among: concurrency))"
                : "\(message.channel.rawValue) \(message.recipient)"
            if let index = lane[key] {
                lanes[index].messages.append(message.id)
            } else {
                lane[key] = lanes.count
                lanes.append(Lane(channel: message.channel, tenant: message.tenant, messages: [message.id]))
            }
        }
        let emails = LaneQueue(lanes.filter { $0.channel == .email })
        let webhooks = LaneQueue(lanes.filter { $0.channel != .email })
        return try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<max(1, min(concurrency, lanes.count)) {
                group.addTask {
                    var delivered = try await deliverEmails(from: emails, now: now)
                    while let lane = webhooks.next() {
                        for id in lane.messages {
                            delivered += try await attempt(Lane(channel: lane.channel, tenant: lane.tenant, messages: [id]), session: nil, now: now).delivered
                        }
                    }
                    return delivered
                }
            }
            return try await group.reduce(0, +)
        }
    }

    /// The most emails one transaction locks and sends: its locks are held while they go out.
    static let emailsPerTransaction = 20

    /// Which of `count` shares a recipient falls in, the same in every pass and process (FNV-1a).
    static func share(of recipient: String, among count: Int) -> Int {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in recipient.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return Int(hash % UInt64(max(1, count)))
    }

    /// Messages of one tenant that go out in order, by one worker.
    private struct Lane: Sendable {
        var channel: OutboxMessage.Channel
        var tenant: Tenant.ID
        var messages: [OutboxMessage.ID]
    }

    /// Hands each worker the next lane.
    private final class LaneQueue: Sendable {
        private let lanes: Mutex<IndexingIterator<[Lane]>>
        init(_ lanes: [Lane]) { self.lanes = Mutex(lanes.makeIterator()) }
        func next() -> Lane? { lanes.withLock { $0.next() } }
    }

    /// Delivers emails from `queue` until it is empty, through one relay session at a time. Each
    /// message gets one attempt as before: when a session cannot be opened, the message it was
    /// opened for fails with the relay's answer (and is retried later), and the next message tries
    /// a session of its own; when a session breaks, the lane's messages not yet sent go on through
    /// the next one.
    private func deliverEmails(from queue: LaneQueue, now: Date) async throws -> Int {
        var delivered = 0
        var carried: Lane?
        func nextLane() -> Lane? {
            defer { carried = nil }
            return carried ?? queue.next()
        }
        guard let smtp else {
            while let lane = nextLane() { delivered += try await attempt(lane, session: nil, now: now).delivered }
            return delivered
        }
        while var lane = nextLane() {
            var opened = false
            do {
                try await smtp.withSession { session in
                    opened = true
                    while true {
                        let outcome = try await attempt(lane, session: session, now: now)
                        delivered += outcome.delivered
                        if !outcome.unsent.isEmpty {
                            carried = Lane(channel: lane.channel, tenant: lane.tenant, messages: outcome.unsent)
                            return
                        }
                        guard session.isUsable, let following = nextLane() else { return }
                        lane = following
                    }
                }
            } catch where !opened {
                // The relay could not be reached or refused the session: the lane's first message fails with its answer.
                let first = Lane(channel: lane.channel, tenant: lane.tenant, messages: Array(lane.messages.prefix(1)))
                delivered += try await attempt(first, session: nil, failure: error, now: now).delivered
                if lane.messages.count > 1 { carried = Lane(channel: lane.channel, tenant: lane.tenant, messages: Array(lane.messages.dropFirst())) }
            }
        }
        return delivered
    }

    /// Locks a lane's due messages, sends them in order (emails through `session` when one is open;
    /// with `failure`, each attempt fails with it instead) and records the outcomes, in one
    /// transaction per `emailsPerTransaction` messages. Returns how many were delivered, and the
    /// messages not sent because the session broke before their turn (left due, unrecorded).
    private func attempt(
        _ lane: Lane, session: SMTPSession?, failure: (any Error)? = nil, now: Date
    ) async throws -> (delivered: Int, unsent: [OutboxMessage.ID]) {
        var delivered = 0
        var position = 0
        while position < lane.messages.count {
            let chunk = Array(lane.messages[position..<min(lane.messages.count, position + Self.emailsPerTransaction)])
            let (sent, stoppedAt) = try await database.withTenant(lane.tenant, genericPlans: true) { transaction in
                let locked = try await outbox.lockDue(chunk, now: now, in: transaction)
                var attempts: [PostgresOutboxRepository.Attempt] = []
                var stoppedAt: OutboxMessage.ID?
                for (message, secret) in locked {
                    if let session, !session.isUsable {
                        stoppedAt = message.id
                        break
                    }
                    do {
                        if let failure { throw failure }
                        try await send(message, secret: secret, session: session)
                        attempts.append(.init(message, delivered: true, error: nil, retryAt: nil))
                    } catch {
                        let delay = retry.delay(afterAttempt: message.attempts + 1)
                        attempts.append(
                            .init(message, delivered: false, error: "\(error)".prefix(500).description, retryAt: delay.map { now + $0 }))
                    }
                }
                try await outbox.record(attempts, now: now, in: transaction)
                return (attempts.count { $0.delivered }, stoppedAt)
            }
            delivered += sent
            if let stoppedAt, let index = lane.messages.firstIndex(of: stoppedAt) {
                return (delivered, Array(lane.messages[index...]))
            }
            position += chunk.count
        }
        return (delivered, [])
    }

    private func send(_ message: OutboxMessage, secret: String?, session: SMTPSession?) async throws {
        switch message.channel {
        case .email:
            guard let smtp else { throw SMTPError(message: "no SMTP relay is configured (HUBNET_SMTP_URL)") }
            if let session {
                try await session.send(to: message.recipient, subject: message.subject, body: message.body, messageID: message.id.description)
                return
            }
            try await smtp.send(to: message.recipient, subject: message.subject, body: message.body, messageID: message.id.description)
        case .webhook:
            var request = HTTPClientRequest(url: message.recipient)
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/json")
            request.headers.add(name: "X-HubNet-Event", value: message.event)
            request.headers.add(name: "X-HubNet-Delivery", value: message.id.description)
            request.headers.add(name: "X-HubNet-Signature", value: "sha256=" + Self.signature(message.body, secret: secret ?? ""))
            request.body = .bytes(ByteBuffer(string: message.body))
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
            guard (200..<300).contains(response.status.code) else {
                throw SMTPError(message: "the webhook answered \(response.status.code)")
            }
        }
    }

    /// HMAC-SHA256 of the body with the webhook's secret, hex: what receivers recompute to trust a call.
    public static func signature(_ body: String, secret: String) -> String {
        Hex.lowercase(HMAC<SHA256>.authenticationCode(for: Data(body.utf8), using: SymmetricKey(data: Data(secret.utf8))))
    }
}
