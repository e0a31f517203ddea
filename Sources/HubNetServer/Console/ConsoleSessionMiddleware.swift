import Foundation
import Hummingbird
import HubNetCore
import HubNetPostgres
import NIOCore

/// The console's cookie: a session secret (`hns_…`), HttpOnly, SameSite=Lax, Secure when the
/// console is served over HTTPS.
enum ConsoleCookie {
    static let name = "hubnet_session"

    static func set(_ token: BearerToken, lifetime: TimeInterval, secure: Bool) -> Cookie {
        Cookie(name: name, value: token.stringValue, maxAge: Int(lifetime), path: "/", secure: secure, httpOnly: true, sameSite: .lax)
    }

    static func clear(secure: Bool) -> Cookie {
        Cookie(name: name, value: "", maxAge: 0, path: "/", secure: secure, httpOnly: true, sameSite: .lax)
    }
}

/// The form token every state-changing console form carries.
struct CSRFField: Decodable { var csrf: String? }

/// Resolves the console cookie to a signed-in user for the console's pages, exactly as a bearer
/// token resolves for the API (`context.caller`), so every page goes through the same policies.
/// Without a live session a page redirects to sign-in. A POST must carry the session's form token
/// (checked here, before any handler), or it is refused with 403 and changes nothing.
struct ConsoleSessionMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    let database: Database
    let sessions: PostgresConsoleSessionRepository
    let renderer: ConsoleRenderer
    let now: @Sendable () -> Date

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let now = now()
        guard let cookie = request.cookies[ConsoleCookie.name], let token = BearerToken(cookie.value), token.kind == .session,
            let signedIn = try await database.withTenant(token.tenantID, { transaction in
                try await sessions.authenticate(token, now: now, on: transaction.connection)
            })
        else {
            return ConsoleRenderer.redirect("/sign-in")
        }
        var context = context
        context.caller = .user(signedIn.user)
        context.console = signedIn
        context.logger[metadataKey: "tenant_id"] = "\(signedIn.user.tenantID)"
        context.logger[metadataKey: "user_id"] = "\(signedIn.user.userID)"
        context.trace?.tenantID = signedIn.user.tenantID.description
        var request = request
        if request.method != .get && request.method != .head {
            let body: ByteBuffer
            do {
                body = try await ConsoleController.collectForm(request)
            } catch {
                return renderer.page(
                    "error",
                    ErrorView(
                        chrome: ConsoleChrome(signedIn), heading: "Too much text", message: "The form sent more than this page accepts.",
                        back: "/leads"),
                    status: .contentTooLarge)
            }
            let form = try ConsoleController.decodeForm(CSRFField.self, from: body)
            guard let presented = form?.csrf, constantTimeEquals(presented, signedIn.csrfToken) else {
                context.logger.warning("console form without its session's token refused")
                return renderer.page(
                    "error",
                    ErrorView(
                        chrome: ConsoleChrome(signedIn), heading: "This form has expired",
                        message: "The form was not sent from this session's page. Reload the page and try again.", back: "/leads"),
                    status: .forbidden)
            }
            request = Request(head: request.head, body: .init(buffer: body))
        }
        return try await next(request, context)
    }
}
