import Foundation

/// Ranks listings as targets for a lead's referral: where they serve, what they cover, and how
/// their hub has been answering referrals lately.
public enum Routing {
    /// How a hub has been answering referrals (received and accepted in the recent window) and how
    /// many of its open leads are overdue now.
    public struct HubRecord: Sendable, Equatable {
        public var received: Int
        public var accepted: Int
        public var openOverdue: Int

        public init(received: Int, accepted: Int, openOverdue: Int) {
            self.received = received
            self.accepted = accepted
            self.openOverdue = openOverdue
        }

        /// Accepted over received; a hub without history counts as even odds.
        public var acceptanceRate: Double { received == 0 ? 0.5 : Double(accepted) / Double(received) }
    }

    public struct Suggestion: Sendable, Equatable {
        public var listing: Listing
        public var score: Double
        public var matchesArea: Bool
        public var matchesCategory: Bool
        public var record: HubRecord
    }

    /// Listings that accept referrals, best first: a service-area match weighs 3, a category match
    /// 2, the hub's acceptance rate up to 2, and each overdue open lead (up to ten) takes off 0.1.
    public static func rank(_ listings: [Listing], for lead: LeadDetails, records: [Tenant.ID: HubRecord]) -> [Suggestion] {
        let places = Set([lead.city, lead.region].compactMap { $0?.lowercased() })
        let category = lead.category?.lowercased()
        return listings.filter(\.acceptingReferrals).map { listing in
            let areas = Set(listing.serviceAreas.map { $0.lowercased() })
            let matchesArea = !places.isDisjoint(with: areas)
            let matchesCategory = category.map { wanted in listing.categories.contains { $0.lowercased() == wanted } } ?? false
            let record = records[listing.tenantID] ?? HubRecord(received: 0, accepted: 0, openOverdue: 0)
            let score = (matchesArea ? 3 : 0) + (matchesCategory ? 2 : 0) + 2 * record.acceptanceRate
                - 0.1 * Double(min(record.openOverdue, 10))
            return Suggestion(listing: listing, score: score, matchesArea: matchesArea, matchesCategory: matchesCategory, record: record)
        }
        .sorted { ($0.score, $1.listing.name) > ($1.score, $0.listing.name) }
    }
}
