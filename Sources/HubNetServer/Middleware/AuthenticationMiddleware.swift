import Foundation
import Hummingbird
import HubNetCore
import HubNetPostgres

/// Resolves `Authorization: Bearer …` to the operator or a tenant user. A missing, malformed,
/// unknown or revoked token is refused with 401 before any handler runs.
struct AuthenticationMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    let database: Database
    let tokens: PostgresAPITokenRepository
    let devices: PostgresDeviceRepository
    let operatorToken: String?
    /// The server's clock, for when a device was last seen.
    var now: @Sendable () -> Date = { Date() }

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
        guard let token = BearerToken(presented),
            // One statement, no transaction: the credential's function enters its tenant itself.
            let user = try await database.withSingleStatement({ connection in
                switch token.kind {
                case .user: try await tokens.authenticate(token, now: now(), lockTimeout: database.limits.statementTimeout, on: connection)
                case .device:
                    try await devices.authenticate(token, now: now(), lockTimeout: database.limits.statementTimeout, on: connection)
                // A console cookie or sign-in link is not an API credential.
                case .session, .signInLink: nil
                }
            })
        else { throw DomainError.unauthenticated }
        context.caller = .user(user)
        context.logger[metadataKey: "tenant_id"] = "\(user.tenantID)"
        context.logger[metadataKey: "user_id"] = "\(user.userID)"
        if let device = user.deviceID { context.logger[metadataKey: "device_id"] = "\(device)" }
        context.trace?.tenantID = user.tenantID.description
        return try await next(request, context)
    }
}
