import HTTPTypes
import Hummingbird
import Synchronization

/// Turns a 404 for a path that exists under other methods into 405 with `Allow`. The path's routes
/// are the most specific ones it matches: `/v1/listings/export` is the export, not a listing whose
/// id is "export", so `PATCH` there is 405 although `PATCH /v1/listings/{id}` exists.
struct MethodNotAllowedMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    /// The routes, filled in once the router is complete (`buildRouter` does it last).
    final class Table: Sendable {
        private let routes = Mutex<[(segments: [Substring], method: HTTPRequest.Method)]>([])

        func record(_ routes: [(path: String, method: HTTPRequest.Method)]) {
            self.routes.withLock { $0 = routes.map { (Self.segments($0.path), $0.method) } }
        }

        /// The methods routed for `path` by its most specific routes (each `{name}` matches one
        /// segment; more literal segments are more specific).
        func methods(for path: String) -> [HTTPRequest.Method] {
            let segments = Self.segments(path)
            return routes.withLock { routes in
                let matching = routes.filter { route in
                    route.segments.count == segments.count
                        && zip(route.segments, segments).allSatisfy { $0.0.hasPrefix("{") || $0.0 == $0.1 }
                }
                let literals = { (route: (segments: [Substring], method: HTTPRequest.Method)) in
                    route.segments.filter { !$0.hasPrefix("{") }.count
                }
                guard let best = matching.map(literals).max() else { return [] }
                return matching.filter { literals($0) == best }.map(\.method)
            }
        }

        static func segments(_ path: String) -> [Substring] {
            path.split(separator: "?", maxSplits: 1).first.map { $0.split(separator: "/") } ?? []
        }
    }

    let table: Table

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            guard APIError.from(error).0.status == .notFound else { throw error }
            let allowed = table.methods(for: request.uri.path)
            guard !allowed.isEmpty, !allowed.contains(request.method) else { throw error }
            var answer = try APIError(
                status: .methodNotAllowed, code: "method_not_allowed",
                message: "\(request.uri.path) answers \(allowed.map(\.rawValue).sorted().joined(separator: ", ")), not \(request.method.rawValue)"
            ).response(from: request, context: context)
            answer.headers[.allow] = Set(allowed.map(\.rawValue)).sorted().joined(separator: ", ")
            return answer
        }
    }
}
