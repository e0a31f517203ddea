import Foundation
import Hummingbird
import HubNetCore
import HubNetPostgres

/// Notification templates with #tags: saved only when every tag is known; previewed against a lead.
/// A template naming a notice of the catalog (`notice`) is the tenant's own text for it; the
/// catalog itself, with each notice's default text and tags, is `GET /v1/notices`.
struct MessageTemplateController {
    let database: Database
    let templates: PostgresMessageTemplateRepository
    let workflows: PostgresWorkflowTemplateRepository
    let leads: PostgresLeadRepository
    let tenants: PostgresTenantRepository

    func addRoutes(to group: RouterGroup<AppRequestContext>) {
        group.post("message-templates", use: create)
        group.get("message-templates", use: list)
        group.get("message-templates/{id}", use: get)
        group.put("message-templates/{id}", use: update)
        group.delete("message-templates/{id}", use: delete)
        group.post("message-templates/{id}/preview", use: preview)
        group.get("notices", use: notices)
    }

    struct Body: Codable, ResponseEncodable, Sendable {
        var id: MessageTemplate.ID?
        var name: String
        var channel: String
        var subject: String?
        var body: String
        /// The catalog notice this template gives the tenant's text for.
        var notice: String?

        func template() throws(DomainError) -> MessageTemplate {
            guard let channel = MessageTemplate.Channel(rawValue: channel) else {
                throw .invalid("channel", "must be email or webhook")
            }
            return MessageTemplate(name: name, channel: channel, subject: subject ?? "", body: body, notice: notice)
        }

        init(id: MessageTemplate.ID, _ template: MessageTemplate) {
            self.id = id
            self.name = template.name
            self.channel = template.channel.rawValue
            self.subject = template.subject
            self.body = template.body
            self.notice = template.notice
        }
    }

    /// A notice of the catalog: its default text, the tags a text for it may use, and the
    /// tenant's own template for it when it has one.
    struct NoticeBody: Encodable, Sendable {
        var key: String
        var subject: String
        var body: String
        var tags: [String]
        var templateId: MessageTemplate.ID?
    }

    struct NoticeListBody: ResponseEncodable { var items: [NoticeBody] }

    struct ListBody: ResponseEncodable { var items: [Body] }
    struct PreviewRequest: Decodable { var leadId: Lead.ID }
    struct PreviewBody: ResponseEncodable { var subject: String; var body: String }

    @Sendable func create(_ request: Request, context: AppRequestContext) async throws -> Created<Body> {
        let caller = try context.requireUser()
        try TenantPolicy.require(caller, .manageWorkflowTemplates)
        let template = try await request.decodeJSON(Body.self, context: context).template()
        return Created(body: try await create(template, caller: caller))
    }

    /// A new message template, as the API and the web console add one (validated by the store).
    func create(_ template: MessageTemplate, caller: AuthenticatedUser) async throws -> Body {
        try TenantPolicy.require(caller, .manageWorkflowTemplates)
        let (id, saved) = try await database.withTenant(caller.tenantID) { transaction in
            try await templates.create(template, in: transaction)
        }
        return Body(id: id, saved)
    }

    @Sendable func notices(_ request: Request, context: AppRequestContext) async throws -> NoticeListBody {
        let caller = try context.requireUser()
        let own = try await database.withTenant(caller.tenantID) { transaction in
            try await templates.list(in: transaction)
        }
        let byNotice = Dictionary(own.compactMap { id, template in template.notice.map { ($0, id) } }, uniquingKeysWith: { first, _ in first })
        return NoticeListBody(
            items: NoticeCatalog.all.map { notice in
                let key = NoticeCatalog.key(of: notice)
                return NoticeBody(
                    key: key, subject: notice.subject, body: notice.body, tags: NoticeCatalog.tags(of: notice).sorted().map { "#\($0)" },
                    templateId: byNotice[key])
            })
    }

    @Sendable func list(_ request: Request, context: AppRequestContext) async throws -> ListBody {
        let caller = try context.requireUser()
        let items = try await database.withTenant(caller.tenantID) { transaction in
            try await templates.list(in: transaction)
        }
        return ListBody(items: items.map { Body(id: $0.0, $0.1) })
    }

    @Sendable func get(_ request: Request, context: AppRequestContext) async throws -> Body {
        let caller = try context.requireUser()
        let id = try context.id("id", of: MessageTemplate.self, "message template")
        guard let template = try await database.withTenant(caller.tenantID, { transaction in
            try await templates.get(id, in: transaction)
        }) else { throw DomainError.notFound("message template") }
        return Body(id: id, template)
    }

    @Sendable func update(_ request: Request, context: AppRequestContext) async throws -> Body {
        let caller = try context.requireUser()
        try TenantPolicy.require(caller, .manageWorkflowTemplates)
        let id = try context.id("id", of: MessageTemplate.self, "message template")
        let template = try await request.decodeJSON(Body.self, context: context).template()
        guard let saved = try await database.withTenant(caller.tenantID, { transaction in
            try await templates.update(id, to: template, in: transaction)
        }) else { throw DomainError.notFound("message template") }
        return Body(id: id, saved)
    }

    @Sendable func delete(_ request: Request, context: AppRequestContext) async throws -> NoContent {
        let caller = try context.requireUser()
        try TenantPolicy.require(caller, .manageWorkflowTemplates)
        let id = try context.id("id", of: MessageTemplate.self, "message template")
        guard try await database.withTenant(caller.tenantID, { transaction in
            try await templates.delete(id, in: transaction)
        }) else { throw DomainError.notFound("message template") }
        return NoContent()
    }

    /// The template rendered for one lead of the tenant.
    @Sendable func preview(_ request: Request, context: AppRequestContext) async throws -> PreviewBody {
        let caller = try context.requireUser()
        let id = try context.id("id", of: MessageTemplate.self, "message template")
        let body = try await request.decodeJSON(PreviewRequest.self, context: context)
        guard let tenant = try await tenants.get(caller.tenantID) else { throw DomainError.notFound("tenant") }
        let rendered = try await database.withTenant(caller.tenantID) { transaction in
            guard let template = try await templates.get(id, in: transaction) else {
                throw DomainError.notFound("message template")
            }
            guard let lead = try await leads.get(body.leadId, in: transaction),
                VisibilityPolicy.sees(lead, user: caller.userID, roles: caller.roles)
            else {
                throw DomainError.invalid("lead_id", "names no lead of this tenant")
            }
            let workflow = try await workflows.template(lead.templateKey, in: transaction)
            let statusName = workflow?.status(lead.state.status)?.name ?? lead.state.status
            return template.rendered(MessageTemplate.values(for: lead, statusName: statusName, hubName: tenant.name))
        }
        return PreviewBody(subject: rendered.subject, body: rendered.body)
    }

    /// Every email template of the tenant rendered for one lead the caller sees (quick replies,
    /// 004); a template giving the text of a notice is not a reply.
    func quickReplies(for id: Lead.ID, caller: AuthenticatedUser) async throws -> [(name: String, subject: String, body: String)] {
        guard let tenant = try await tenants.get(caller.tenantID) else { throw DomainError.notFound("tenant") }
        return try await database.withTenant(caller.tenantID) { transaction in
            guard let lead = try await leads.get(id, in: transaction),
                VisibilityPolicy.sees(lead, user: caller.userID, roles: caller.roles)
            else { throw DomainError.notFound("lead") }
            let workflow = try await workflows.template(lead.templateKey, in: transaction)
            let values = MessageTemplate.values(
                for: lead, statusName: workflow?.status(lead.state.status)?.name ?? lead.state.status, hubName: tenant.name)
            return try await templates.list(in: transaction).filter { $0.1.channel == .email && $0.1.notice == nil }.map {
                let rendered = $0.1.rendered(values)
                return (name: $0.1.name, subject: rendered.subject, body: rendered.body)
            }
        }
    }
}
