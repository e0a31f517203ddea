/// What a user may do inside their own tenant.
public enum Role: String, Sendable, Codable, CaseIterable, Comparable {
    /// Manages the tenant: users, units, listings, tokens, templates.
    case admin
    /// Acts on incoming leads of a hub: accept, decline, refer, contact.
    case moderator
    /// A technical-assistance provider of a hub who serves accepted leads.
    case advisor
    /// A user of a partner company who works the leads it receives.
    case partnerUser = "partner_user"
    /// Reads, never changes.
    case viewer

    public static func < (lhs: Role, rhs: Role) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }
}

extension Role {
    /// Moderators and advisors work in hubs; partner users in the companies that receive or source leads.
    public func exists(in kind: Tenant.Kind) -> Bool {
        switch self {
        case .admin, .viewer: true
        case .moderator, .advisor: kind == .hub
        case .partnerUser: kind != .hub
        }
    }
}
