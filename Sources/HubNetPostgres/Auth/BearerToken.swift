import Crypto
import Foundation
import HubNetCore

/// A bearer credential as presented by a client: `hnu_<tenant>_<secret>` for a user's API token,
/// `hnd_<tenant>_<secret>` for a device, `hns_…` for a console session cookie and `hnl_…` for a
/// console sign-in link. The tenant part lets the server look the token up inside
/// that tenant's rows, under row-level security; only the SHA-256 of the whole string is stored.
public struct BearerToken: Sendable, Equatable {
    public enum Kind: String, Sendable { case user = "hnu", device = "hnd", session = "hns", signInLink = "hnl" }

    public var kind: Kind
    public var tenantID: Tenant.ID
    public var secret: String

    /// A new token with 256 random bits.
    public static func generate(_ kind: Kind, tenant: Tenant.ID) -> BearerToken {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        let secret = Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
        return BearerToken(kind: kind, tenantID: tenant, secret: secret)
    }

    public init(kind: Kind, tenantID: Tenant.ID, secret: String) {
        self.kind = kind
        self.tenantID = tenantID
        self.secret = secret
    }

    /// Parses a presented token; `nil` for anything not shaped like one.
    public init?(_ string: String) {
        let parts = string.split(separator: "_", maxSplits: 2, omittingEmptySubsequences: false)
        guard string.count <= 200, parts.count == 3, let kind = Kind(rawValue: String(parts[0])),
            parts[1].count == 32, let uuid = UUID(hexDigits: parts[1]), parts[2].count >= 32
        else { return nil }
        self.kind = kind
        self.tenantID = Tenant.ID(uuid)
        self.secret = String(parts[2])
    }

    public var stringValue: String {
        "\(kind.rawValue)_\(tenantID.description.replacingOccurrences(of: "-", with: ""))_\(secret)"
    }

    /// What the database stores and looks up.
    public var hash: Data { Data(SHA256.hash(data: Data(stringValue.utf8))) }
}

extension UUID {
    /// Parses 32 hex digits without dashes.
    init?(hexDigits: Substring) {
        guard hexDigits.count == 32, hexDigits.allSatisfy(\.isHexDigit) else { return nil }
        let text = String(hexDigits)
        let dashed = [text.prefix(8), text.dropFirst(8).prefix(4), text.dropFirst(12).prefix(4),
            text.dropFirst(16).prefix(4), text.dropFirst(20)].joined(separator: "-")
        guard let uuid = UUIDText.parse(dashed) else { return nil }
        self = uuid
    }
}

/// Compares two secrets in time independent of where they differ.
public func constantTimeEquals(_ lhs: String, _ rhs: String) -> Bool {
    let left = Array(SHA256.hash(data: Data(lhs.utf8)))
    let right = Array(SHA256.hash(data: Data(rhs.utf8)))
    return zip(left, right).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
}

extension BearerToken {
    /// A token's hash in hexadecimal, as a list of hashes goes to PostgreSQL (`decode(…, 'hex')`).
    public static func hex(_ hash: Data) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        text.reserveCapacity(hash.count * 2)
        for byte in hash {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: text, as: UTF8.self)
    }
}
