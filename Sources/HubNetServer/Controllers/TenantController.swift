import Hummingbird
import HubNetCore
import HubNetPostgres

/// Provisioning of tenants by the network operator, and a user's view of their own tenant.
struct TenantController {
    let database: Database
    let tenants: PostgresTenantRepository
    let tokens: PostgresAPITokenRepository

    func addRoutes(to group: RouterGroup<AppRequestContext>) {
        group.post("tenants", use: create)
        group.get("tenants", use: list)
        group.get("tenants/{id}", use: get)
        group.get("tenant", use: current)
    }

    /// Creates a tenant, its first admin and that admin's first token (shown once).
    @Sendable func create(_ request: Request, context: AppRequestContext) async throws -> Created<CreateTenantResponse> {
        try context.requireOperator()
        let body = try await request.decodeJSON(CreateTenantRequest.self, context: context)
        guard let kind = Tenant.Kind(rawValue: body.kind) else {
            throw DomainError.invalid("kind", "must be one of hub, partner_company, sourcing_company")
        }
        let draft = TenantDraft(
            kind: kind, name: body.name, slug: body.slug,
            admin: UserDraft(email: body.admin.email, displayName: body.admin.displayName, roles: [.admin]))
        let (tenant, admin) = try await tenants.create(draft)
        guard let (_, secret) = try await database.withTenant(tenant.id, { transaction in
            try await tokens.issue(to: admin.id, name: "first admin token", in: transaction)
        }) else { throw DomainError.notFound("user") }
        context.logger.info("tenant provisioned", metadata: ["tenant_id": "\(tenant.id)"])
        return Created(body: CreateTenantResponse(tenant: TenantResponse(tenant), admin: UserResponse(admin), adminToken: secret))
    }

    @Sendable func list(_ request: Request, context: AppRequestContext) async throws -> PageResponse<TenantResponse> {
        try context.requireOperator()
        return PageResponse(try await tenants.list(try request.pageRequest()), TenantResponse.init)
    }

    /// The operator reads any tenant; a user only their own, and any other answers 404.
    @Sendable func get(_ request: Request, context: AppRequestContext) async throws -> TenantResponse {
        let id = try context.id("id", of: Tenant.self, "tenant")
        if case .user(let user) = context.caller, user.tenantID != id { throw DomainError.notFound("tenant") }
        guard let tenant = try await tenants.get(id) else { throw DomainError.notFound("tenant") }
        return TenantResponse(tenant)
    }

    @Sendable func current(_ request: Request, context: AppRequestContext) async throws -> TenantResponse {
        let user = try context.requireUser()
        guard let tenant = try await tenants.get(user.tenantID) else { throw DomainError.notFound("tenant") }
        return TenantResponse(tenant)
    }
}
