import Foundation
import Hummingbird
import HubNetCore
import HubNetPostgres

/// Resolves `Authorization: Bearer …` to the operator or a tenant user. A missing, malformed,
/// unknown or revoked token is refused with 401 before any handler runs.
struct AuthenticationMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    /// Checks the credentials, several at a time when they arrive together.
    let checks: CredentialChecks
    let operatorToken: String?

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let header = request.headers[.authorization], header.lowercased().hasPrefix("bearer ") else {
            throw DomainError.unauthenticated
        }
        let presented = header.dropFirst("bearer ".count).trimmingWhitespace()
        var context = context
        if let operatorToken, constantTimeEquals(presented, operatorToken) {
            context.caller = .networkOperator
            context.logger[metadataKey: "actor"] = "operator"
            return try await next(request, context)
        }
        // One statement, no transaction, shared with the credentials presented at the same moment:
        // the credential's function enters its tenant itself.
        guard let token = BearerToken(presented), let user = try await checks.check(token)
        else { throw DomainError.unauthenticated }
        context.caller = .user(user)
        context.logger[metadataKey: "tenant_id"] = "\(user.tenantID)"
        context.logger[metadataKey: "user_id"] = "\(user.userID)"
        if let device = user.deviceID { context.logger[metadataKey: "device_id"] = "\(device)" }
        context.trace?.tenantID = user.tenantID.description
        return try await next(request, context)
    }
}
