import Foundation
import HTTPTypes
import Hummingbird
import HubNetCore
import NIOCore

extension Request {
    /// Decodes a JSON body within the context's size limit; a missing, non-JSON or malformed body is
    /// a typed 4xx. `emptyAs` stands in for an empty body (an action without inputs posts nothing).
    /// `decoder` is the API's (snake_case converted) unless the type names its own keys.
    func decodeJSON<Value: Decodable>(
        _ type: Value.Type, context: AppRequestContext, emptyAs empty: String? = nil, decoder: JSONDecoder? = nil
    ) async throws -> Value {
        try await decodeJSONWithBody(type, context: context, emptyAs: empty, decoder: decoder).value
    }

    /// `decodeJSON`, also returning the body's bytes (for an idempotency key's request hash).
    func decodeJSONWithBody<Value: Decodable>(
        _ type: Value.Type, context: AppRequestContext, emptyAs empty: String? = nil, decoder: JSONDecoder? = nil
    ) async throws -> (value: Value, body: ByteBuffer) {
        var buffer = try await collectBody(context: context)
        if buffer.readableBytes == 0, let empty {
            buffer = ByteBuffer(string: empty)
        } else {
            try requireJSONContentType()
        }
        guard buffer.readableBytes > 0 else {
            throw APIError(status: .badRequest, code: "malformed_json", message: "the request body is empty")
        }
        if let key = JSONDuplicateKeys.first(in: buffer.readableBytesView) {
            throw APIError(
                status: .badRequest, code: "duplicate_key", message: "\(key): appears twice in one object; send each key once",
                field: key)
        }
        let decoder = decoder ?? context.requestDecoder
        do {
            return (try decoder.decode(Value.self, from: buffer), buffer)
        } catch DecodingError.dataCorrupted(let corrupted) where corrupted.codingPath.isEmpty {
            // Foundation calls a number its field cannot hold "not valid JSON", without a path:
            // find the number, so the answer names its field.
            func failsAsUnreadable(_ bytes: [UInt8]) -> Bool {
                do {
                    _ = try decoder.decode(Value.self, from: ByteBuffer(bytes: bytes))
                    return false
                } catch DecodingError.dataCorrupted(let again) where again.codingPath.isEmpty {
                    return true
                } catch {
                    return false
                }
            }
            if let number = JSONNumbers.culprit(in: Array(buffer.readableBytesView), fails: failsAsUnreadable) {
                throw APIError(
                    status: .unprocessableContent, code: "validation_failed",
                    message: "\(number.path): \(number.literal) is not a number this field can hold", field: number.path)
            }
            throw DecodingError.dataCorrupted(corrupted)
        }
    }

    /// The body, at most `context.maxUploadSize` bytes whether announced or chunked (413 otherwise).
    func collectBody(context: AppRequestContext) async throws -> ByteBuffer {
        do {
            return try await body.collect(upTo: context.maxUploadSize)
        } catch is NIOTooManyBytesError {
            throw HTTPError(.contentTooLarge)
        }
    }

    /// `application/json` or a `+json` type, with optional parameters; anything else (or none) is 415.
    func requireJSONContentType() throws {
        guard let contentType = headers[.contentType] else {
            throw HTTPError(.unsupportedMediaType, message: "send the body with Content-Type: application/json")
        }
        let mediaType = contentType.split(separator: ";", maxSplits: 1).first.map {
            $0.trimmingCharacters(in: .whitespaces).lowercased()
        } ?? ""
        let parts = mediaType.split(separator: "/", omittingEmptySubsequences: false)
        guard mediaType == "application/json" || (parts.count == 2 && parts[0] == "application" && parts[1].hasSuffix("+json")) else {
            throw HTTPError(.unsupportedMediaType, message: "send the body as application/json, not \(mediaType)")
        }
    }

    /// The `Idempotency-Key` header: 1 to 255 visible ASCII characters, or absent.
    func idempotencyKey() throws(DomainError) -> String? {
        guard let value = headers[.idempotencyKey] else { return nil }
        guard (1...255).contains(value.utf8.count), value.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else {
            throw .invalid("Idempotency-Key", "must be 1 to 255 visible ASCII characters (a UUID is a good key)")
        }
        return value
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

extension HTTPField.Name {
    static let idempotencyKey = HTTPField.Name("Idempotency-Key")!
    static let idempotentReplayed = HTTPField.Name("Idempotent-Replayed")!
}
