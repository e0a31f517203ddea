import Foundation
import Hummingbird
import HubNetCore
import HubNetPostgres

/// A tenant's webhooks (admin) and its delivery log.
struct WebhookController {
    let database: Database
    let webhooks: PostgresWebhookRepository
    let outbox: PostgresOutboxRepository
    let now: @Sendable () -> Date

    func addRoutes(to group: RouterGroup<AppRequestContext>) {
        group.post("webhooks", use: create)
        group.get("webhooks", use: list)
        group.delete("webhooks/{id}", use: delete)
        group.get("deliveries", use: deliveries)
    }

    struct CreateRequest: Decodable { var url: String; var events: [String] }

    struct WebhookBody: ResponseEncodable {
        var id: Webhook.ID
        var url: String
        var events: [String]
        var createdAt: Date
        /// The signing secret; shown once, at creation.
        var secret: String?
    }

    struct ListBody<Item: Encodable & Sendable>: ResponseEncodable, Sendable { var items: [Item] }

    struct DeliveryBody: Encodable, Sendable {
        var outboxId: OutboxMessage.ID
        var event: String
        var channel: String
        var recipient: String
        var attempt: Int
        var at: Date
        var outcome: String
        var detail: String?
    }

    @Sendable func create(_ request: Request, context: AppRequestContext) async throws -> Created<WebhookBody> {
        let caller = try context.requireUser()
        try TenantPolicy.require(caller, .manageWorkflowTemplates)
        let body = try await request.decodeJSON(CreateRequest.self, context: context)
        let now = now()
        let (hook, secret) = try await database.withTenant(caller.tenantID) { transaction in
            try await webhooks.create(url: body.url, events: body.events, now: now, in: transaction)
        }
        return Created(body: WebhookBody(id: hook.id, url: hook.url, events: hook.events, createdAt: hook.createdAt, secret: secret))
    }

    @Sendable func list(_ request: Request, context: AppRequestContext) async throws -> ListBody<WebhookBody> {
        let caller = try context.requireUser()
        try TenantPolicy.require(caller, .manageWorkflowTemplates)
        let hooks = try await database.withTenant(caller.tenantID) { transaction in
            try await webhooks.list(in: transaction)
        }
        return ListBody(items: hooks.map { WebhookBody(id: $0.id, url: $0.url, events: $0.events, createdAt: $0.createdAt, secret: nil) })
    }

    @Sendable func delete(_ request: Request, context: AppRequestContext) async throws -> NoContent {
        let caller = try context.requireUser()
        try TenantPolicy.require(caller, .manageWorkflowTemplates)
        let id = try context.id("id", of: Webhook.self, "webhook")
        guard try await database.withTenant(caller.tenantID, { transaction in
            try await webhooks.delete(id, in: transaction)
        }) else { throw DomainError.notFound("webhook") }
        return NoContent()
    }

    /// Every delivery attempt of the tenant's notifications, newest first.
    @Sendable func deliveries(_ request: Request, context: AppRequestContext) async throws -> ListBody<DeliveryBody> {
        let caller = try context.requireUser()
        try TenantPolicy.require(caller, .manageWorkflowTemplates)
        let entries = try await database.withTenant(caller.tenantID) { transaction in
            try await outbox.log(limit: 200, in: transaction)
        }
        return ListBody(items: entries.map {
            DeliveryBody(
                outboxId: $0.outboxID, event: $0.event, channel: $0.channel, recipient: $0.recipient, attempt: $0.attempt, at: $0.at,
                outcome: $0.outcome, detail: $0.detail)
        })
    }
}
