import Foundation
import HTTPTypes
import Hummingbird
import HubNetPostgres
import Logging
import Synchronization

/// Per request: applies the body limit, echoes the request id, counts the SQL statements it ran
/// and the time they took (`Server-Timing: total;dur=…, db;dur=…;desc="N statements"`), records the
/// request's time when a profile asks (`RequestTimings`), and logs one line with method, route, status,
/// duration, statements and tenant, never the query string, headers or body (which may carry tokens and
/// leads' personal data).
struct RequestLogMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    let maximumBodyBytes: Int
    var timings: RequestTimings?

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        context.maxUploadSize = maximumBodyBytes
        let trace = RequestTrace()
        context.trace = trace
        if let length = request.headers[.contentLength].flatMap(Int.init), length > maximumBodyBytes {
            // Refuse before reading a byte of an announced oversized body.
            return try APIError(http: HTTPError(.contentTooLarge)).response(from: request, context: context)
        }
        let start = ContinuousClock.now
        let statements = StatementCount()
        var response = try await StatementCount.$current.withValue(statements) { try await next(request, context) }
        let elapsed = ContinuousClock.now - start
        response.headers[.requestID] = context.id
        response.headers[.serverTiming] =
            "total;dur=\(elapsed.milliseconds), db;dur=\(statements.elapsed.milliseconds);desc=\"\(statements.value) statements\""
        timings?.record(
            method: request.method.rawValue, route: context.endpointPath ?? "unmatched", total: elapsed, database: statements.elapsed,
            statements: statements.value)
        var logger = context.logger
        if let tenant = trace.tenantID { logger[metadataKey: "tenant_id"] = "\(tenant)" }
        logger.info(
            "request",
            metadata: [
                "method": "\(request.method)",
                "route": "\(context.endpointPath ?? "unmatched")",
                "status": "\(response.status.code)",
                "duration_ms": "\(elapsed.milliseconds)",
                "db_statements": "\(statements.value)",
            ])
        return response
    }
}

/// What inner middleware learns about a request that the outer middleware logs once it is done.
final class RequestTrace: Sendable {
    private let state = Mutex<String?>(nil)

    var tenantID: String? {
        get { state.withLock { $0 } }
        set { state.withLock { $0 = newValue } }
    }
}

extension HTTPField.Name {
    static let requestID = HTTPField.Name("X-Request-ID")!
    static let serverTiming = HTTPField.Name("Server-Timing")!
}

extension Duration {
    var milliseconds: Int64 {
        components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000
    }
}
