import Foundation
import HubNetCore
import Testing

@Suite("HSDS exchange")
struct HSDSTests {
    let listing = Listing(
        id: .init(), tenantID: .init(), name: "Startup Advising", description: "One-to-one advising",
        services: ["business plan review"], serviceAreas: ["Alameda County", "Marin"], categories: ["startups"],
        eligibility: "California small businesses",
        contact: ListingContact(name: "Front desk", email: "desk@hub.example", phone: "+1 510 555 0100", url: "https://hub.example"),
        acceptingReferrals: true, published: true, version: 1, createdAt: Date(), updatedAt: Date())

    @Test("a listing survives its round trip through an HSDS service")
    func roundTrip() throws {
        let service = HSDS.service(listing, hubName: "Bay Hub")
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        let decoded = try decoder.decode(HSDS.Service.self, from: encoder.encode(service))
        #expect(try HSDS.draft(decoded, index: 0) == ListingDraft(listing))
    }

    @Test("the export uses HSDS field names")
    func wireNames() throws {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        let json = String(decoding: try encoder.encode(HSDS.service(listing, hubName: "Bay Hub")), as: UTF8.self)
        #expect(json.contains("\"eligibility_description\""))
        #expect(json.contains("\"service_areas\""))
        #expect(json.contains("\"taxonomy_term\""))
    }

    @Test("an inactive service imports unpublished, and foreign taxonomy terms become categories")
    func importMapping() throws {
        let service = HSDS.Service(
            name: "Legal clinic", status: "inactive", serviceAreas: [.init(name: "Oakland")],
            attributes: [.init(taxonomyTerm: .init(term: "Legal", vocabulary: "open-eligibility"))])
        let draft = try HSDS.draft(service, index: 0)
        #expect(!draft.published)
        #expect(!draft.acceptingReferrals)
        #expect(draft.categories == ["Legal"])
    }

    @Test("an import error names the service it is in")
    func errorsNameTheService() {
        let service = HSDS.Service(name: "No area")
        #expect { try HSDS.draft(service, index: 3) } throws: {
            ($0 as? DomainError)?.field == "services[3].service_areas"
        }
    }
}
