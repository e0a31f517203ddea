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
    /// email and again after a session breaks.
    @discardableResult
    public func deliverDue(batch: Int = 100, concurrency: Int? = nil) async throws -> Int {
        let concurrency = concurrency ?? self.concurrency
        let now = now()
        let due = try await database.withSchedulerScan { connection in
            try await outbox.due(now: now, limit: batch, on: connection)
        }
        var lanes: [Lane] = []
        var lane: [String: Int] = [:]
        for message in due {
            let channel = message.channel
            if let index = lane[channel.rawValue + " " + message.recipient] {
                lanes[index].messages.append((message.tenant, message.id))
            } else {
                lane[channel.rawValue + " " + message.recipient] = lanes.count
                lanes.append(Lane(channel: channel, messages: [(message.tenant, message.id)]))
            }
        }
        let emails = LaneQueue(lanes.filter { $0.channel == .email })
        let webhooks = LaneQueue(lanes.filter { $0.channel != .email })
        return try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<max(1, min(concurrency, lanes.count)) {
                group.addTask {
                    var delivered = try await deliverEmails(from: emails, now: now)
                    while let lane = webhooks.next() {
                        for (tenant, id) in lane.messages where try await attempt(id, tenant: tenant, session: nil, now: now) { delivered += 1 }
                    }
                    return delivered
                }
            }
            return try await group.reduce(0, +)
        }
    }

    /// One recipient's due messages, in the order they were queued.
    private struct Lane: Sendable {
        var channel: OutboxMessage.Channel
        var messages: [(Tenant.ID, OutboxMessage.ID)]
    }

    /// Hands each worker the next recipient's messages.
    private final class LaneQueue: Sendable {
        private let lanes: Mutex<IndexingIterator<[Lane]>>
        init(_ lanes: [Lane]) { self.lanes = Mutex(lanes.makeIterator()) }
        func next() -> Lane? { lanes.withLock { $0.next() } }
    }

    /// Delivers emails from `queue` until it is empty, through one relay session at a time. Each
    /// message gets one attempt as before: when a session cannot be opened, the message it was
    /// opened for fails with the relay's answer (and is retried later), and the next message tries
    /// a session of its own.
    private func deliverEmails(from queue: LaneQueue, now: Date) async throws -> Int {
        var delivered = 0
        var pending: [(Tenant.ID, OutboxMessage.ID)] = []
        func nextMessage() -> (Tenant.ID, OutboxMessage.ID)? {
            if pending.isEmpty, let lane = queue.next() { pending = lane.messages }
            return pending.isEmpty ? nil : pending.removeFirst()
        }
        guard let smtp else {
            while let (tenant, id) = nextMessage() {
                if try await attempt(id, tenant: tenant, session: nil, now: now) { delivered += 1 }
            }
            return delivered
        }
        while var message = nextMessage() {
            var opened = false
            do {
                try await smtp.withSession { session in
                    opened = true
                    while true {
                        if try await attempt(message.1, tenant: message.0, session: session, now: now) { delivered += 1 }
                        guard session.isUsable, let following = nextMessage() else { return }
                        message = following
                    }
                }
            } catch where !opened {
                // The relay could not be reached or refused the session: this message's attempt fails with its answer.
                if try await attempt(message.1, tenant: message.0, session: nil, failure: error, now: now) { delivered += 1 }
            }
        }
        return delivered
    }

    /// Locks a due message, sends it (through `session` when it is an email and one is open; with
    /// `failure`, the attempt fails with it instead) and records the outcome, in one transaction.
    private func attempt(
        _ id: OutboxMessage.ID, tenant: Tenant.ID, session: SMTPSession?, failure: (any Error)? = nil, now: Date
    ) async throws -> Bool {
        try await database.withTenant(tenant) { connection in
            guard let (message, secret) = try await outbox.lockDue(id, tenant: tenant, now: now, on: connection) else { return false }
            do {
                if let failure { throw failure }
                try await send(message, secret: secret, session: session)
                try await outbox.record(message, delivered: true, error: nil, retryAt: nil, now: now, on: connection)
                return true
            } catch {
                let delay = retry.delay(afterAttempt: message.attempts + 1)
                try await outbox.record(
                    message, delivered: false, error: "\(error)".prefix(500).description, retryAt: delay.map { now + $0 }, now: now,
                    on: connection)
                return false
            }
        }
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
