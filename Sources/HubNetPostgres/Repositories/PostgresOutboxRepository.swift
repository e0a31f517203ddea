import Foundation
import HubNetCore
import Logging
import PostgresNIO

/// The transactional outbox: notifications are enqueued in the transaction of the action that
/// causes them, and delivered later, each locked by one worker at a time.
public struct PostgresOutboxRepository: Sendable {
    public let logger: Logger

    public init(logger: Logger) { self.logger = logger }

    static let columns = "id, tenant_id, event, channel, recipient, webhook_id, subject, body, created_at, attempts"

    /// Enqueues a notice of the catalog to `email` (in the tenant's own text for it when it has
    /// one), and one message per webhook of the tenant subscribed to `event`.
    public func enqueue(
        event: String, email: String?, notice: NoticeCatalog.Filled, webhookBody: String, now: Date,
        in transaction: TenantTransaction
    ) async throws {
        let text = notice.text()
        try await enqueue(
            event: event, email: email, subject: text.subject, body: text.body, notice: notice, webhookBody: webhookBody, now: now, in: transaction)
    }

    /// Enqueues an email, and one message per webhook of the tenant subscribed to `event`.
    public func enqueue(
        event: String, email: String?, subject: String, body: String, webhookBody: String, now: Date,
        in transaction: TenantTransaction
    ) async throws {
        try await enqueue(
            event: event, email: email, subject: subject, body: body, notice: nil, webhookBody: webhookBody, now: now,
            in: transaction)
    }

    private func enqueue(
        event: String, email: String?, subject: String, body: String, notice: NoticeCatalog.Filled?, webhookBody: String,
        now: Date, in transaction: TenantTransaction
    ) async throws {
        // One statement: the email (when there is an address), then a message per subscribed
        // webhook; it returns the tenant's own text for the email's notice, if it has one.
        let id = OutboxMessage.ID()
        let keys = email == nil ? [] : notice.map { [$0.key] } ?? []
        let own = try await transaction.connection.rows(
            """
            WITH own AS (\(unescaped: Self.ownTexts)),
            queued AS (
                INSERT INTO outbox (tenant_id, id, event, channel, recipient, webhook_id, subject, body, created_at, next_attempt_at)
                SELECT \(transaction.tenant), \(id), \(event), 'email', e.address, NULL::UUID, \(subject), \(body), \(now), \(now)
                FROM (SELECT \(email)::TEXT AS address) AS e WHERE e.address IS NOT NULL
                UNION ALL
                SELECT w.tenant_id, gen_random_uuid(), \(event), 'webhook', w.url, w.id, '', \(webhookBody), \(now), \(now)
                FROM webhooks AS w WHERE w.tenant_id = \(transaction.tenant) AND \(event) = ANY(w.events)
            )
            SELECT name, subject, body, notice FROM own WHERE own.tenant_id = \(transaction.tenant) AND own.notice = ANY(\(keys)::TEXT[])
            """, preparedAs: Enqueue.self, logger: logger)
        try await rewrite(notice.map { [(id.rawValue, $0)] } ?? [], in: own, in: transaction)
    }

    /// The tenant's own notice texts (`MessageTemplate.notice`), as the enqueueing statements read
    /// them beside their inserts (a constant).
    private static let ownTexts = "SELECT tenant_id, name, subject, body, notice FROM message_templates WHERE notice IS NOT NULL"

    /// Rewrites the just-enqueued emails of catalog notices in the tenant's own texts for them,
    /// which the enqueueing statement returned: nothing to do, and no statement, when it has none.
    private func rewrite(
        _ emails: [(id: UUID, notice: NoticeCatalog.Filled)], in own: PostgresRows, in transaction: TenantTransaction
    ) async throws {
        var texts: [String: MessageTemplate] = [:]
        for (name, subject, body, notice) in try own.decode((String, String, String, String).self) {
            texts[notice] = MessageTemplate(name: name, channel: .email, subject: subject, body: body, notice: notice)
        }
        let rewritten = emails.compactMap { email in texts[email.notice.key].map { (email.id, email.notice.text(in: $0)) } }
        guard !rewritten.isEmpty else { return }
        try await transaction.connection.rows(
            """
            UPDATE outbox AS o SET subject = r.subject, body = r.body
            FROM unnest(\(rewritten.map(\.0))::UUID[], \(rewritten.map(\.1.subject))::TEXT[], \(rewritten.map(\.1.body))::TEXT[])
                AS r(id, subject, body)
            WHERE o.tenant_id = \(transaction.tenant) AND o.id = r.id
            """, logger: logger)
    }

    /// The notices' texts, each in the tenant's own text for its notice when it has one
    /// (`MessageTemplate.notice`), else in the catalog's: one statement to look them up.
    func written(_ notices: [NoticeCatalog.Filled], in transaction: TenantTransaction) async throws
        -> [NoticeCatalog.Text]
    {
        let own = try await PostgresMessageTemplateRepository(logger: logger).noticeTexts(
            Set(notices.map(\.key)), in: transaction)
        return notices.map { $0.text(in: own[$0.key]) }
    }

    /// A notice's statement, sent by most actions, and a batch's, kept parsed per connection (`PreparedStatementKey`).
    enum Enqueue: PreparedStatementKey {}
    enum EnqueueMessages: PreparedStatementKey {}

    /// One email of a batch (`enqueue(_:event:…)`): a notice of the catalog, or a text of its own.
    public struct Notice: Sendable {
        public var email: String
        public var subject: String
        public var body: String
        /// Written in the tenant's own text for this notice when it has one.
        public var notice: NoticeCatalog.Filled?

        public init(email: String, subject: String, body: String) {
            self.email = email
            self.subject = subject
            self.body = body
        }

        public init(email: String, notice: NoticeCatalog.Filled) {
            let text = notice.text()
            self.init(email: email, subject: text.subject, body: text.body)
            self.notice = notice
        }
    }

    /// Enqueues one event in one statement: an email for each notice (none at all is fine), and one
    /// message to every webhook of the tenant subscribed to the event. Notices of the catalog are
    /// written in the tenant's own texts for them (`rewrite`: one statement more when it has any).
    public func enqueue(
        _ notices: [Notice], event: String, webhookBody: String, now: Date, in transaction: TenantTransaction
    ) async throws {
        let ids = notices.map { _ in UUID() }
        let filled = zip(ids, notices).compactMap { id, notice in notice.notice.map { (id, $0) } }
        let own = try await transaction.connection.rows(
            """
            WITH own AS (\(unescaped: Self.ownTexts)),
            n AS (
                SELECT n.id, n.address, n.subject, n.body, n.position
                FROM unnest(\(ids)::UUID[], \(notices.map(\.email))::TEXT[], \(notices.map(\.subject))::TEXT[],
                    \(notices.map(\.body))::TEXT[]) WITH ORDINALITY AS n(id, address, subject, body, position)
            ),
            queued AS (
                INSERT INTO outbox (tenant_id, id, event, channel, recipient, webhook_id, subject, body, created_at, next_attempt_at)
                SELECT \(transaction.tenant), n.id, \(event), 'email', n.address, NULL::UUID, n.subject, n.body, \(now), \(now) FROM n
                UNION ALL
                SELECT w.tenant_id, gen_random_uuid(), \(event), 'webhook', w.url, w.id, '', \(webhookBody), \(now), \(now)
                FROM webhooks AS w WHERE w.tenant_id = \(transaction.tenant) AND \(event) = ANY(w.events)
            )
            SELECT name, subject, body, notice FROM own
            WHERE own.tenant_id = \(transaction.tenant) AND own.notice = ANY(\(Array(Set(filled.map(\.1.key))))::TEXT[])
            """, logger: logger)
        try await rewrite(filled, in: own, in: transaction)
    }

    /// One notice of a batch (`enqueue(_:tenant:…)`): its event, the email (when there is an
    /// address) and the body for the tenant's webhooks subscribed to the event.
    public struct Message: Sendable {
        public var event: String
        public var email: String?
        public var subject: String
        public var body: String
        public var webhookBody: String
        /// Written in the tenant's own text for this notice when it has one.
        public var notice: NoticeCatalog.Filled?

        public init(event: String, email: String?, subject: String, body: String, webhookBody: String) {
            self.event = event
            self.email = email
            self.subject = subject
            self.body = body
            self.webhookBody = webhookBody
        }

        public init(event: String, email: String?, notice: NoticeCatalog.Filled, webhookBody: String) {
            let text = notice.text()
            self.init(event: event, email: email, subject: text.subject, body: text.body, webhookBody: webhookBody)
            self.notice = notice
        }
    }

    /// Enqueues a batch's notices, of any events, in one statement: for each, as `enqueue` does for
    /// one, the email and a message to every webhook of the tenant subscribed to its event. Emails
    /// of catalog notices are written in the tenant's own texts for them (`rewrite`).
    public func enqueue(_ messages: [Message], now: Date, in transaction: TenantTransaction) async throws {
        guard !messages.isEmpty else { return }
        let ids = messages.map { _ in UUID() }
        let filled = zip(ids, messages).compactMap { id, message in message.email == nil ? nil : message.notice.map { (id, $0) } }
        let own = try await transaction.connection.rows(
            """
            WITH own AS (\(unescaped: Self.ownTexts)),
            n AS (
                -- No address is an empty text in the array (an address is never empty).
                SELECT n.id, n.event, NULLIF(n.address, '') AS address, n.subject, n.body, n.hook, n.position
                FROM unnest(\(ids)::UUID[], \(messages.map(\.event))::TEXT[], \(messages.map { $0.email ?? "" })::TEXT[],
                    \(messages.map(\.subject))::TEXT[], \(messages.map(\.body))::TEXT[], \(messages.map(\.webhookBody))::TEXT[])
                    WITH ORDINALITY AS n(id, event, address, subject, body, hook, position)
            ),
            queued AS (
                INSERT INTO outbox (tenant_id, id, event, channel, recipient, webhook_id, subject, body, created_at, next_attempt_at)
                SELECT \(transaction.tenant), n.id, n.event, 'email', n.address, NULL::UUID, n.subject, n.body, \(now), \(now) FROM n
                WHERE n.address IS NOT NULL
                UNION ALL
                SELECT w.tenant_id, gen_random_uuid(), n.event, 'webhook', w.url, w.id, '', n.hook, \(now), \(now)
                FROM n JOIN webhooks AS w ON w.tenant_id = \(transaction.tenant) AND n.event = ANY(w.events)
            )
            SELECT name, subject, body, notice FROM own
            WHERE own.tenant_id = \(transaction.tenant) AND own.notice = ANY(\(Array(Set(filled.map(\.1.key))))::TEXT[])
            """, preparedAs: EnqueueMessages.self, logger: logger)
        try await rewrite(filled, in: own, in: transaction)
    }

    /// Enqueues one email of a catalog notice that no webhook hears of, in the tenant's own text
    /// for it when it has one.
    public func enqueueEmail(
        event: String, to email: String, notice: NoticeCatalog.Filled, now: Date, in transaction: TenantTransaction
    ) async throws {
        let text = try await written([notice], in: transaction)[0]
        try await enqueueEmail(event: event, to: email, subject: text.subject, body: text.body, now: now, in: transaction)
    }

    /// Enqueues one email that no webhook hears of (a console sign-in link).
    public func enqueueEmail(
        event: String, to email: String, subject: String, body: String, now: Date, in transaction: TenantTransaction
    ) async throws {
        try await transaction.connection.rows(
            """
            INSERT INTO outbox (tenant_id, id, event, channel, recipient, subject, body, created_at, next_attempt_at)
            VALUES (\(transaction.tenant), \(OutboxMessage.ID()), \(event), 'email', \(email), \(subject), \(body), \(now), \(now))
            """, logger: logger)
    }

    /// Messages of every tenant due for an attempt. Runs inside `Database.withSchedulerScan`.
    public func due(now: Date, limit: Int, on connection: PostgresConnection) async throws
        -> [(tenant: Tenant.ID, id: OutboxMessage.ID, channel: OutboxMessage.Channel, recipient: String)]
    {
        let rows = try await connection.rows(
            """
            SELECT tenant_id, id, channel, recipient FROM outbox
            WHERE delivered_at IS NULL AND failed_at IS NULL AND next_attempt_at <= \(now)
            ORDER BY next_attempt_at, created_at, id LIMIT \(limit)
            """, logger: logger)
        var due: [(tenant: Tenant.ID, id: OutboxMessage.ID, channel: OutboxMessage.Channel, recipient: String)] = []
        for (tenant, id, channel, recipient) in try rows.decode((Tenant.ID, OutboxMessage.ID, String, String).self) {
            due.append((tenant, id, OutboxMessage.Channel(rawValue: channel) ?? .email, recipient))
        }
        return due
    }

    /// Locks the due messages among `ids`, in their order; those another worker holds, or no
    /// longer due, are left out. One statement, however many.
    public func lockDue(_ ids: [OutboxMessage.ID], now: Date, in transaction: TenantTransaction) async throws
        -> [(OutboxMessage, secret: String?)]
    {
        let rows = try await transaction.connection.rows(
            """
            SELECT o.id, o.tenant_id, o.event, o.channel, o.recipient, o.webhook_id, o.subject, o.body, o.created_at, o.attempts,
                   w.secret
            FROM outbox AS o LEFT JOIN webhooks AS w ON w.tenant_id = o.tenant_id AND w.id = o.webhook_id
            WHERE o.tenant_id = \(transaction.tenant) AND o.id = ANY(\(ids.map(\.rawValue))::UUID[]) AND o.delivered_at IS NULL
              AND o.failed_at IS NULL AND o.next_attempt_at <= \(now)
            FOR UPDATE OF o SKIP LOCKED
            """, preparedAs: LockDue.self, logger: logger)
        var locked: [OutboxMessage.ID: (OutboxMessage, secret: String?)] = [:]
        for (id, tenant, event, channel, recipient, webhook, subject, body, createdAt, attempts, secret) in try rows.decode(
            (OutboxMessage.ID, Tenant.ID, String, String, String, Webhook.ID?, String, String, Date, Int, String?).self)
        {
            let message = OutboxMessage(
                id: id, tenantID: tenant, event: event, channel: .init(rawValue: channel) ?? .email, recipient: recipient,
                webhookID: webhook, subject: subject, body: body, createdAt: createdAt, attempts: attempts)
            locked[id] = (message, secret)
        }
        return ids.compactMap { locked[$0] }
    }

    /// The statements of every delivery attempt, kept parsed per connection (`PreparedStatementKey`).
    enum LockDue: PreparedStatementKey {}
    enum RecordAttempts: PreparedStatementKey {}

    /// One attempt's outcome: delivered, retry at `retryAt`, or (failed, no `retryAt`) given up.
    public struct Attempt: Sendable {
        public var message: OutboxMessage
        public var delivered: Bool
        public var error: String?
        public var retryAt: Date?

        public init(_ message: OutboxMessage, delivered: Bool, error: String?, retryAt: Date?) {
            self.message = message
            self.delivered = delivered
            self.error = error
            self.retryAt = retryAt
        }
    }

    /// Records attempts of the tenant's messages in one statement: each message's state and its
    /// line in the delivery log. The ids are bound beside the rows so that each message is reached
    /// by its key: a delivery pass runs on generic plans, and joined on the rows alone one read all
    /// of the tenant's outbox (see `PostgresLeadRepository.applyEdits`).
    public func record(_ attempts: [Attempt], now: Date, in transaction: TenantTransaction) async throws {
        guard !attempts.isEmpty else { return }
        try await transaction.connection.rows(
            """
            WITH a AS (
                SELECT * FROM unnest(\(attempts.map(\.message.id.rawValue))::UUID[], \(attempts.map { $0.message.attempts + 1 })::INT[],
                    \(attempts.map(\.delivered))::BOOL[], \(attempts.map { $0.error ?? "" })::TEXT[],
                    \(attempts.map { $0.retryAt != nil })::BOOL[], \(attempts.map { $0.retryAt ?? now })::TIMESTAMPTZ[])
                    AS a(id, attempt, delivered, error, retrying, retry_at)
            ), attempted AS (
                UPDATE outbox AS o SET attempts = a.attempt, last_error = NULLIF(a.error, ''),
                    delivered_at = CASE WHEN a.delivered THEN \(now) END,
                    failed_at = CASE WHEN NOT a.delivered AND NOT a.retrying THEN \(now) END,
                    next_attempt_at = CASE WHEN a.retrying THEN a.retry_at ELSE o.next_attempt_at END,
                    -- A sign-in link is a credential until it expires: once delivered, the copy goes.
                    body = CASE WHEN a.delivered AND o.event = 'console.sign_in' THEN '(sign-in link removed after delivery)' ELSE o.body END
                FROM a WHERE o.tenant_id = \(transaction.tenant) AND o.id = ANY(\(attempts.map(\.message.id.rawValue))::UUID[]) AND o.id = a.id
                RETURNING o.tenant_id, o.id, a.attempt, a.delivered, a.retrying, a.error
            )
            INSERT INTO deliveries (tenant_id, id, outbox_id, attempt, at, outcome, detail)
            SELECT t.tenant_id, gen_random_uuid(), t.id, t.attempt, \(now),
                CASE WHEN t.delivered THEN 'delivered' WHEN t.retrying THEN 'retrying' ELSE 'failed' END, NULLIF(t.error, '')
            FROM attempted AS t
            """, preparedAs: RecordAttempts.self, logger: logger)
    }

    public struct LogEntry: Sendable {
        public var outboxID: OutboxMessage.ID
        public var event: String
        public var channel: String
        public var recipient: String
        public var attempt: Int
        public var at: Date
        public var outcome: String
        public var detail: String?
    }

    /// The tenant's delivery log, newest first.
    public func log(limit: Int, in transaction: TenantTransaction) async throws -> [LogEntry] {
        let rows = try await transaction.connection.rows(
            """
            SELECT d.outbox_id, o.event, o.channel, o.recipient, d.attempt, d.at, d.outcome, d.detail
            FROM deliveries AS d JOIN outbox AS o ON o.tenant_id = d.tenant_id AND o.id = d.outbox_id
            WHERE d.tenant_id = \(transaction.tenant) ORDER BY d.at DESC, d.attempt DESC LIMIT \(limit)
            """, logger: logger)
        var entries: [LogEntry] = []
        for (id, event, channel, recipient, attempt, at, outcome, detail) in try rows.decode(
            (OutboxMessage.ID, String, String, String, Int, Date, String, String?).self)
        {
            entries.append(LogEntry(outboxID: id, event: event, channel: channel, recipient: recipient, attempt: attempt, at: at, outcome: outcome, detail: detail))
        }
        return entries
    }
}

/// Webhooks a tenant registered for events.
public struct PostgresWebhookRepository: Sendable {
    public let logger: Logger

    public init(logger: Logger) { self.logger = logger }

    /// Registers a webhook; returns it with its signing secret, shown once.
    public func create(url: String, events: [String], now: Date, in transaction: TenantTransaction)
        async throws -> (Webhook, secret: String)
    {
        guard let url = try Validate.optionalURL(url, field: "url") else { throw DomainError.invalid("url", "must not be empty") }
        guard !events.isEmpty else { throw DomainError.invalid("events", "must name at least one event") }
        if let unknown = events.first(where: { !Webhook.knownEvents.contains($0) }) {
            throw DomainError.invalid("events", "unknown event '\(unknown)'; known: \(Webhook.knownEvents.sorted().joined(separator: ", "))")
        }
        let secret = BearerToken.generate(.user, tenant: transaction.tenant).secret
        let webhook = Webhook(id: .init(), url: url, events: events, createdAt: now)
        try await transaction.connection.rows(
            """
            INSERT INTO webhooks (tenant_id, id, url, secret, events, created_at)
            VALUES (\(transaction.tenant), \(webhook.id), \(url), \(secret), \(events), \(now))
            """, logger: logger)
        return (webhook, secret)
    }

    public func list(in transaction: TenantTransaction) async throws -> [Webhook] {
        let rows = try await transaction.connection.rows(
            "SELECT id, url, events, created_at FROM webhooks WHERE tenant_id = \(transaction.tenant) ORDER BY created_at, id", logger: logger)
        var hooks: [Webhook] = []
        for (id, url, events, createdAt) in try rows.decode((Webhook.ID, String, [String], Date).self) {
            hooks.append(Webhook(id: id, url: url, events: events, createdAt: createdAt))
        }
        return hooks
    }

    public func delete(_ id: Webhook.ID, in transaction: TenantTransaction) async throws -> Bool {
        !(try await transaction.connection.rows(
            "DELETE FROM webhooks WHERE tenant_id = \(transaction.tenant) AND id = \(id) RETURNING id", logger: logger
        ).isEmpty)
    }
}
