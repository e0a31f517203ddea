import HTTPTypes
import Hummingbird
import Synchronization

/// Turns the router's 404 for a path that exists under other methods into 405 with `Allow`, and
/// answers `HEAD` for the operational endpoints' `GET`.
struct MethodNotAllowedMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    /// The routes, filled in once the router is complete (`buildRouter` does it last).
    final class Table: Sendable {
        private let routes = Mutex<[(segments: [Substring], method: HTTPRequest.Method)]>([])

        func record(_ routes: [(path: String, method: HTTPRequest.Method)]) {
            self.routes.withLock { $0 = routes.map { (Self.segments($0.path), $0.method) } }
        }

        /// The methods routed for `path` (each `{name}` matches one segment).
        func methods(for path: String) -> [HTTPRequest.Method] {
            let segments = Self.segments(path)
            return routes.withLock { routes in
                routes.filter { route in
                    route.segments.count == segments.count
                        && zip(route.segments, segments).allSatisfy { $0.0.hasPrefix("{") || $0.0 == $0.1 }
                }.map(\.method)
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
        } catch let error as HTTPError where error.status == .notFound {
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
