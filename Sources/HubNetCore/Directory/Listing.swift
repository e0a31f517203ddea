import Foundation

/// A public directory entry of a hub, shaped like an Open Referral (HSDS) service.
/// External referrals target a listing and land in its hub.
public struct Listing: Sendable, Equatable, Codable {
    public typealias ID = Identifier<Listing>

    public var id: ID
    public var tenantID: Tenant.ID
    public var name: String
    public var description: String?
    /// What the hub offers through this listing ("business plan review").
    public var services: [String]
    /// Where the hub serves (counties, cities, regions, "statewide").
    public var serviceAreas: [String]
    public var categories: [String]
    /// Who may be served ("California-based small businesses").
    public var eligibility: String?
    public var contact: ListingContact
    public var acceptingReferrals: Bool
    /// Whether the listing shows in the public directory.
    public var published: Bool
    /// Increases with every change; a client may send it back to guard an update.
    public var version: Int
    public var createdAt: Date
    public var updatedAt: Date

    public init(
        id: ID, tenantID: Tenant.ID, name: String, description: String?, services: [String],
        serviceAreas: [String], categories: [String], eligibility: String?, contact: ListingContact,
        acceptingReferrals: Bool, published: Bool, version: Int, createdAt: Date, updatedAt: Date
    ) {
        self.id = id
        self.tenantID = tenantID
        self.name = name
        self.description = description
        self.services = services
        self.serviceAreas = serviceAreas
        self.categories = categories
        self.eligibility = eligibility
        self.contact = contact
        self.acceptingReferrals = acceptingReferrals
        self.published = published
        self.version = version
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

public struct ListingContact: Sendable, Equatable, Codable {
    public var name: String?
    public var email: String?
    public var phone: String?
    public var url: String?

    public init(name: String? = nil, email: String? = nil, phone: String? = nil, url: String? = nil) {
        self.name = name
        self.email = email
        self.phone = phone
        self.url = url
    }

    /// The same contact with every field checked and normalised.
    public func validated(fieldPrefix: String = "contact") throws(DomainError) -> ListingContact {
        ListingContact(
            name: try Validate.optionalText(name, field: "\(fieldPrefix).name", max: 200),
            email: try Validate.optionalEmail(email, field: "\(fieldPrefix).email"),
            phone: try Validate.optionalPhone(phone, field: "\(fieldPrefix).phone"),
            url: try Validate.optionalURL(url, field: "\(fieldPrefix).url")
        )
    }
}

/// The fields of a listing a tenant writes; validated before anything is stored.
public struct ListingDraft: Sendable, Equatable {
    public var name: String
    public var description: String?
    public var services: [String]
    public var serviceAreas: [String]
    public var categories: [String]
    public var eligibility: String?
    public var contact: ListingContact
    public var acceptingReferrals: Bool
    public var published: Bool

    public init(
        name: String, description: String? = nil, services: [String] = [], serviceAreas: [String] = [],
        categories: [String] = [], eligibility: String? = nil, contact: ListingContact = .init(),
        acceptingReferrals: Bool = true, published: Bool = true
    ) {
        self.name = name
        self.description = description
        self.services = services
        self.serviceAreas = serviceAreas
        self.categories = categories
        self.eligibility = eligibility
        self.contact = contact
        self.acceptingReferrals = acceptingReferrals
        self.published = published
    }

    /// The draft of an existing listing, for applying a partial update to it.
    public init(_ listing: Listing) {
        self.init(
            name: listing.name, description: listing.description, services: listing.services,
            serviceAreas: listing.serviceAreas, categories: listing.categories,
            eligibility: listing.eligibility, contact: listing.contact,
            acceptingReferrals: listing.acceptingReferrals, published: listing.published
        )
    }

    /// The draft with every field checked and normalised; a listing needs a name and at least one
    /// service area, or the directory could never find it.
    public func validated() throws(DomainError) -> ListingDraft {
        let name = try Validate.text(name, field: "name", max: 200)
        let serviceAreas = try Validate.labels(serviceAreas, field: "service_areas")
        guard !serviceAreas.isEmpty else { throw .invalid("service_areas", "must name at least one area") }
        return ListingDraft(
            name: name,
            description: try Validate.optionalText(description, field: "description", max: 5000),
            services: try Validate.labels(services, field: "services"),
            serviceAreas: serviceAreas,
            categories: try Validate.labels(categories, field: "categories"),
            eligibility: try Validate.optionalText(eligibility, field: "eligibility", max: 2000),
            contact: try contact.validated(),
            acceptingReferrals: acceptingReferrals,
            published: published
        )
    }
}

/// A search of the public directory. Every filter is optional; matching ignores case.
public struct DirectoryQuery: Sendable, Equatable {
    public var serviceArea: String?
    public var category: String?
    public var acceptingReferrals: Bool?
    public var limit: Int

    public static let maximumLimit = 200

    public init(serviceArea: String? = nil, category: String? = nil, acceptingReferrals: Bool? = nil, limit: Int = 50)
        throws(DomainError)
    {
        guard (1...Self.maximumLimit).contains(limit) else {
            throw .invalid("limit", "must be between 1 and \(Self.maximumLimit)")
        }
        self.serviceArea = serviceArea?.trimmingCharacters(in: .whitespaces).nilIfEmpty
        self.category = category?.trimmingCharacters(in: .whitespaces).nilIfEmpty
        self.acceptingReferrals = acceptingReferrals
        self.limit = limit
    }
}

extension String {
    var nilIfEmpty: String? { isEmpty ? nil : self }
}
