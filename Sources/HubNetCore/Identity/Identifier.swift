import Foundation

/// A typed identifier: `Identifier<User>` and `Identifier<Listing>` are different types, so an id
/// of one kind of record can never be passed where another is expected.
public struct Identifier<Owner>: Hashable, Sendable, Codable, CustomStringConvertible {
    public let rawValue: UUID

    public init(_ rawValue: UUID) { self.rawValue = rawValue }

    /// A fresh random identifier.
    public init() { self.rawValue = UUID() }

    /// Parses the canonical textual form; `nil` for anything else.
    public init?(string: String) {
        guard let uuid = UUIDText.parse(string) else { return nil }
        self.rawValue = uuid
    }

    public var description: String { UUIDText.lowercase(rawValue) }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        guard let uuid = UUIDText.parse(try container.decode(String.self)) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "Attempted to decode UUID from invalid UUID string.")
        }
        self.rawValue = uuid
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
