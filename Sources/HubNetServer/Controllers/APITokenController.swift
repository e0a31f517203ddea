import Foundation
import Hummingbird
import HubNetCore
import HubNetPostgres

/// API tokens: a user manages their own; an admin those of anyone in the tenant.
struct APITokenController {
    let database: Database
    let tokens: PostgresAPITokenRepository
    let users: PostgresUserRepository
    /// The server's clock: a revocation is stamped by it.
    var now: @Sendable () -> Date = { Date() }

    func addRoutes(to group: RouterGroup<AppRequestContext>) {
        group.post("users/{id}/tokens", use: issue)
        group.get("users/{id}/tokens", use: list)
        group.delete("tokens/{id}", use: revoke)
    }

    @Sendable func issue(_ request: Request, context: AppRequestContext) async throws -> Created<IssuedTokenResponse> {
        let actor = try context.requireUser()
        let userID = try context.id("id", of: User.self, "user")
        if userID != actor.userID { try TenantPolicy.require(actor, .manageOthersTokens) }
        let body = try await request.decodeJSON(IssueTokenRequest.self, context: context)
        guard let (token, secret) = try await database.withTenant(actor.tenantID, { transaction in
            try await tokens.issue(to: userID, name: body.name, in: transaction)
        }) else { throw DomainError.notFound("user") }
        return Created(body: IssuedTokenResponse(token: TokenResponse(token), secret: secret))
    }

    @Sendable func list(_ request: Request, context: AppRequestContext) async throws -> TokenListResponse {
        let actor = try context.requireUser()
        let userID = try context.id("id", of: User.self, "user")
        if userID != actor.userID { try TenantPolicy.require(actor, .manageOthersTokens) }
        let items = try await database.withTenant(actor.tenantID) { transaction in
            // A list under a parent that is not this tenant's answers like a missing parent.
            guard try await users.get(userID, in: transaction) != nil else { throw DomainError.notFound("user") }
            return try await tokens.list(user: userID, in: transaction)
        }
        return TokenListResponse(items: items.map(TokenResponse.init))
    }

    @Sendable func revoke(_ request: Request, context: AppRequestContext) async throws -> NoContent {
        let actor = try context.requireUser()
        let id = try context.id("id", of: APIToken.self, "token")
        let revoked = try await database.withTenant(actor.tenantID) { transaction in
            guard let token = try await tokens.get(id, in: transaction) else { return false }
            if token.userID != actor.userID { try TenantPolicy.require(actor, .manageOthersTokens) }
            return try await tokens.revoke(id, now: now(), in: transaction)
        }
        guard revoked else { throw DomainError.notFound("token") }
        return NoContent()
    }
}
