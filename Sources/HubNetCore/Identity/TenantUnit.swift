import Foundation

/// A team inside a tenant. A lead assigned to a unit is accepted by one of its members.
public struct TenantUnit: Sendable, Equatable, Codable {
    public typealias ID = Identifier<TenantUnit>

    public var id: ID
    public var tenantID: Tenant.ID
    public var name: String
    public var memberIDs: [User.ID]
    public var createdAt: Date

    public init(id: ID, tenantID: Tenant.ID, name: String, memberIDs: [User.ID], createdAt: Date) {
        self.id = id
        self.tenantID = tenantID
        self.name = name
        self.memberIDs = memberIDs
        self.createdAt = createdAt
    }
}
