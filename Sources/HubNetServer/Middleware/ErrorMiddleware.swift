import Hummingbird
import HubNetCore

/// Turns every thrown error into the typed JSON error body; internal errors are logged with the
/// request id and answered without their text.
struct ErrorMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            let (apiError, isInternal) = APIError.from(error)
            if isInternal {
                context.logger.error("request failed", metadata: ["error": "\(String(reflecting: error))"])
            } else if apiError.status == .serviceUnavailable {
                context.logger.warning("request deferred", metadata: ["code": "\(apiError.code)", "error": "\(error)"])
            }
            return try apiError.response(from: request, context: context)
        }
    }
}
