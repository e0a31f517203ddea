import Foundation

/// A notification waiting in the outbox, or delivered from it.
public struct OutboxMessage: Sendable, Equatable {
    public typealias ID = Identifier<OutboxMessage>

    public enum Channel: String, Sendable, Codable { case email, webhook }

    public var id: ID
    public var tenantID: Tenant.ID
    /// `referral.accepted`, `referral.declined`, …
    public var event: String
    public var channel: Channel
    /// An email address, or the webhook's URL.
    public var recipient: String
    public var webhookID: Identifier<Webhook>?
    public var subject: String
    public var body: String
    public var createdAt: Date
    public var attempts: Int

    public init(
        id: ID, tenantID: Tenant.ID, event: String, channel: Channel, recipient: String, webhookID: Identifier<Webhook>?,
        subject: String, body: String, createdAt: Date, attempts: Int
    ) {
        self.id = id
        self.tenantID = tenantID
        self.event = event
        self.channel = channel
        self.recipient = recipient
        self.webhookID = webhookID
        self.subject = subject
        self.body = body
        self.createdAt = createdAt
        self.attempts = attempts
    }
}

/// A tenant's registered endpoint for events.
public struct Webhook: Sendable, Equatable {
    public typealias ID = Identifier<Webhook>
    public var id: ID
    public var url: String
    public var events: [String]
    public var createdAt: Date

    public init(id: ID, url: String, events: [String], createdAt: Date) {
        self.id = id
        self.url = url
        self.events = events
        self.createdAt = createdAt
    }

    /// The events a webhook may subscribe to.
    public static let knownEvents: Set<String> = [
        "referral.received", "referral.accept", "referral.decline", "referral.contact", "referral.expire", "referral.convert",
        "referral.close_not_converted",
    ]
}

/// When to try a failed delivery again: exponential, from `base`, capped; given up after `maximumAttempts`.
public struct RetryPolicy: Sendable, Equatable {
    public var base: TimeInterval
    public var cap: TimeInterval
    public var maximumAttempts: Int

    public init(base: TimeInterval = 30, cap: TimeInterval = 3600, maximumAttempts: Int = 10) {
        self.base = base
        self.cap = cap
        self.maximumAttempts = maximumAttempts
    }

    /// The delay after the `attempt`-th failure (1-based), or `nil` to give up.
    public func delay(afterAttempt attempt: Int) -> TimeInterval? {
        guard attempt < maximumAttempts else { return nil }
        return min(cap, base * pow(2, Double(attempt - 1)))
    }
}
