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

    public init(status: HTTPResponse.Status, code: String, message: String, field: String? = nil, details: [LeadImport.RowError]? = nil) {
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.details = details
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        let data = try JSONEncoder.hubnet.encode(ErrorBody(error: .init(code: code, message: message, field: field, details: details)))
        var headers = HTTPFields()
        headers[.contentType] = "application/json; charset=utf-8"
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
        case let error as DecodingError:
            return (APIError(decoding: error), false)
        case let error as HTTPError:
            return (APIError(http: error), false)
        case let error as PSQLError where ["40P01", "40001"].contains(error.serverInfo?[.sqlState] ?? ""):
            // A deadlock or serialization failure: nothing was written; the same request may succeed now.
            return (APIError(status: .serviceUnavailable, code: "retry", message: "the request collided with another; send it again"), false)
        case let error as PSQLError where error.isDataException:
            return (APIError(status: .unprocessableContent, code: "invalid_value", message: "a value is out of range or malformed"), false)
        default:
            return (APIError(status: .internalServerError, code: "internal_error", message: "an internal error occurred"), true)
        }
    }

    init(domain error: DomainError) {
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

/// The JSON envelope of an error.
struct ErrorBody: Codable {
    struct Detail: Codable {
        var code: String
        var message: String
        var field: String?
        var details: [LeadImport.RowError]?
    }
    var error: Detail
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
