import Foundation
import Hummingbird
import HubNetCore
import HubNetPostgres

/// The hub CRM (clients from accepted leads, their advising sessions) and opportunities.
struct CRMController {
    let database: Database
    let clients: PostgresClientRepository
    let opportunities: PostgresOpportunityRepository
    let users: PostgresUserRepository
    let now: @Sendable () -> Date

    func addRoutes(to group: RouterGroup<AppRequestContext>) {
        group.get("clients", use: listClients)
        group.get("clients/{id}", use: getClient)
        group.post("clients/{id}/sessions", use: logSession)
        group.get("clients/{id}/sessions", use: listSessions)
        group.post("opportunities", use: createOpportunity)
        group.get("opportunities", use: listOpportunities)
        group.get("opportunities/{id}", use: getOpportunity)
        group.patch("opportunities/{id}", use: moveOpportunity)
    }

    @Sendable func listClients(_ request: Request, context: AppRequestContext) async throws -> PageResponse<ClientResponse> {
        let caller = try context.requireUser()
        let page = try request.pageRequest()
        let result = try await database.withTenant(caller.tenantID) { transaction in
            try await clients.list(page: page, in: transaction)
        }
        return PageResponse(result, ClientResponse.init)
    }

    @Sendable func getClient(_ request: Request, context: AppRequestContext) async throws -> ClientResponse {
        let caller = try context.requireUser()
        let id = try context.id("id", of: Client.self, "client")
        guard let client = try await database.withTenant(caller.tenantID, { transaction in
            try await clients.get(id, in: transaction)
        }) else { throw DomainError.notFound("client") }
        return ClientResponse(client)
    }

    /// Logs an advising session held by an advisor of the hub.
    @Sendable func logSession(_ request: Request, context: AppRequestContext) async throws -> Created<SessionResponse> {
        let caller = try context.requireUser()
        try TenantPolicy.require(caller, .workLeads)
        let id = try context.id("id", of: Client.self, "client")
        let body = try await request.decodeJSON(SessionRequest.self, context: context)
        let session = try await database.withTenant(caller.tenantID) { transaction in
            guard try await clients.get(id, in: transaction) != nil else { throw DomainError.notFound("client") }
            let advisorID = body.advisorID ?? caller.userID
            guard let advisor = try await users.get(advisorID, in: transaction), advisor.isActive else {
                throw DomainError.invalid("advisor_id", "names no active user of this hub")
            }
            return try await clients.logSession(
                for: id, advisor: advisor.id, heldAt: body.heldAt, durationMinutes: body.durationMinutes, summary: body.summary,
                in: transaction)
        }
        return Created(body: SessionResponse(session))
    }

    @Sendable func listSessions(_ request: Request, context: AppRequestContext) async throws -> SessionListResponse {
        let caller = try context.requireUser()
        let id = try context.id("id", of: Client.self, "client")
        let items = try await database.withTenant(caller.tenantID) { transaction in
            guard try await clients.get(id, in: transaction) != nil else { throw DomainError.notFound("client") }
            return try await clients.sessions(of: id, in: transaction)
        }
        return SessionListResponse(items: items.map(SessionResponse.init))
    }

    @Sendable func createOpportunity(_ request: Request, context: AppRequestContext) async throws -> Created<OpportunityResponse> {
        let caller = try context.requireUser()
        try TenantPolicy.require(caller, .workLeads)
        let body = try await request.decodeJSON(OpportunityRequest.self, context: context)
        let now = now()
        let opportunity = try await database.withTenant(caller.tenantID) { transaction in
            try await opportunities.create(name: body.name, amount: body.amount?.value, by: caller.userID, now: now, in: transaction)
        }
        return Created(body: OpportunityResponse(opportunity))
    }

    @Sendable func listOpportunities(_ request: Request, context: AppRequestContext) async throws -> PageResponse<OpportunityResponse> {
        let caller = try context.requireUser()
        let page = try request.pageRequest()
        let result = try await database.withTenant(caller.tenantID) { transaction in
            try await opportunities.list(page: page, in: transaction)
        }
        return PageResponse(result, OpportunityResponse.init)
    }

    @Sendable func getOpportunity(_ request: Request, context: AppRequestContext) async throws -> OpportunityResponse {
        let caller = try context.requireUser()
        let id = try context.id("id", of: Opportunity.self, "opportunity")
        guard let opportunity = try await database.withTenant(caller.tenantID, { transaction in
            try await opportunities.get(id, in: transaction)
        }) else { throw DomainError.notFound("opportunity") }
        return OpportunityResponse(opportunity)
    }

    /// Moves an opportunity to another stage; Won, Lost and Discontinued are final.
    @Sendable func moveOpportunity(_ request: Request, context: AppRequestContext) async throws -> OpportunityResponse {
        let caller = try context.requireUser()
        try TenantPolicy.require(caller, .workLeads)
        let id = try context.id("id", of: Opportunity.self, "opportunity")
        let body = try await request.decodeJSON(OpportunityStageRequest.self, context: context)
        guard let stage = Opportunity.Stage(rawValue: body.stage) else {
            throw DomainError.invalid("stage", "must be one of \(Opportunity.Stage.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let now = now()
        guard let opportunity = try await database.withTenant(caller.tenantID, { transaction in
            try await opportunities.move(id, to: stage, now: now, in: transaction)
        }) else { throw DomainError.notFound("opportunity") }
        return OpportunityResponse(opportunity)
    }
}
