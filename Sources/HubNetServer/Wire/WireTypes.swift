import Foundation
import Hummingbird
import HubNetCore

// The JSON shapes of the API. Keys are camelCase here and snake_case on the wire, but for the
// types that name their snake_case keys themselves (`SnakeCaseKeyed`).

/// A response whose coding keys are the wire's snake_case names already, so it is encoded without
/// the API's key strategy, which would convert every key of every object again (the conversion
/// leaves a snake_case name as it is, so the bytes are the same either way; a property test
/// compares them). The leads, which every list and action answers with.
public protocol SnakeCaseKeyed: Encodable {}

extension JSONEncoder {
    /// `hubnet` without the key strategy: for `SnakeCaseKeyed` responses.
    static let snakeCaseKeyed: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }()
}

public struct PageResponse<Item: Encodable & Sendable>: ResponseEncodable, Sendable {
    public var items: [Item]
    public var nextCursor: String?

    enum CodingKeys: String, CodingKey {
        case items
        case nextCursor = "next_cursor"
    }

    init<Record>(_ page: Page<Record>, _ transform: (Record) -> Item) {
        self.items = page.items.map(transform)
        self.nextCursor = page.nextCursor?.token
    }

    /// A page of `SnakeCaseKeyed` items is itself: encoded without the key strategy.
    public func response(from request: Request, context: some RequestContext) throws -> Response {
        if Item.self is any SnakeCaseKeyed.Type {
            return try JSONEncoder.snakeCaseKeyed.encode(self, from: request, context: context)
        }
        return try context.responseEncoder.encode(self, from: request, context: context)
    }
}

public struct TenantResponse: ResponseEncodable, Sendable {
    public var id: Tenant.ID
    public var kind: String
    public var name: String
    public var slug: String
    public var createdAt: Date

    init(_ tenant: Tenant) {
        self.id = tenant.id
        self.kind = tenant.kind.rawValue
        self.name = tenant.name
        self.slug = tenant.slug
        self.createdAt = tenant.createdAt
    }
}

public struct CreateTenantRequest: Decodable, Sendable {
    public struct Admin: Decodable, Sendable {
        public var email: String
        public var displayName: String
    }
    public var kind: String
    public var name: String
    public var slug: String
    public var admin: Admin
}

public struct CreateTenantResponse: ResponseEncodable, Sendable {
    public var tenant: TenantResponse
    public var admin: UserResponse
    /// The admin's first API token; shown this once.
    public var adminToken: String
}

public struct UserResponse: ResponseEncodable, Sendable {
    public var id: User.ID
    public var tenantID: Tenant.ID
    public var email: String
    public var displayName: String
    public var roles: [String]
    public var active: Bool
    public var deactivatedAt: Date?
    public var createdAt: Date

    enum CodingKeys: String, CodingKey {
        case id, tenantID = "tenantId", email, displayName, roles, active, deactivatedAt, createdAt
    }

    init(_ user: User) {
        self.id = user.id
        self.tenantID = user.tenantID
        self.email = user.email
        self.displayName = user.displayName
        self.roles = user.roles.sorted().map(\.rawValue)
        self.active = user.isActive
        self.deactivatedAt = user.deactivatedAt
        self.createdAt = user.createdAt
    }
}

public struct CreateUserRequest: Decodable, Sendable {
    public var email: String
    public var displayName: String
    public var roles: [String]
}

public struct UpdateUserRequest: Decodable, Sendable {
    public var displayName: String?
    public var roles: [String]?
}

public struct IssueTokenRequest: Decodable, Sendable {
    public var name: String
}

public struct TokenResponse: ResponseEncodable, Sendable {
    public var id: APIToken.ID
    public var userID: User.ID
    public var name: String
    public var createdAt: Date
    public var lastUsedAt: Date?
    public var revokedAt: Date?

    enum CodingKeys: String, CodingKey {
        case id, userID = "userId", name, createdAt, lastUsedAt, revokedAt
    }

    init(_ token: APIToken) {
        self.id = token.id
        self.userID = token.userID
        self.name = token.name
        self.createdAt = token.createdAt
        self.lastUsedAt = token.lastUsedAt
        self.revokedAt = token.revokedAt
    }
}

public struct IssuedTokenResponse: ResponseEncodable, Sendable {
    public var token: TokenResponse
    /// The bearer secret; shown this once, never stored.
    public var secret: String
}

public struct TokenListResponse: ResponseEncodable, Sendable {
    public var items: [TokenResponse]
}

public struct UnitResponse: ResponseEncodable, Sendable {
    public var id: TenantUnit.ID
    public var name: String
    public var memberIDs: [User.ID]
    public var createdAt: Date

    enum CodingKeys: String, CodingKey {
        case id, name, memberIDs = "memberIds", createdAt
    }

    init(_ unit: TenantUnit) {
        self.id = unit.id
        self.name = unit.name
        self.memberIDs = unit.memberIDs
        self.createdAt = unit.createdAt
    }
}

public struct UnitRequest: Decodable, Sendable {
    public var name: String
}

public struct ContactBody: Codable, Sendable {
    public var name: String?
    public var email: String?
    public var phone: String?
    public var url: String?

    init(_ contact: ListingContact) {
        self.name = contact.name
        self.email = contact.email
        self.phone = contact.phone
        self.url = contact.url
    }

    var contact: ListingContact { ListingContact(name: name, email: email, phone: phone, url: url) }
}

public struct ListingResponse: ResponseEncodable, Sendable {
    public var id: Listing.ID
    public var tenantID: Tenant.ID
    public var name: String
    public var description: String?
    public var services: [String]
    public var serviceAreas: [String]
    public var categories: [String]
    public var eligibility: String?
    public var contact: ContactBody
    public var acceptingReferrals: Bool
    public var published: Bool
    public var version: Int
    public var createdAt: Date
    public var updatedAt: Date

    enum CodingKeys: String, CodingKey {
        case id, tenantID = "tenantId", name, description, services, serviceAreas, categories, eligibility, contact,
            acceptingReferrals, published, version, createdAt, updatedAt
    }

    init(_ listing: Listing) {
        self.id = listing.id
        self.tenantID = listing.tenantID
        self.name = listing.name
        self.description = listing.description
        self.services = listing.services
        self.serviceAreas = listing.serviceAreas
        self.categories = listing.categories
        self.eligibility = listing.eligibility
        self.contact = ContactBody(listing.contact)
        self.acceptingReferrals = listing.acceptingReferrals
        self.published = listing.published
        self.version = listing.version
        self.createdAt = listing.createdAt
        self.updatedAt = listing.updatedAt
    }
}

public struct CreateListingRequest: Decodable, Sendable {
    public var name: String
    public var description: String?
    public var services: [String]?
    public var serviceAreas: [String]?
    public var categories: [String]?
    public var eligibility: String?
    public var contact: ContactBody?
    public var acceptingReferrals: Bool?
    public var published: Bool?

    var draft: ListingDraft {
        ListingDraft(
            name: name, description: description, services: services ?? [], serviceAreas: serviceAreas ?? [],
            categories: categories ?? [], eligibility: eligibility, contact: contact?.contact ?? .init(),
            acceptingReferrals: acceptingReferrals ?? true, published: published ?? true)
    }
}

/// A partial update: absent fields stay; an empty string clears an optional text.
public struct UpdateListingRequest: Decodable, Sendable {
    public var name: String?
    public var description: String?
    public var services: [String]?
    public var serviceAreas: [String]?
    public var categories: [String]?
    public var eligibility: String?
    public var contact: ContactBody?
    public var acceptingReferrals: Bool?
    public var published: Bool?
    /// Refuse the update unless the listing is still at this version.
    public var version: Int?

    func apply(to draft: inout ListingDraft) {
        if let name { draft.name = name }
        if let description { draft.description = description }
        if let services { draft.services = services }
        if let serviceAreas { draft.serviceAreas = serviceAreas }
        if let categories { draft.categories = categories }
        if let eligibility { draft.eligibility = eligibility }
        if let contact {
            if let name = contact.name { draft.contact.name = name }
            if let email = contact.email { draft.contact.email = email }
            if let phone = contact.phone { draft.contact.phone = phone }
            if let url = contact.url { draft.contact.url = url }
        }
        if let acceptingReferrals { draft.acceptingReferrals = acceptingReferrals }
        if let published { draft.published = published }
    }
}

public struct DirectoryEntryResponse: ResponseEncodable, Sendable {
    public struct Hub: Encodable, Sendable {
        public var id: Tenant.ID
        public var name: String
    }
    public var id: Listing.ID
    public var hub: Hub
    public var name: String
    public var description: String?
    public var services: [String]
    public var serviceAreas: [String]
    public var categories: [String]
    public var eligibility: String?
    public var contact: ContactBody
    public var acceptingReferrals: Bool
    /// The hub's declared capacity, when it declared one.
    public var capacity: CapacityView?

    public struct CapacityView: Encodable, Sendable {
        public var openSlots: Int?
        public var freeSlots: Int?
        public var notAcceptingUntil: Date?
        /// Whether the hub can take a referral now.
        public var available: Bool
    }

    init(_ listing: Listing, hubName: String, load: PartnerLoad? = nil, now: Date = Date()) {
        if let load, load.openSlots != nil || load.notAcceptingUntil != nil {
            self.capacity = CapacityView(
                openSlots: load.openSlots, freeSlots: load.freeSlots, notAcceptingUntil: load.notAcceptingUntil,
                available: load.unavailability(now: now, staleAfterHours: nil) == nil)
        }
        self.id = listing.id
        self.hub = Hub(id: listing.tenantID, name: hubName)
        self.name = listing.name
        self.description = listing.description
        self.services = listing.services
        self.serviceAreas = listing.serviceAreas
        self.categories = listing.categories
        self.eligibility = listing.eligibility
        self.contact = ContactBody(listing.contact)
        self.acceptingReferrals = listing.acceptingReferrals
    }
}

public struct DirectoryResponse: ResponseEncodable, Sendable {
    public var items: [DirectoryEntryResponse]
}

public struct ImportResponse: ResponseEncodable, Sendable {
    public var dryRun: Bool
    public var imported: Int
    public var items: [ListingResponse]
}

extension HSDS.Document: ResponseEncodable {}

extension Role {
    /// Parses wire role names; an unknown one is a validation error naming its index.
    static func parse(_ names: [String], field: String = "roles") throws(DomainError) -> Set<Role> {
        var roles = Set<Role>()
        for (index, name) in names.enumerated() {
            guard let role = Role(rawValue: name) else {
                throw .invalid(
                    "\(field)[\(index)]",
                    "unknown role '\(name)'; one of \(Role.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            roles.insert(role)
        }
        return roles
    }
}
