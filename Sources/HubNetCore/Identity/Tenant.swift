import Foundation

/// An organisation of the network. Every record below a tenant is isolated from every other tenant.
public struct Tenant: Sendable, Equatable, Codable {
    public typealias ID = Identifier<Tenant>

    /// What kind of organisation the tenant is; it decides which side of a lead it usually stands on.
    public enum Kind: String, Sendable, Codable, CaseIterable {
        /// An advising organisation with moderators and advisors; found through its listings.
        case hub
        /// A company that receives leads from a sourcing company.
        case partnerCompany = "partner_company"
        /// A vendor that distributes leads to partner companies.
        case sourcingCompany = "sourcing_company"
    }

    public var id: ID
    public var kind: Kind
    public var name: String
    /// A short, unique, URL-safe handle (`bay-area-sbdc`).
    public var slug: String
    public var createdAt: Date

    public init(id: ID, kind: Kind, name: String, slug: String, createdAt: Date) {
        self.id = id
        self.kind = kind
        self.name = name
        self.slug = slug
        self.createdAt = createdAt
    }
}
