import Crypto
import Foundation
import HubNetCore

/// The token of an act-from-email link: `<tenant hex>.<link id hex>.<HMAC-SHA256 of both>`,
/// base64url-free so it survives any mail client. The signature proves the server made it; the
/// stored row makes it single-use and expiring.
public struct EmailActionToken: Sendable, Equatable {
    public var tenantID: Tenant.ID
    public var linkID: UUID

    public init(tenantID: Tenant.ID, linkID: UUID) {
        self.tenantID = tenantID
        self.linkID = linkID
    }

    public func signed(with key: SymmetricKey) -> String {
        let payload = Self.payload(tenantID, linkID)
        return payload + "." + Self.mac(payload, key)
    }

    /// The token if its signature holds; `nil` for anything forged, truncated or altered.
    public init?(verifying text: String, with key: SymmetricKey) {
        let parts = text.split(separator: ".")
        guard text.count < 200, parts.count == 3, let tenant = UUID(hexDigits: parts[0]), let link = UUID(hexDigits: parts[1])
        else { return nil }
        let payload = "\(parts[0]).\(parts[1])"
        let expected = Self.mac(payload, key)
        guard constantTimeEquals(expected, String(parts[2])) else { return nil }
        self.tenantID = Tenant.ID(tenant)
        self.linkID = link
    }

    static func payload(_ tenant: Tenant.ID, _ link: UUID) -> String {
        tenant.description.replacingOccurrences(of: "-", with: "") + "." + UUIDText.lowercase(link).replacingOccurrences(of: "-", with: "")
    }

    static func mac(_ payload: String, _ key: SymmetricKey) -> String {
        Hex.lowercase(HMAC<SHA256>.authenticationCode(for: Data(payload.utf8), using: key))
    }
}

/// How the server makes act-from-email links: where they point, the signing key, how long they live.
public struct EmailActionLinks: Sendable {
    public var baseURL: String
    /// The signing key's bytes.
    public var secret: Data
    public var lifetime: TimeInterval

    public init(baseURL: String, secret: Data, lifetime: TimeInterval = 7 * 86_400) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.secret = secret
        self.lifetime = lifetime
    }

    public var key: SymmetricKey { SymmetricKey(data: secret) }

    public func url(for token: EmailActionToken) -> String {
        "\(baseURL)/v1/email-actions/\(token.signed(with: key))"
    }
}
