import Foundation
import HubNetCore
import Logging
import PostgresNIO

/// Shared notes on leads: append-only, with author and time.
public struct PostgresLeadNoteRepository: Sendable {
    public let logger: Logger

    public init(logger: Logger) { self.logger = logger }

    /// - Parameter id: the note's id; a device chooses it so its offline copy keeps it.
    public func add(
        _ body: String, id: LeadNote.ID = LeadNote.ID(), to lead: Lead.ID, author: User.ID, now: Date,
        in transaction: TenantTransaction
    ) async throws -> LeadNote {
        let body = try Validate.text(body, field: "body", max: 10_000)
        let rows = try await transaction.connection.rows(
            """
            INSERT INTO lead_notes (tenant_id, id, lead_id, author_id, body, created_at)
            VALUES (\(transaction.tenant), \(id), \(lead), \(author), \(body), \(now))
            RETURNING id, lead_id, author_id, body, created_at
            """, logger: logger)
        guard let note = try await Self.notes(rows).first else { throw DomainError.notFound("lead") }
        return note
    }

    public func list(lead: Lead.ID, in transaction: TenantTransaction) async throws -> [LeadNote] {
        try await Self.notes(
            transaction.connection.rows(
                """
                SELECT id, lead_id, author_id, body, created_at FROM lead_notes
                WHERE tenant_id = \(transaction.tenant) AND lead_id = \(lead) ORDER BY created_at, id
                """, logger: logger))
    }

    static func notes(_ rows: PostgresRows) async throws -> [LeadNote] {
        var notes: [LeadNote] = []
        for (id, lead, author, body, createdAt) in try rows.decode((LeadNote.ID, Lead.ID, User.ID, String, Date).self) {
            notes.append(LeadNote(id: id, leadID: lead, authorID: author, body: body, createdAt: createdAt))
        }
        return notes
    }
}

/// Activities (calls, meetings) scheduled on leads.
public struct PostgresLeadActivityRepository: Sendable {
    public let logger: Logger

    public init(logger: Logger) { self.logger = logger }

    static let columns = "id, lead_id, kind, title, due_at, state, created_by, created_at, closed_at"

    public func schedule(
        id: LeadActivity.ID = LeadActivity.ID(), kind: LeadActivity.Kind, title: String, dueAt: Date?, on lead: Lead.ID,
        by user: User.ID, now: Date, in transaction: TenantTransaction
    ) async throws -> LeadActivity {
        let title = try Validate.text(title, field: "title", max: 500)
        let rows = try await transaction.connection.rows(
            """
            INSERT INTO lead_activities (tenant_id, id, lead_id, kind, title, due_at, created_by, created_at)
            VALUES (\(transaction.tenant), \(id), \(lead), \(kind.rawValue), \(title), \(dueAt), \(user), \(now))
            RETURNING \(unescaped: Self.columns)
            """, logger: logger)
        guard let activity = try await Self.activities(rows).first else { throw DomainError.notFound("lead") }
        return activity
    }

    public func list(lead: Lead.ID, in transaction: TenantTransaction) async throws -> [LeadActivity] {
        try await Self.activities(
            transaction.connection.rows(
                """
                SELECT \(unescaped: Self.columns) FROM lead_activities
                WHERE tenant_id = \(transaction.tenant) AND lead_id = \(lead) ORDER BY created_at, id
                """, logger: logger))
    }

    /// Completes or cancels an open activity; `nil` when there is no such activity, a conflict when
    /// it is already closed.
    public func close(
        _ id: LeadActivity.ID, of lead: Lead.ID, as state: LeadActivity.State, now: Date,
        in transaction: TenantTransaction
    ) async throws -> LeadActivity? {
        let rows = try await transaction.connection.rows(
            """
            UPDATE lead_activities SET state = \(state.rawValue), closed_at = \(now)
            WHERE tenant_id = \(transaction.tenant) AND lead_id = \(lead) AND id = \(id) AND state = 'open'
            RETURNING \(unescaped: Self.columns)
            """, logger: logger)
        if let activity = try await Self.activities(rows).first { return activity }
        let existing = try await Self.activities(
            transaction.connection.rows(
                "SELECT \(unescaped: Self.columns) FROM lead_activities WHERE tenant_id = \(transaction.tenant) AND lead_id = \(lead) AND id = \(id)",
                logger: logger))
        guard existing.first != nil else { return nil }
        throw DomainError.conflict("activity_closed", "the activity is already completed or cancelled")
    }

    static func activities(_ rows: PostgresRows) async throws -> [LeadActivity] {
        var activities: [LeadActivity] = []
        for (id, lead, kind, title, dueAt, state, createdBy, createdAt, closedAt) in try rows.decode(
            (LeadActivity.ID, Lead.ID, String, String, Date?, String, User.ID, Date, Date?).self)
        {
            activities.append(
                LeadActivity(
                    id: id, leadID: lead, kind: LeadActivity.Kind(rawValue: kind) ?? .task, title: title, dueAt: dueAt,
                    state: LeadActivity.State(rawValue: state) ?? .open, createdBy: createdBy, createdAt: createdAt,
                    closedAt: closedAt))
        }
        return activities
    }
}

/// Workflow templates of a tenant: its edited copies, or the built-ins.
public struct PostgresWorkflowTemplateRepository: Sendable {
    public let logger: Logger

    public init(logger: Logger) { self.logger = logger }

    /// The tenant's version of a template: its edited copy, else the built-in one.
    public func template(_ key: String, in transaction: TenantTransaction) async throws -> WorkflowTemplate? {
        let rows = try await transaction.connection.rows(
            "SELECT definition::TEXT FROM workflow_templates WHERE tenant_id = \(transaction.tenant) AND key = \(key)", logger: logger)
        return try Self.template(key, stored: try rows.decode(String.self).first)
    }

    /// A template from its stored definition (a tenant's edited copy), else the built-in one of that key.
    public static func template(_ key: String, stored definition: String?) throws -> WorkflowTemplate? {
        guard let definition else { return BuiltInTemplates.named(key) }
        return try JSONDecoder().decode(WorkflowTemplate.self, from: Data(definition.utf8))
    }

    /// Every template the tenant can use, edited copies in place of built-ins. One statement.
    public func all(in transaction: TenantTransaction) async throws -> [WorkflowTemplate] {
        let keys = BuiltInTemplates.all.map(\.key)
        var stored: [String: String] = [:]
        for (key, definition) in try await transaction.connection.rows(
            "SELECT key, definition::TEXT FROM workflow_templates WHERE tenant_id = \(transaction.tenant) AND key = ANY(\(keys))", logger: logger
        ).decode((String, String).self) {
            stored[key] = definition
        }
        return try keys.compactMap { try Self.template($0, stored: stored[$0]) }
    }

    /// Every template the tenant can use, as `all`, read by the statement that locks the leads
    /// among `ids` in id order (as `PostgresLeadRepository.lockMany` does, those in `shared` only
    /// `FOR SHARE`): a push that decides edits or actions takes its locks and its templates in one
    /// round trip. The count of locked leads drives the query, so the locks are taken whether or not
    /// the tenant edited a template.
    public func all(lockingLeads ids: [Lead.ID], shared: Set<Lead.ID> = [], in transaction: TenantTransaction) async throws
        -> [WorkflowTemplate]
    {
        let keys = BuiltInTemplates.all.map(\.key)
        // PostgreSQL orders UUIDs as their lower-case text sorts; the locks are taken in this order.
        let ordered = ids.map { (UUIDText.lowercase($0.rawValue), $0) }.sorted { $0.0 < $1.0 }.map(\.1)
        let rows = try await transaction.connection.rows(
            """
            WITH locked AS MATERIALIZED (
                SELECT COALESCE(updating.id, sharing.id) AS id
                FROM unnest(\(ordered.map(\.rawValue))::UUID[], \(ordered.map { !shared.contains($0) })::BOOLEAN[])
                    WITH ORDINALITY AS u(id, exclusive, n)
                LEFT JOIN LATERAL (
                    SELECT x.id FROM leads AS x WHERE u.exclusive AND x.tenant_id = \(transaction.tenant) AND x.id = u.id FOR UPDATE OF x
                ) AS updating ON true
                LEFT JOIN LATERAL (
                    SELECT x.id FROM leads AS x WHERE NOT u.exclusive AND x.tenant_id = \(transaction.tenant) AND x.id = u.id FOR SHARE OF x
                ) AS sharing ON true
                ORDER BY u.n
            ), held AS (SELECT count(id) AS leads FROM locked)
            SELECT h.leads, t.key, t.definition::TEXT FROM held AS h
            LEFT JOIN workflow_templates AS t ON t.tenant_id = \(transaction.tenant) AND t.key = ANY(\(keys))
            """, preparedAs: LockLeadsReadTemplates.self, logger: logger)
        var stored: [String: String] = [:]
        for (_, key, definition) in try rows.decode((Int64, String?, String?).self) {
            if let key, let definition { stored[key] = definition }
        }
        return try keys.compactMap { try Self.template($0, stored: stored[$0]) }
    }

    /// A push's locks and templates, kept parsed per connection (`PreparedStatementKey`).
    enum LockLeadsReadTemplates: PreparedStatementKey {}

    /// Stores an edited template after validating it. Only built-in keys can be edited: leads refer
    /// to templates by key, and statuses in use must stay.
    public func save(_ template: WorkflowTemplate, in transaction: TenantTransaction) async throws -> WorkflowTemplate {
        guard BuiltInTemplates.named(template.key) != nil else { throw DomainError.notFound("workflow template") }
        let template = try template.validated()
        let used = try await transaction.connection.rows(
            "SELECT DISTINCT status FROM leads WHERE tenant_id = \(transaction.tenant) AND template_key = \(template.key)", logger: logger)
        for status in try used.decode(String.self) where template.status(status) == nil {
            throw DomainError.invalid("statuses", "status '\(status)' is in use by leads and cannot be removed")
        }
        let json = String(decoding: try JSONEncoder().encode(template), as: UTF8.self)
        try await transaction.connection.rows(
            """
            INSERT INTO workflow_templates (tenant_id, key, definition) VALUES (\(transaction.tenant), \(template.key), \(json)::JSONB)
            ON CONFLICT ON CONSTRAINT workflow_templates_pkey
            DO UPDATE SET definition = EXCLUDED.definition, version = workflow_templates.version + 1, updated_at = now()
            """, logger: logger)
        return template
    }
}
