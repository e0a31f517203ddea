import Foundation
import Hummingbird
import HubNetCore

extension Request {
    /// Decodes a JSON body within the context's size limit; a missing, non-JSON or malformed body is
    /// a typed 4xx.
    func decodeJSON<Value: Decodable>(_ type: Value.Type, context: AppRequestContext) async throws -> Value {
        if let contentType = headers[.contentType]?.lowercased(), !contentType.contains("json") {
            throw HTTPError(.unsupportedMediaType, message: "send the body as application/json")
        }
        let buffer = try await body.collect(upTo: context.maxUploadSize)
        guard buffer.readableBytes > 0 else {
            throw APIError(status: .badRequest, code: "malformed_json", message: "the request body is empty")
        }
        return try context.requestDecoder.decode(Value.self, from: buffer)
    }

    /// The page a list request asks for: `limit` and `cursor` query parameters.
    func pageRequest() throws(DomainError) -> PageRequest {
        let query = uri.queryParameters
        var limit = 50
        if let text = query.get("limit") {
            guard let number = Int(String(text)) else { throw .invalid("limit", "must be a whole number") }
            limit = number
        }
        let cursor = try query.get("cursor").map { (text) throws(DomainError) in try PageCursor(token: text) }
        return try PageRequest(limit: limit, after: cursor)
    }

    /// A boolean query parameter: `true`/`false`, absent is `nil`.
    func boolQuery(_ name: String) throws(DomainError) -> Bool? {
        guard let text = uri.queryParameters.get(name) else { return nil }
        switch text.lowercased() {
        case "true", "1": return true
        case "false", "0": return false
        default: throw .invalid(name, "must be true or false")
        }
    }
}

extension AppRequestContext {
    /// A typed id from the path. A malformed id names no record, so it answers like a missing one.
    func id<Owner>(_ parameter: String, of _: Owner.Type, _ what: String) throws(DomainError) -> Identifier<Owner> {
        guard let text = parameters.get(parameter), let id = Identifier<Owner>(string: text) else {
            throw .notFound(what)
        }
        return id
    }
}

/// A handler result with a status other than 200.
struct Created<Body: ResponseEncodable & Sendable>: ResponseGenerator {
    var body: Body
    func response(from request: Request, context: some RequestContext) throws -> Response {
        var response = try body.response(from: request, context: context)
        response.status = .created
        return response
    }
}

struct NoContent: ResponseGenerator {
    func response(from request: Request, context: some RequestContext) throws -> Response {
        Response(status: .noContent)
    }
}
