import Foundation
import Hummingbird
import HubNetCore
import HubNetPostgres
import Logging

/// What a request carries through the middleware to its handler: who is asking, and the body limit.
public struct AppRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// Set by `AuthenticationMiddleware` on authenticated routes.
    public var caller: Caller?
    /// Set by `ConsoleSessionMiddleware` on the web console's signed-in pages.
    var console: PostgresConsoleSessionRepository.SignedIn?
    /// Set by `RequestLogMiddleware` from the configuration.
    public var maxUploadSize: Int
    /// Shared with the outer middleware, which logs what inner ones learned.
    var trace: RequestTrace?
    /// The peer's IP address, when the connection has one.
    public let remoteAddress: String?

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.caller = nil
        self.console = nil
        self.maxUploadSize = 1 << 20
        self.trace = nil
        self.remoteAddress = source.channel.remoteAddress?.ipAddress
    }

    public var requestDecoder: JSONDecoder { .hubnet }
    public var responseEncoder: JSONEncoder { .hubnet }

    /// The tenant user making the request; the operator and anonymous callers are refused.
    public func requireUser() throws(DomainError) -> AuthenticatedUser {
        switch caller {
        case .user(let user): return user
        case .networkOperator:
            throw .forbidden("the operator token provisions tenants; use a token of a tenant's user", code: "operator_not_allowed")
        case nil: throw .unauthenticated
        }
    }

    /// The network operator; tenant users are refused.
    public func requireOperator() throws(DomainError) {
        switch caller {
        case .networkOperator: return
        case .user: throw .forbidden("only the network operator may do this", code: "operator_only")
        case nil: throw .unauthenticated
        }
    }
}

extension JSONDecoder {
    /// snake_case keys and ISO 8601 dates, as everywhere on the wire.
    static var hubnet: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        decoder.dateDecodingStrategy = .custom(decodeHubNetDate)
        return decoder
    }

    /// For types that name their snake_case keys themselves (the shared wire types of the core).
    static let wire: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom(decodeHubNetDate)
        return decoder
    }()
}

/// An ISO 8601 date-time (with or without fractional seconds) within the years 1 to 9999; anything
/// else is a decoding error naming the field.
@Sendable func decodeHubNetDate(_ decoder: any Decoder) throws -> Date {
    let container = try decoder.singleValueContainer()
    let text = try container.decode(String.self)
    guard let date = Timestamp.parseISO8601(text) else {
        throw DecodingError.dataCorruptedError(
            in: container, debugDescription: "must be an ISO 8601 date-time such as 2026-05-01T09:00:00Z")
    }
    return date
}

extension JSONEncoder {
    static var hubnet: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }
}
