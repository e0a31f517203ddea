import Foundation
import HubNetCore
import Logging
import PostgresNIO

/// Opportunities of one tenant.
public struct PostgresOpportunityRepository: Sendable {
    public let logger: Logger

    public init(logger: Logger) { self.logger = logger }

    static let columns = """
        o.id, (SELECT l.id FROM leads l WHERE l.tenant_id = o.tenant_id AND l.opportunity_id = o.id) AS lead_id,
        o.name, o.stage, o.amount::TEXT, o.created_by, o.created_at, o.closed_at, o.version
        """

    public func create(
        name: String, amount: Decimal?, by user: User.ID, now: Date, in transaction: TenantTransaction
    ) async throws -> Opportunity {
        let name = try Validate.text(name, field: "name", max: 200)
        let amount = try Validate.optionalAmount(amount, field: "amount")
        let id = Opportunity.ID()
        try await transaction.connection.rows(
            """
            INSERT INTO opportunities (tenant_id, id, name, amount, created_by, created_at)
            VALUES (\(transaction.tenant), \(id), \(name), \(amount.map { "\($0)" })::NUMERIC, \(user), \(now))
            """, logger: logger)
        guard let opportunity = try await get(id, in: transaction) else { throw DomainError.notFound("opportunity") }
        return opportunity
    }

    public func get(_ id: Opportunity.ID, lock: Bool = false, in transaction: TenantTransaction)
        async throws -> Opportunity?
    {
        // The lock clause is one of two constants.
        try await Self.opportunities(
            transaction.connection.rows(
                """
                SELECT \(unescaped: Self.columns) FROM opportunities AS o WHERE o.tenant_id = \(transaction.tenant) AND o.id = \(id)
                \(unescaped: lock ? "FOR UPDATE OF o" : "")
                """, logger: logger)
        ).first
    }

    public func list(page: PageRequest, in transaction: TenantTransaction) async throws -> Page<Opportunity> {
        let after = page.after ?? .start
        let rows = try await Self.opportunities(
            transaction.connection.rows(
                """
                SELECT \(unescaped: Self.columns) FROM opportunities AS o
                WHERE o.tenant_id = \(transaction.tenant) AND (o.created_at, o.id) > (hubnet_from_micros(\(after.microseconds)), \(after.id))
                ORDER BY o.created_at, o.id LIMIT \(page.limit + 1)
                """, logger: logger))
        return Page(rows: rows, limit: page.limit) { PageCursor(createdAt: $0.createdAt, id: $0.id.rawValue) }
    }

    /// Moves an opportunity to another stage under a row lock; closed ones stay closed.
    public func move(_ id: Opportunity.ID, to stage: Opportunity.Stage, now: Date, in transaction: TenantTransaction)
        async throws -> Opportunity?
    {
        guard let current = try await get(id, lock: true, in: transaction) else { return nil }
        let moved = try current.moved(to: stage, at: now)
        try await transaction.connection.rows(
            """
            UPDATE opportunities SET stage = \(moved.stage.rawValue), closed_at = \(moved.closedAt), version = version + 1
            WHERE tenant_id = \(transaction.tenant) AND id = \(id)
            """, logger: logger)
        return try await get(id, in: transaction)
    }

    static func opportunities(_ rows: PostgresRows) async throws -> [Opportunity] {
        var result: [Opportunity] = []
        for (id, lead, name, stage, amount, createdBy, createdAt, closedAt, version) in try rows.decode(
            (Opportunity.ID, Lead.ID?, String, String, String?, User.ID, Date, Date?, Int).self)
        {
            result.append(
                Opportunity(
                    id: id, leadID: lead, name: name, stage: Opportunity.Stage(rawValue: stage) ?? .qualification,
                    amount: amount.flatMap { Decimal(string: $0) }, createdBy: createdBy, createdAt: createdAt,
                    closedAt: closedAt, version: version))
        }
        return result
    }
}

/// The hub CRM: clients made from accepted leads, and their advising sessions.
public struct PostgresClientRepository: Sendable {
    public let logger: Logger

    public init(logger: Logger) { self.logger = logger }

    public func list(page: PageRequest, in transaction: TenantTransaction) async throws -> Page<Client> {
        let after = page.after ?? .start
        let rows = try await Self.clients(
            transaction.connection.rows(
                """
                SELECT id, lead_id, name, email, city, created_at FROM clients
                WHERE tenant_id = \(transaction.tenant) AND (created_at, id) > (hubnet_from_micros(\(after.microseconds)), \(after.id))
                ORDER BY created_at, id LIMIT \(page.limit + 1)
                """, logger: logger))
        return Page(rows: rows, limit: page.limit) { PageCursor(createdAt: $0.createdAt, id: $0.id.rawValue) }
    }

    public func get(_ id: Client.ID, in transaction: TenantTransaction) async throws -> Client? {
        try await Self.clients(
            transaction.connection.rows(
                "SELECT id, lead_id, name, email, city, created_at FROM clients WHERE tenant_id = \(transaction.tenant) AND id = \(id)",
                logger: logger)
        ).first
    }

    public func logSession(
        for client: Client.ID, advisor: User.ID, heldAt: Date, durationMinutes: Int, summary: String?, in transaction: TenantTransaction
    ) async throws -> AdvisingSession {
        guard (1...1440).contains(durationMinutes) else { throw DomainError.invalid("duration_minutes", "must be between 1 and 1440") }
        let summary = try Validate.optionalText(summary, field: "summary", max: 10_000)
        let id = AdvisingSession.ID()
        try await transaction.connection.rows(
            """
            INSERT INTO advising_sessions (tenant_id, id, client_id, advisor_id, held_at, duration_minutes, summary)
            VALUES (\(transaction.tenant), \(id), \(client), \(advisor), \(heldAt), \(durationMinutes), \(summary))
            """, logger: logger)
        return AdvisingSession(id: id, clientID: client, advisorID: advisor, heldAt: heldAt, durationMinutes: durationMinutes, summary: summary)
    }

    public func sessions(of client: Client.ID, in transaction: TenantTransaction) async throws -> [AdvisingSession] {
        let rows = try await transaction.connection.rows(
            """
            SELECT id, client_id, advisor_id, held_at, duration_minutes, summary FROM advising_sessions
            WHERE tenant_id = \(transaction.tenant) AND client_id = \(client) ORDER BY held_at, id
            """, logger: logger)
        var sessions: [AdvisingSession] = []
        for (id, client, advisor, heldAt, duration, summary) in try rows.decode(
            (AdvisingSession.ID, Client.ID, User.ID, Date, Int, String?).self)
        {
            sessions.append(AdvisingSession(id: id, clientID: client, advisorID: advisor, heldAt: heldAt, durationMinutes: duration, summary: summary))
        }
        return sessions
    }

    static func clients(_ rows: PostgresRows) async throws -> [Client] {
        var clients: [Client] = []
        for (id, lead, name, email, city, createdAt) in try rows.decode((Client.ID, Lead.ID, String, String?, String?, Date).self) {
            clients.append(Client(id: id, leadID: lead, name: name, email: email, city: city, createdAt: createdAt))
        }
        return clients
    }
}
