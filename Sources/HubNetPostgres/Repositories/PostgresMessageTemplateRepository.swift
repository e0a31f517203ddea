import Foundation
import HubNetCore
import Logging
import PostgresNIO

/// Notification templates of one tenant; every save is checked for unknown tags.
public struct PostgresMessageTemplateRepository: Sendable {
    public let logger: Logger

    public init(logger: Logger) { self.logger = logger }

    public func create(_ template: MessageTemplate, tenant: Tenant.ID, on connection: PostgresConnection) async throws
        -> (MessageTemplate.ID, MessageTemplate)
    {
        let template = try template.validated()
        let id = MessageTemplate.ID()
        do {
            try await connection.rows(
                """
                INSERT INTO message_templates (tenant_id, id, name, channel, subject, body)
                VALUES (\(tenant), \(id), \(template.name), \(template.channel.rawValue), \(template.subject), \(template.body))
                """, logger: logger)
        } catch let error as PSQLError where error.violates("message_templates_name_key") {
            throw DomainError.conflict("template_name_taken", "a message template named '\(template.name)' exists")
        }
        return (id, template)
    }

    public func update(_ id: MessageTemplate.ID, to template: MessageTemplate, tenant: Tenant.ID, on connection: PostgresConnection)
        async throws -> MessageTemplate?
    {
        let template = try template.validated()
        do {
            let rows = try await connection.rows(
                """
                UPDATE message_templates SET name = \(template.name), channel = \(template.channel.rawValue),
                    subject = \(template.subject), body = \(template.body), updated_at = now()
                WHERE tenant_id = \(tenant) AND id = \(id) RETURNING id
                """, logger: logger
            )
            return rows.isEmpty ? nil : template
        } catch let error as PSQLError where error.violates("message_templates_name_key") {
            throw DomainError.conflict("template_name_taken", "a message template named '\(template.name)' exists")
        }
    }

    public func get(_ id: MessageTemplate.ID, tenant: Tenant.ID, on connection: PostgresConnection) async throws -> MessageTemplate? {
        try await list(tenant: tenant, only: id, on: connection).first?.1
    }

    public func list(tenant: Tenant.ID, only id: MessageTemplate.ID? = nil, on connection: PostgresConnection) async throws
        -> [(MessageTemplate.ID, MessageTemplate)]
    {
        let rows = try await connection.rows(
            """
            SELECT id, name, channel, subject, body FROM message_templates
            WHERE tenant_id = \(tenant) AND (\(id)::UUID IS NULL OR id = \(id)) ORDER BY name
            """, logger: logger)
        var result: [(MessageTemplate.ID, MessageTemplate)] = []
        for (id, name, channel, subject, body) in try rows.decode((MessageTemplate.ID, String, String, String, String).self) {
            result.append((id, MessageTemplate(name: name, channel: .init(rawValue: channel) ?? .email, subject: subject, body: body)))
        }
        return result
    }

    public func delete(_ id: MessageTemplate.ID, tenant: Tenant.ID, on connection: PostgresConnection) async throws -> Bool {
        !(try await connection.rows(
            "DELETE FROM message_templates WHERE tenant_id = \(tenant) AND id = \(id) RETURNING id", logger: logger
        ).isEmpty)
    }
}
