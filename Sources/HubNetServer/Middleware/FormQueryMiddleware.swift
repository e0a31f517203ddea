import HTTPTypes
import Hummingbird

/// Reads `+` in a query string as a space, as HTML forms and most HTTP clients send it
/// (`?type=a+b` is `a b`); a literal plus is `%2B`. Only the query is touched, never the path.
struct FormQueryMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let path = request.head.path, let mark = path.firstIndex(of: "?"), path[mark...].contains("+") else {
            return try await next(request, context)
        }
        var head = request.head
        head.path = String(path[..<mark]) + path[mark...].replacingOccurrences(of: "+", with: "%20")
        return try await next(Request(head: head, body: request.body), context)
    }
}
