/// Who may do what inside a tenant, decided in one place.
///
/// Records of other tenants never reach this policy: the store does not return them, so a caller
/// asking for one gets `not found` before any permission is weighed.
public enum TenantPolicy {
    public enum Permission: Sendable, Equatable {
        case readTenant
        case manageUsers
        case readUsers
        case manageUnits
        case readUnits
        case manageListings
        case readListings
        /// Issue or revoke tokens of a user other than oneself.
        case manageOthersTokens
        /// Create leads, act on them, add notes and activities.
        case workLeads
        case readLeads
        case manageWorkflowTemplates
    }

    public static func allows(_ user: AuthenticatedUser, _ permission: Permission) -> Bool {
        switch permission {
        case .readTenant, .readUsers, .readUnits, .readListings, .readLeads:
            return true
        case .manageUsers, .manageUnits, .manageOthersTokens, .manageWorkflowTemplates:
            return user.has(.admin)
        case .workLeads:
            return !user.roles.subtracting([.viewer]).isEmpty
        case .manageListings:
            return user.has(.admin) || (user.tenantKind == .hub && user.has(.moderator))
        }
    }

    /// Throws `forbidden` naming what was refused.
    public static func require(_ user: AuthenticatedUser, _ permission: Permission) throws(DomainError) {
        guard allows(user, permission) else {
            throw .forbidden("your role may not \(permission.phrase)")
        }
    }

    /// The workflow a tenant's new leads follow unless another is named.
    public static func defaultTemplateKey(for kind: Tenant.Kind) -> String {
        switch kind {
        case .hub: BuiltInTemplates.hubModeration.key
        case .partnerCompany: BuiltInTemplates.partnerLead.key
        case .sourcingCompany: BuiltInTemplates.statusPath.key
        }
    }

    /// Only hubs are found through listings.
    public static func requireListingOwner(_ kind: Tenant.Kind) throws(DomainError) {
        guard kind == .hub else {
            throw .forbidden("only hubs publish resource listings", code: "tenant_kind_not_allowed")
        }
    }
}

extension TenantPolicy.Permission {
    var phrase: String {
        switch self {
        case .readTenant: "read the tenant"
        case .manageUsers: "manage users"
        case .readUsers: "read users"
        case .manageUnits: "manage units"
        case .readUnits: "read units"
        case .manageListings: "manage listings"
        case .readListings: "read listings"
        case .manageOthersTokens: "manage another user's tokens"
        case .workLeads: "work on leads"
        case .readLeads: "read leads"
        case .manageWorkflowTemplates: "edit workflow templates"
        }
    }
}
