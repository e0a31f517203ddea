import Foundation

/// An installation of a client for one user; it works offline and syncs through its own change log.
public struct Device: Sendable, Equatable {
    public typealias ID = Identifier<Device>

    public var id: ID
    public var tenantID: Tenant.ID
    public var userID: User.ID
    public var name: String
    public var createdAt: Date
    public var lastSeenAt: Date?
    public var revokedAt: Date?

    public init(
        id: ID, tenantID: Tenant.ID, userID: User.ID, name: String, createdAt: Date, lastSeenAt: Date? = nil, revokedAt: Date? = nil
    ) {
        self.id = id
        self.tenantID = tenantID
        self.userID = userID
        self.name = name
        self.createdAt = createdAt
        self.lastSeenAt = lastSeenAt
        self.revokedAt = revokedAt
    }
}
