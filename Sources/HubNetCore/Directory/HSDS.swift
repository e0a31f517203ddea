/// Open Referral HSDS 3.0 services, the exchange format of resource listings.
///
/// A listing maps onto one HSDS `service`: categories and offered services travel as taxonomy
/// attributes in HubNet's vocabularies, the accepting-referrals flag as an attribute of its own.
public enum HSDS {
    public static let categoryVocabulary = "hubnet-category"
    public static let serviceVocabulary = "hubnet-service"
    public static let referralVocabulary = "hubnet-referral"
    public static let acceptingReferralsTerm = "accepting-referrals"
    /// The most services one import may carry.
    public static let maximumImport = 1000

    public struct Document: Codable, Sendable, Equatable {
        public var services: [Service]
        public init(services: [Service]) { self.services = services }
    }

    public struct Service: Codable, Sendable, Equatable {
        public var id: String?
        public var name: String
        public var description: String?
        public var url: String?
        public var email: String?
        /// `active` listings are published; `inactive` ones are not.
        public var status: String?
        public var eligibilityDescription: String?
        public var organization: Organization?
        public var serviceAreas: [ServiceArea]?
        public var phones: [Phone]?
        public var contacts: [Contact]?
        public var attributes: [Attribute]?

        public init(
            id: String? = nil, name: String, description: String? = nil, url: String? = nil, email: String? = nil,
            status: String? = nil, eligibilityDescription: String? = nil, organization: Organization? = nil,
            serviceAreas: [ServiceArea]? = nil, phones: [Phone]? = nil, contacts: [Contact]? = nil,
            attributes: [Attribute]? = nil
        ) {
            self.id = id
            self.name = name
            self.description = description
            self.url = url
            self.email = email
            self.status = status
            self.eligibilityDescription = eligibilityDescription
            self.organization = organization
            self.serviceAreas = serviceAreas
            self.phones = phones
            self.contacts = contacts
            self.attributes = attributes
        }
    }

    public struct Organization: Codable, Sendable, Equatable {
        public var name: String
        public init(name: String) { self.name = name }
    }

    public struct ServiceArea: Codable, Sendable, Equatable {
        public var name: String?
        public var description: String?
        public init(name: String?, description: String? = nil) {
            self.name = name
            self.description = description
        }
    }

    public struct Phone: Codable, Sendable, Equatable {
        public var number: String
        public init(number: String) { self.number = number }
    }

    public struct Contact: Codable, Sendable, Equatable {
        public var name: String?
        public var email: String?
        public init(name: String?, email: String? = nil) {
            self.name = name
            self.email = email
        }
    }

    public struct Attribute: Codable, Sendable, Equatable {
        public var taxonomyTerm: TaxonomyTerm
        public init(taxonomyTerm: TaxonomyTerm) { self.taxonomyTerm = taxonomyTerm }
    }

    public struct TaxonomyTerm: Codable, Sendable, Equatable {
        public var term: String
        public var vocabulary: String?
        public init(term: String, vocabulary: String?) {
            self.term = term
            self.vocabulary = vocabulary
        }
    }

    /// The HSDS form of a listing.
    public static func service(_ listing: Listing, hubName: String) -> Service {
        var attributes = listing.categories.map { Attribute(taxonomyTerm: .init(term: $0, vocabulary: categoryVocabulary)) }
        attributes += listing.services.map { Attribute(taxonomyTerm: .init(term: $0, vocabulary: serviceVocabulary)) }
        if listing.acceptingReferrals {
            attributes.append(Attribute(taxonomyTerm: .init(term: acceptingReferralsTerm, vocabulary: referralVocabulary)))
        }
        return Service(
            id: listing.id.description, name: listing.name, description: listing.description, url: listing.contact.url,
            email: listing.contact.email, status: listing.published ? "active" : "inactive",
            eligibilityDescription: listing.eligibility, organization: Organization(name: hubName),
            serviceAreas: listing.serviceAreas.map { ServiceArea(name: $0) },
            phones: listing.contact.phone.map { [Phone(number: $0)] },
            contacts: listing.contact.name.map { [Contact(name: $0)] },
            attributes: attributes)
    }

    /// The listing draft an HSDS service describes, validated; errors name the field inside
    /// `services[index]`. Taxonomy terms outside HubNet's vocabularies count as categories.
    public static func draft(_ service: Service, index: Int) throws(DomainError) -> ListingDraft {
        let terms = (service.attributes ?? []).map(\.taxonomyTerm)
        let draft = ListingDraft(
            name: service.name,
            description: service.description,
            services: terms.filter { $0.vocabulary == serviceVocabulary }.map(\.term),
            serviceAreas: (service.serviceAreas ?? []).compactMap { $0.name ?? $0.description },
            categories: terms.filter { $0.vocabulary != serviceVocabulary && $0.vocabulary != referralVocabulary }
                .map(\.term),
            eligibility: service.eligibilityDescription,
            contact: ListingContact(
                name: service.contacts?.first?.name, email: service.email ?? service.contacts?.first?.email,
                phone: service.phones?.first?.number, url: service.url),
            acceptingReferrals: terms.contains { $0.vocabulary == referralVocabulary && $0.term == acceptingReferralsTerm },
            published: (service.status ?? "active") == "active")
        do {
            return try draft.validated()
        } catch {
            var error = error
            let field = "services[\(index)].\(error.field ?? "")"
            error.message = error.message.replacingOccurrences(of: "\(error.field ?? ""):", with: "\(field):")
            error.field = field
            throw error
        }
    }
}
