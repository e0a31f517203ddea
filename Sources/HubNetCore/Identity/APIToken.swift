import Foundation

/// A bearer credential of one user. Only its hash is ever stored; the secret is shown once.
public struct APIToken: Sendable, Equatable, Codable {
    public typealias ID = Identifier<APIToken>

    public var id: ID
    public var tenantID: Tenant.ID
    public var userID: User.ID
    public var name: String
    public var createdAt: Date
    public var lastUsedAt: Date?
    public var revokedAt: Date?

    public init(
        id: ID, tenantID: Tenant.ID, userID: User.ID, name: String, createdAt: Date,
        lastUsedAt: Date? = nil, revokedAt: Date? = nil
    ) {
        self.id = id
        self.tenantID = tenantID
        self.userID = userID
        self.name = name
        self.createdAt = createdAt
        self.lastUsedAt = lastUsedAt
        self.revokedAt = revokedAt
    }
}
