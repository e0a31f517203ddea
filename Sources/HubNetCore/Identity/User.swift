import Foundation

/// A person who belongs to exactly one tenant.
public struct User: Sendable, Equatable, Codable {
    public typealias ID = Identifier<User>

    public var id: ID
    public var tenantID: Tenant.ID
    public var email: String
    public var displayName: String
    public var roles: Set<Role>
    /// `nil` while the user is active; a deactivated user cannot sign in and keeps no token.
    public var deactivatedAt: Date?
    public var createdAt: Date

    public init(
        id: ID, tenantID: Tenant.ID, email: String, displayName: String, roles: Set<Role>,
        deactivatedAt: Date? = nil, createdAt: Date
    ) {
        self.id = id
        self.tenantID = tenantID
        self.email = email
        self.displayName = displayName
        self.roles = roles
        self.deactivatedAt = deactivatedAt
        self.createdAt = createdAt
    }

    public var isActive: Bool { deactivatedAt == nil }
}
