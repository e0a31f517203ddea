import Foundation
import Hummingbird
import HubNetCore
import HubNetPostgres

/// Users of the caller's tenant.
struct UserController {
    let database: Database
    let users: PostgresUserRepository
    /// The server's clock: a deactivation (and the revocations it makes) is stamped by it.
    var now: @Sendable () -> Date = { Date() }

    func addRoutes(to group: RouterGroup<AppRequestContext>) {
        group.get("me", use: me)
        group.post("users", use: create)
        group.get("users", use: list)
        group.get("users/{id}", use: get)
        group.patch("users/{id}", use: update)
        group.delete("users/{id}", use: delete)
    }

    @Sendable func me(_ request: Request, context: AppRequestContext) async throws -> UserResponse {
        let actor = try context.requireUser()
        return try await fetch(actor.userID, actor: actor)
    }

    @Sendable func create(_ request: Request, context: AppRequestContext) async throws -> Created<UserResponse> {
        let actor = try context.requireUser()
        try TenantPolicy.require(actor, .manageUsers)
        let body = try await request.decodeJSON(CreateUserRequest.self, context: context)
        return Created(body: try await create(UserDraft(email: body.email, displayName: body.displayName, roles: try Role.parse(body.roles)), actor: actor))
    }

    /// A new user of the actor's tenant, as the API and the web console add one.
    func create(_ draft: UserDraft, actor: AuthenticatedUser) async throws -> UserResponse {
        try TenantPolicy.require(actor, .manageUsers)
        let user = try await database.withTenant(actor.tenantID) { transaction in
            try await users.create(draft, kind: actor.tenantKind, in: transaction)
        }
        return UserResponse(user)
    }

    @Sendable func list(_ request: Request, context: AppRequestContext) async throws -> PageResponse<UserResponse> {
        let actor = try context.requireUser()
        try TenantPolicy.require(actor, .readUsers)
        let page = try request.pageRequest()
        let includeDeactivated = try request.boolQuery("include_deactivated") ?? false
        let result = try await database.withTenant(actor.tenantID) { transaction in
            try await users.list(page: page, includeDeactivated: includeDeactivated, in: transaction)
        }
        return PageResponse(result, UserResponse.init)
    }

    @Sendable func get(_ request: Request, context: AppRequestContext) async throws -> UserResponse {
        let actor = try context.requireUser()
        try TenantPolicy.require(actor, .readUsers)
        return try await fetch(try context.id("id", of: User.self, "user"), actor: actor)
    }

    /// Renames a user or changes their roles; the last active admin keeps the admin role.
    @Sendable func update(_ request: Request, context: AppRequestContext) async throws -> UserResponse {
        let actor = try context.requireUser()
        let id = try context.id("id", of: User.self, "user")
        let body = try await request.decodeJSON(UpdateUserRequest.self, context: context)
        let roles = try body.roles.map { (names) throws(DomainError) in try Role.parse(names) }
        let changesOnlyOwnName = id == actor.userID && roles == nil
        if !changesOnlyOwnName { try TenantPolicy.require(actor, .manageUsers) }
        let user = try await database.withTenant(actor.tenantID) { transaction in
            if let roles, !roles.contains(.admin) {
                let admins = try await users.lockActiveAdmins(in: transaction)
                if admins == [id] { throw DomainError.conflict("last_admin", "a tenant keeps at least one active admin") }
            }
            return try await users.update(
                id, kind: actor.tenantKind, displayName: body.displayName, roles: roles,
                in: transaction)
        }
        guard let user else { throw DomainError.notFound("user") }
        return UserResponse(user)
    }

    /// Deactivates a user: their tokens and devices stop working at once; the record stays for history.
    @Sendable func delete(_ request: Request, context: AppRequestContext) async throws -> NoContent {
        let actor = try context.requireUser()
        let id = try context.id("id", of: User.self, "user")
        try TenantPolicy.require(actor, .manageUsers)
        let found = try await database.withTenant(actor.tenantID) { transaction in
            let admins = try await users.lockActiveAdmins(in: transaction)
            if admins == [id] { throw DomainError.conflict("last_admin", "a tenant keeps at least one active admin") }
            return try await users.deactivate(id, now: now(), in: transaction)
        }
        guard found else { throw DomainError.notFound("user") }
        return NoContent()
    }

    private func fetch(_ id: User.ID, actor: AuthenticatedUser) async throws -> UserResponse {
        guard let user = try await database.withTenant(actor.tenantID, { transaction in
            try await users.get(id, in: transaction)
        }) else { throw DomainError.notFound("user") }
        return UserResponse(user)
    }
}
