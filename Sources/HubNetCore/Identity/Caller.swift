/// Who is making a request, as far as the rules care.
public enum Caller: Sendable, Equatable {
    /// The network operator, authenticated by the operator token from configuration.
    case networkOperator
    /// A user of one tenant.
    case user(AuthenticatedUser)
}

/// The identity behind a user's API token.
public struct AuthenticatedUser: Sendable, Equatable {
    public var userID: User.ID
    public var tenantID: Tenant.ID
    public var tenantKind: Tenant.Kind
    public var roles: Set<Role>
    /// The device whose token made the request; `nil` for an API token.
    public var deviceID: Device.ID?

    public init(userID: User.ID, tenantID: Tenant.ID, tenantKind: Tenant.Kind, roles: Set<Role>, deviceID: Device.ID? = nil) {
        self.userID = userID
        self.tenantID = tenantID
        self.tenantKind = tenantKind
        self.roles = roles
        self.deviceID = deviceID
    }

    public func has(_ role: Role) -> Bool { roles.contains(role) }
}
