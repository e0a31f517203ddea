import Hummingbird
import HubNetCore
import HubNetPostgres

/// Units (teams) of the caller's tenant and their members.
struct UnitController {
    let database: Database
    let units: PostgresUnitRepository

    func addRoutes(to group: RouterGroup<AppRequestContext>) {
        group.post("units", use: create)
        group.get("units", use: list)
        group.get("units/{id}", use: get)
        group.patch("units/{id}", use: update)
        group.delete("units/{id}", use: delete)
        group.put("units/{id}/members/{userId}", use: addMember)
        group.delete("units/{id}/members/{userId}", use: removeMember)
    }

    @Sendable func create(_ request: Request, context: AppRequestContext) async throws -> Created<UnitResponse> {
        let actor = try context.requireUser()
        try TenantPolicy.require(actor, .manageUnits)
        let body = try await request.decodeJSON(UnitRequest.self, context: context)
        let unit = try await database.withTenant(actor.tenantID) { transaction in
            try await units.create(name: body.name, in: transaction)
        }
        return Created(body: UnitResponse(unit))
    }

    @Sendable func list(_ request: Request, context: AppRequestContext) async throws -> PageResponse<UnitResponse> {
        let actor = try context.requireUser()
        try TenantPolicy.require(actor, .readUnits)
        let page = try request.pageRequest()
        let result = try await database.withTenant(actor.tenantID) { transaction in
            try await units.list(page: page, in: transaction)
        }
        return PageResponse(result, UnitResponse.init)
    }

    @Sendable func get(_ request: Request, context: AppRequestContext) async throws -> UnitResponse {
        let actor = try context.requireUser()
        try TenantPolicy.require(actor, .readUnits)
        let id = try context.id("id", of: TenantUnit.self, "unit")
        guard let unit = try await database.withTenant(actor.tenantID, { transaction in
            try await units.get(id, in: transaction)
        }) else { throw DomainError.notFound("unit") }
        return UnitResponse(unit)
    }

    @Sendable func update(_ request: Request, context: AppRequestContext) async throws -> UnitResponse {
        let actor = try context.requireUser()
        let id = try context.id("id", of: TenantUnit.self, "unit")
        try TenantPolicy.require(actor, .manageUnits)
        let body = try await request.decodeJSON(UnitRequest.self, context: context)
        guard let unit = try await database.withTenant(actor.tenantID, { transaction in
            try await units.rename(id, to: body.name, in: transaction)
        }) else { throw DomainError.notFound("unit") }
        return UnitResponse(unit)
    }

    @Sendable func delete(_ request: Request, context: AppRequestContext) async throws -> NoContent {
        let actor = try context.requireUser()
        let id = try context.id("id", of: TenantUnit.self, "unit")
        try TenantPolicy.require(actor, .manageUnits)
        guard try await database.withTenant(actor.tenantID, { transaction in
            try await units.delete(id, in: transaction)
        }) else { throw DomainError.notFound("unit") }
        return NoContent()
    }

    @Sendable func addMember(_ request: Request, context: AppRequestContext) async throws -> UnitResponse {
        let actor = try context.requireUser()
        let id = try context.id("id", of: TenantUnit.self, "unit")
        let userID = try context.id("userId", of: User.self, "user")
        try TenantPolicy.require(actor, .manageUnits)
        guard let unit = try await database.withTenant(actor.tenantID, { transaction -> TenantUnit? in
            guard try await units.addMember(userID, to: id, in: transaction) else { return nil }
            return try await units.get(id, in: transaction)
        }) else { throw DomainError.notFound("unit or user") }
        return UnitResponse(unit)
    }

    @Sendable func removeMember(_ request: Request, context: AppRequestContext) async throws -> NoContent {
        let actor = try context.requireUser()
        let id = try context.id("id", of: TenantUnit.self, "unit")
        let userID = try context.id("userId", of: User.self, "user")
        try TenantPolicy.require(actor, .manageUnits)
        guard try await database.withTenant(actor.tenantID, { transaction in
            try await units.removeMember(userID, from: id, in: transaction)
        }) else { throw DomainError.notFound("unit member") }
        return NoContent()
    }
}
