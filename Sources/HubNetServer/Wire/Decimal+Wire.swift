import Foundation

/// An amount of money in a request body. A JSON number too large for `Decimal` (`1e300`) is
/// refused as an invalid value of its own field; Foundation's decoder would otherwise fail the
/// whole body as malformed JSON. The range itself is checked by `Validate.optionalAmount`.
public struct RequestAmount: Decodable, Sendable {
    public var value: Decimal

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let value = try? container.decode(Decimal.self) {
            self.value = value
        } else if (try? container.decode(Double.self)) != nil {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "must be a number between 0 and 1,000,000,000,000")
        } else {
            self.value = try container.decode(Decimal.self)
        }
    }
}
