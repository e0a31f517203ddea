import Foundation
import HubNetCore
import Logging
import PostgresNIO

/// Notification templates of one tenant; every save is checked for unknown tags.
public struct PostgresMessageTemplateRepository: Sendable {
    public let logger: Logger

    public init(logger: Logger) { self.logger = logger }

    public func create(_ template: MessageTemplate, in transaction: TenantTransaction) async throws
        -> (MessageTemplate.ID, MessageTemplate)
    {
        let template = try template.validated()
        let id = MessageTemplate.ID()
        do {
            try await transaction.connection.rows(
                """
                INSERT INTO message_templates (tenant_id, id, name, channel, subject, body, notice)
                VALUES (\(transaction.tenant), \(id), \(template.name), \(template.channel.rawValue), \(template.subject), \(template.body),
                    \(template.notice)::TEXT)
                """, logger: logger)
        } catch let error as PSQLError {
            throw Self.refusal(error, template)
        }
        return (id, template)
    }

    public func update(_ id: MessageTemplate.ID, to template: MessageTemplate, in transaction: TenantTransaction)
        async throws -> MessageTemplate?
    {
        let template = try template.validated()
        do {
            let rows = try await transaction.connection.rows(
                """
                UPDATE message_templates SET name = \(template.name), channel = \(template.channel.rawValue),
                    subject = \(template.subject), body = \(template.body), notice = \(template.notice)::TEXT, updated_at = now()
                WHERE tenant_id = \(transaction.tenant) AND id = \(id) RETURNING id
                """, logger: logger
            )
            return rows.isEmpty ? nil : template
        } catch let error as PSQLError {
            throw Self.refusal(error, template)
        }
    }

    /// A save refused by a unique key: the name, or the notice, taken by another template.
    private static func refusal(_ error: PSQLError, _ template: MessageTemplate) -> any Error {
        if error.violates("message_templates_name_key") {
            return DomainError.conflict("template_name_taken", "a message template named '\(template.name)' exists")
        }
        if error.violates("message_templates_notice_key") {
            return DomainError.conflict(
                "notice_text_taken", "another message template already gives the text of the notice '\(template.notice ?? "")'")
        }
        return error
    }

    /// The tenant's own texts for the notices with these keys, by key (none for a notice it left
    /// to the catalog). Runs in the tenant's transaction.
    public func noticeTexts(_ keys: Set<String>, in transaction: TenantTransaction) async throws
        -> [String: MessageTemplate]
    {
        guard !keys.isEmpty else { return [:] }
        let rows = try await transaction.connection.rows(
            """
            SELECT name, subject, body, notice FROM message_templates
            WHERE tenant_id = \(transaction.tenant) AND notice = ANY(\(Array(keys))::TEXT[])
            """, logger: logger)
        var texts: [String: MessageTemplate] = [:]
        for (name, subject, body, notice) in try rows.decode((String, String, String, String).self) {
            texts[notice] = MessageTemplate(name: name, channel: .email, subject: subject, body: body, notice: notice)
        }
        return texts
    }

    public func get(_ id: MessageTemplate.ID, in transaction: TenantTransaction) async throws -> MessageTemplate? {
        try await list(only: id, in: transaction).first?.1
    }

    public func list(only id: MessageTemplate.ID? = nil, in transaction: TenantTransaction) async throws
        -> [(MessageTemplate.ID, MessageTemplate)]
    {
        let rows = try await transaction.connection.rows(
            """
            SELECT id, name, channel, subject, body, notice FROM message_templates
            WHERE tenant_id = \(transaction.tenant) AND (\(id)::UUID IS NULL OR id = \(id)) ORDER BY name
            """, logger: logger)
        var result: [(MessageTemplate.ID, MessageTemplate)] = []
        for (id, name, channel, subject, body, notice) in try rows.decode((MessageTemplate.ID, String, String, String, String, String?).self) {
            result.append(
                (id, MessageTemplate(name: name, channel: .init(rawValue: channel) ?? .email, subject: subject, body: body, notice: notice)))
        }
        return result
    }

    public func delete(_ id: MessageTemplate.ID, in transaction: TenantTransaction) async throws -> Bool {
        !(try await transaction.connection.rows(
            "DELETE FROM message_templates WHERE tenant_id = \(transaction.tenant) AND id = \(id) RETURNING id", logger: logger
        ).isEmpty)
    }
}
