/// A refusal by the rules of the domain, with a stable machine-readable code and a human message.
///
/// The core knows nothing of HTTP; the server maps `kind` to a status once.
public struct DomainError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable, Equatable {
        /// Input breaks a rule of its own shape (a missing name, a bad email).
        case invalid
        /// The record does not exist, or the caller may not know that it exists.
        case notFound
        /// The caller is known but may not do this.
        case forbidden
        /// The request contradicts the current state (a duplicate, a stale version).
        case conflict
        /// No valid credential was presented.
        case unauthenticated
    }

    public var kind: Kind
    /// Stable, snake_case, documented in the OpenAPI document (`validation_failed`, `not_found`, …).
    public var code: String
    public var message: String
    /// The input field at fault, as a dotted path (`contact.email`), for `invalid`.
    public var field: String?

    public init(kind: Kind, code: String, message: String, field: String? = nil) {
        self.kind = kind
        self.code = code
        self.message = message
        self.field = field
    }

    public var description: String { "\(code): \(message)" }

    public static func invalid(_ field: String, _ message: String) -> DomainError {
        DomainError(kind: .invalid, code: "validation_failed", message: "\(field): \(message)", field: field)
    }

    /// The same answer whether the record is missing or belongs to another tenant.
    public static func notFound(_ what: String) -> DomainError {
        DomainError(kind: .notFound, code: "not_found", message: "\(what) not found")
    }

    public static func forbidden(_ message: String, code: String = "forbidden") -> DomainError {
        DomainError(kind: .forbidden, code: code, message: message)
    }

    public static func conflict(_ code: String, _ message: String) -> DomainError {
        DomainError(kind: .conflict, code: code, message: message)
    }

    public static let unauthenticated = DomainError(
        kind: .unauthenticated, code: "unauthenticated", message: "a valid bearer token is required"
    )
}
