import Foundation
import Hummingbird
import HubNetCore
import HubNetPostgres
import PostgresNIO

/// The one shape of every error response: `{"error": {"code": "...", "message": "...", "field": "..."}}`.
public struct APIError: HTTPResponseError, Sendable {
    public var status: HTTPResponse.Status
    public var code: String
    public var message: String
    public var field: String?
    /// Every problem, when there are several (a lead import's rows).
    public var details: [LeadImport.RowError]?
    /// For a device that must stop: its last applied mutation, and that it must wipe its data.
    public var lastMutationId: Int64?
    public var wipe: Bool?
    /// Seconds after which the same request may succeed (`Retry-After`).
    public var retryAfter: Int?

    public init(
        status: HTTPResponse.Status, code: String, message: String, field: String? = nil, details: [LeadImport.RowError]? = nil,
        retryAfter: Int? = nil
    ) {
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.details = details
        self.retryAfter = retryAfter
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        let envelope = ErrorEnvelope(
            .init(code: code, message: message, field: field, details: details, lastMutationId: lastMutationId, wipe: wipe))
        let data = try JSONEncoder.hubnet.encode(envelope)
        var headers = HTTPFields()
        headers[.contentType] = "application/json; charset=utf-8"
        if let retryAfter { headers[.retryAfter] = String(retryAfter) }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// Maps anything a handler threw to what the client may see. Database and other internal
    /// error text never leaves the server; `internal` tells the caller to log it.
    public static func from(_ error: any Error) -> (APIError, internal: Bool) {
        switch error {
        case let error as APIError:
            return (error, false)
        case let error as DomainError:
            return (APIError(domain: error), false)
        case let refusal as WorkflowRefusal:
            return (APIError(domain: refusal.domainError), false)
        case let ended as AccessEnded:
            var apiError = APIError(status: .unauthorized, code: ended.reason.rawValue, message: ended.message)
            apiError.lastMutationId = ended.lastMutationID
            apiError.wipe = ended.lastMutationID != nil ? true : nil
            return (apiError, false)
        case let reused as MutationIDsReused:
            var apiError = APIError(
                status: .conflict, code: "mutation_ids_reused",
                message: "mutation \(reused.mutationID) was already used for a different mutation; this device's mutations run up to "
                    + "\(reused.lastMutationID): number the queue from this one on after it and send it again",
                field: "mutations[\(reused.offset)]")
            apiError.lastMutationId = reused.lastMutationID
            return (apiError, false)
        case let error as DecodingError:
            return (APIError(decoding: error), false)
        case let error as HTTPError:
            return (APIError(http: error), false)
        case let error where StoreRefusal.isCollision(error):
            // Nothing was written; the same request may succeed now.
            return (
                APIError(
                    status: .serviceUnavailable, code: "retry", message: "the request collided with another; send it again",
                    retryAfter: 1), false
            )
        case let error where DatabaseUnavailable.classify(error) != nil:
            return (APIError(unavailable: DatabaseUnavailable.classify(error) ?? DatabaseUnavailable(.connectionLost)), false)
        default:
            // What PostgreSQL refused for good: the same refusal a device gets for it in a push outcome.
            if let refusal = StoreRefusal.domainError(error) { return (APIError(domain: refusal), false) }
            return (APIError(status: .internalServerError, code: "internal_error", message: "an internal error occurred"), true)
        }
    }

    /// 503 with `Retry-After`: `outcome_unknown` when a commit may or may not have happened (retry
    /// with the same idempotency key or mutation ids), `database_unavailable` otherwise.
    init(unavailable: DatabaseUnavailable) {
        if unavailable.outcomeUnknown {
            self.init(
                status: .serviceUnavailable, code: "outcome_unknown",
                message: "the database connection was lost while saving; the change may or may not be stored: "
                    + "send the same request again (with the same Idempotency-Key or mutation ids) to find out",
                retryAfter: 2)
        } else {
            self.init(
                status: .serviceUnavailable, code: "database_unavailable",
                message: "the database is not reachable right now (\(unavailable.reason.rawValue)); nothing was stored, try again",
                retryAfter: 2)
        }
    }

    init(domain error: DomainError) {
        // Over HTTP a lead outside the caller's view is exactly a missing one; only a device that
        // held it hears `not_visible` (in a push outcome).
        if error.code == VisibilityPolicy.notVisible.code {
            self.init(domain: .notFound("lead"))
            return
        }
        let status: HTTPResponse.Status =
            switch error.kind {
            case .invalid: .unprocessableContent
            case .notFound: .notFound
            case .forbidden: .forbidden
            case .conflict: .conflict
            case .unauthenticated: .unauthorized
            }
        self.init(status: status, code: error.code, message: error.message, field: error.field)
    }

    init(decoding error: DecodingError) {
        func path(_ codingPath: [any CodingKey]) -> String {
            codingPath.map { key in key.intValue.map { "[\($0)]" } ?? ".\(key.stringValue.snakeCased)" }
                .joined().trimmingPrefix(".").description
        }
        switch error {
        case .keyNotFound(let key, let context):
            let field = path(context.codingPath + [key])
            self.init(status: .unprocessableContent, code: "validation_failed", message: "\(field): is required", field: field)
        case .valueNotFound(_, let context):
            let field = path(context.codingPath)
            self.init(status: .unprocessableContent, code: "validation_failed", message: "\(field): must not be null", field: field)
        case .typeMismatch(let type, let context):
            let field = path(context.codingPath)
            self.init(
                status: .unprocessableContent, code: "validation_failed",
                message: "\(field.isEmpty ? "body" : field): must be \(Self.describe(type))", field: field.isEmpty ? nil : field)
        case .dataCorrupted(let context) where context.codingPath.isEmpty:
            self.init(status: .badRequest, code: "malformed_json", message: "the request body is not valid JSON")
        case .dataCorrupted(let context):
            let field = path(context.codingPath)
            self.init(status: .unprocessableContent, code: "validation_failed", message: "\(field): has an invalid value", field: field)
        @unknown default:
            self.init(status: .badRequest, code: "malformed_json", message: "the request body could not be read")
        }
    }

    init(http error: HTTPError) {
        switch error.status {
        case .contentTooLarge:
            self.init(status: .contentTooLarge, code: "payload_too_large", message: "the request body is larger than the server accepts")
        case .notFound:
            self.init(status: .notFound, code: "not_found", message: error.body ?? "no such resource")
        case .methodNotAllowed:
            self.init(status: .methodNotAllowed, code: "method_not_allowed", message: "this resource does not support that method")
        case .unsupportedMediaType:
            self.init(status: .unsupportedMediaType, code: "unsupported_media_type", message: error.body ?? "send application/json")
        case .badRequest:
            self.init(status: .badRequest, code: "bad_request", message: error.body ?? "the request could not be read")
        default:
            self.init(status: error.status, code: "http_\(error.status.code)", message: error.body ?? error.status.reasonPhrase)
        }
    }

    private static func describe(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Bool.Type: "true or false"
        case is Int.Type, is Double.Type: "a number"
        case is [Any].Type: "an array"
        default: type == Dictionary<String, Any>.self ? "an object" : "of another type (\(type))"
        }
    }
}

extension String {
    /// `displayName` → `display_name`, matching the wire's keys.
    var snakeCased: String {
        var result = ""
        for character in self {
            if character.isUppercase {
                if !result.isEmpty { result.append("_") }
                result.append(contentsOf: character.lowercased())
            } else {
                result.append(character)
            }
        }
        return result
    }
}
