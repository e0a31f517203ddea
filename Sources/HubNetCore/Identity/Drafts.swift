/// Input for a new tenant, as the network operator provisions it.
public struct TenantDraft: Sendable, Equatable {
    public var kind: Tenant.Kind
    public var name: String
    public var slug: String
    public var admin: UserDraft

    public init(kind: Tenant.Kind, name: String, slug: String, admin: UserDraft) {
        self.kind = kind
        self.name = name
        self.slug = slug
        self.admin = admin
    }

    /// Checked and normalised; the first user of a tenant is always an admin.
    public func validated() throws(DomainError) -> TenantDraft {
        var admin = admin
        admin.roles.insert(.admin)
        admin = try admin.validated(for: kind, fieldPrefix: "admin.")
        return TenantDraft(
            kind: kind,
            name: try Validate.text(name, field: "name", max: 200),
            slug: try Validate.slug(slug, field: "slug"),
            admin: admin
        )
    }
}

/// Input for a new user of a tenant.
public struct UserDraft: Sendable, Equatable {
    public var email: String
    public var displayName: String
    public var roles: Set<Role>

    public init(email: String, displayName: String, roles: Set<Role>) {
        self.email = email
        self.displayName = displayName
        self.roles = roles
    }

    /// Checked and normalised; the roles must exist in a tenant of this kind.
    public func validated(for kind: Tenant.Kind, fieldPrefix: String = "") throws(DomainError) -> UserDraft {
        guard !roles.isEmpty else { throw .invalid("\(fieldPrefix)roles", "must name at least one role") }
        if let misplaced = roles.sorted().first(where: { !$0.exists(in: kind) }) {
            throw .invalid("\(fieldPrefix)roles", "\(misplaced.rawValue) is not a role of a \(kind.rawValue) tenant")
        }
        return UserDraft(
            email: try Validate.email(email, field: "\(fieldPrefix)email"),
            displayName: try Validate.text(displayName, field: "\(fieldPrefix)display_name", max: 200),
            roles: roles
        )
    }
}
