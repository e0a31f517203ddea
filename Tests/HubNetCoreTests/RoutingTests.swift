import Foundation
import HubNetCore
import Testing

@Suite("Routing suggestions")
struct RoutingTests {
    func listing(_ name: String, areas: [String], categories: [String] = [], accepting: Bool = true) -> Listing {
        Listing(
            id: .init(), tenantID: .init(), name: name, description: nil, services: [], serviceAreas: areas, categories: categories,
            eligibility: nil, contact: .init(), acceptingReferrals: accepting, published: true, version: 1, createdAt: Date(),
            updatedAt: Date())
    }

    @Test("service area counts most, then category, then the hub's acceptance rate; overdue load and closed doors count against")
    func ranking() {
        let lead = LeadDetails(name: "L", email: "l@x.test", city: "Oakland", category: "Grants")
        let both = listing("Both", areas: ["oakland"], categories: ["grants"])
        let area = listing("Area", areas: ["Oakland"])
        let category = listing("Category", areas: ["Fresno"], categories: ["Grants"])
        let closed = listing("Closed", areas: ["Oakland"], categories: ["Grants"], accepting: false)
        let busy = listing("Busy", areas: ["Oakland"], categories: ["Grants"])
        let records = [
            busy.tenantID: Routing.HubRecord(received: 10, accepted: 10, openOverdue: 40),
            both.tenantID: Routing.HubRecord(received: 4, accepted: 4, openOverdue: 0),
        ]
        let ranked = Routing.rank([category, area, closed, busy, both], for: lead, records: records)
        #expect(ranked.map(\.listing.name) == ["Both", "Busy", "Area", "Category"])
        #expect(ranked.first?.matchesArea == true && ranked.first?.matchesCategory == true)
    }
}
