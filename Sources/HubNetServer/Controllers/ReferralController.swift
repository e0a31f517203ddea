import Foundation
import Hummingbird
import HubNetCore
import HubNetPostgres

/// Referrals as the source sees them: outgoing referrals with the target's mirrored progress and
/// history, never a button, never the target's notes; and referrals to partner companies.
struct ReferralController {
    let database: Database
    let referrals: PostgresReferralRepository
    let leads: PostgresLeadRepository
    let tenants: PostgresTenantRepository
    let listings: PostgresListingRepository
    let links: EmailActionLinks
    let commands: LeadCommands
    let now: @Sendable () -> Date

    func addRoutes(to group: RouterGroup<AppRequestContext>) {
        group.post("leads/{id}/referrals", use: refer)
        group.get("referrals", use: list)
        group.get("referrals/{id}", use: get)
        group.get("referrals/{id}/history", use: history)
        group.post("referrals/{id}/actions/{action}", use: act)
        group.get("reports/referrals", use: outcomes)
        group.get("leads/{id}/routing-suggestions", use: suggestions)
    }

    struct ReferRequest: Decodable, Sendable {
        var partnerID: Tenant.ID?
        /// When the partner's copy expires unanswered (001: the expiration date can be set by API).
        var expiresAt: Date?
        enum CodingKeys: String, CodingKey { case partnerID = "partnerId", expiresAt }
    }

    /// Distributes a lead to a partner company (001). Referrals to listings go through the lead's
    /// `refer_external` action, whose availability the hub workflow rules (000).
    @Sendable func refer(_ request: Request, context: AppRequestContext) async throws -> Created<ReferralResponse> {
        let caller = try context.requireUser()
        try TenantPolicy.require(caller, .workLeads)
        let id = try context.id("id", of: Lead.self, "lead")
        let body = try await request.decodeJSON(ReferRequest.self, context: context)
        guard let partnerID = body.partnerID else { throw DomainError.invalid("partner_id", "name the partner company") }
        // The intent a device's `referral.create` carries, carried out by the same code.
        let request = ReferralRequest(partnerId: partnerID, expiresAt: body.expiresAt)
        let now = now()
        let referral = try await database.withTenant(caller.tenantID) { transaction in
            try await commands.refer(id, request, caller: caller, now: now, in: transaction)
        }
        return Created(body: ReferralResponse(referral))
    }

    @Sendable func list(_ request: Request, context: AppRequestContext) async throws -> PageResponse<ReferralResponse> {
        let caller = try context.requireUser()
        let page = try request.pageRequest()
        let result = try await database.withTenant(caller.tenantID) { transaction in
            try await referrals.list(page: page, in: transaction)
        }
        return PageResponse(result) { ReferralResponse($0) }
    }

    @Sendable func get(_ request: Request, context: AppRequestContext) async throws -> ReferralResponse {
        let (caller, id) = try referralID(context)
        guard let referral = try await database.withTenant(caller.tenantID, { transaction in
            try await referrals.get(id, in: transaction)
        }) else { throw DomainError.notFound("referral") }
        return ReferralResponse(referral)
    }

    /// The target lead's history; the source may follow it (but not the target's notes).
    @Sendable func history(_ request: Request, context: AppRequestContext) async throws -> LeadHistoryResponse {
        let (caller, id) = try referralID(context)
        precondition(VisibilityPolicy.canSee(.history, as: .source))
        let entries = try await database.withTenant(caller.tenantID) { transaction in
            guard let referral = try await referrals.get(id, in: transaction) else {
                throw DomainError.notFound("referral")
            }
            return try await referrals.targetHistory(of: referral, in: transaction)
        }
        return LeadHistoryResponse(entries)
    }

    /// Any action by the source is refused: it sees, it never acts.
    @Sendable func act(_ request: Request, context: AppRequestContext) async throws -> ReferralResponse {
        let (caller, id) = try referralID(context)
        guard try await database.withTenant(caller.tenantID, { transaction in
            try await referrals.get(id, in: transaction)
        }) != nil else { throw DomainError.notFound("referral") }
        throw VisibilityPolicy.sourceRefusal
    }

    struct OutcomeReport: ResponseEncodable {
        var total: Int
        /// Referrals the target acted on at least once.
        var actedOn: Int
        var byLifeCycle: [String: Int]
        var accepted: Int
        var declined: Int
        var converted: Int
        var expired: Int
        /// Median seconds from referral to the target's first action.
        var medianSecondsToFirstAction: Int?
    }

    /// How the caller's referrals fared: how many were acted on, how fast, with what result.
    @Sendable func outcomes(_ request: Request, context: AppRequestContext) async throws -> OutcomeReport {
        let caller = try context.requireUser()
        let all = try await database.withTenant(caller.tenantID) { transaction in
            try await referrals.all(in: transaction)
        }
        let delays = all.compactMap { referral in referral.firstActionAt.map { $0.timeIntervalSince(referral.createdAt) } }.sorted()
        var byLifeCycle: [String: Int] = [:]
        for referral in all { byLifeCycle[referral.lifeCycle.rawValue, default: 0] += 1 }
        return OutcomeReport(
            total: all.count, actedOn: all.filter { $0.firstActionAt != nil }.count, byLifeCycle: byLifeCycle,
            accepted: all.filter { $0.acceptedAt != nil }.count, declined: all.filter { $0.declinedAt != nil }.count,
            converted: all.filter { $0.lifeCycle == .won }.count, expired: all.filter { $0.lifeCycle == .expired }.count,
            medianSecondsToFirstAction: delays.isEmpty ? nil : Int(delays[delays.count / 2]))
    }

    struct SuggestionList: ResponseEncodable {
        struct Item: Encodable {
            var listing: DirectoryEntryResponse
            var score: Double
            var matchesServiceArea: Bool
            var matchesCategory: Bool
            var acceptanceRate: Double
            var referralsReceived: Int
            var openOverdue: Int
        }
        var items: [Item]
    }

    /// Listings of other hubs to refer this lead to, best first (see `Routing.rank`).
    @Sendable func suggestions(_ request: Request, context: AppRequestContext) async throws -> SuggestionList {
        let caller = try context.requireUser()
        let id = try context.id("id", of: Lead.self, "lead")
        var limit = 10
        if let text = request.uri.queryParameters.get("limit") {
            guard let number = Int(text), (1...50).contains(number) else { throw DomainError.invalid("limit", "must be between 1 and 50") }
            limit = number
        }
        return try await suggestions(for: id, caller: caller, limit: limit)
    }

    /// Ranked referral targets for a lead the caller sees, as the API and the web console show them.
    func suggestions(for id: Lead.ID, caller: AuthenticatedUser, limit: Int) async throws -> SuggestionList {
        guard let lead = try await database.withTenant(caller.tenantID, { transaction in
            try await leads.visible(id, to: caller, in: transaction)
        }) else { throw DomainError.notFound("lead") }
        let now = now()
        let (candidates, records, loads) = try await database.withDirectory { connection in
            let candidates = try await listings.referralTargets(excluding: caller.tenantID, on: connection)
            let hubs = Array(Set(candidates.map(\.tenantID)))
            let records = try await listings.routingRecords(for: hubs, since: now - 90 * 86_400, now: now, on: connection)
            let loads = try await PostgresDistributionRepository(logger: database.logger).loads(of: hubs, kinds: [.hub], since: now, on: connection)
            return (candidates, records, loads)
        }
        var hubNames: [Tenant.ID: String] = [:]
        for hub in Set(candidates.map(\.tenantID)) { hubNames[hub] = try await tenants.get(hub)?.name }
        // A hub without a free slot, or not accepting now, is not suggested.
        let available = candidates.filter { loads[$0.tenantID]?.unavailability(now: now, staleAfterHours: nil) == nil }
        let ranked = Routing.rank(available, for: lead.details, records: records).prefix(limit)
        return SuggestionList(
            items: ranked.map {
                .init(
                    listing: DirectoryEntryResponse(
                        $0.listing, hubName: hubNames[$0.listing.tenantID] ?? "", load: loads[$0.listing.tenantID], now: now), score: $0.score,
                    matchesServiceArea: $0.matchesArea, matchesCategory: $0.matchesCategory,
                    acceptanceRate: $0.record.acceptanceRate, referralsReceived: $0.record.received,
                    openOverdue: $0.record.openOverdue)
            })
    }

    private func referralID(_ context: AppRequestContext) throws -> (AuthenticatedUser, Referral.ID) {
        let caller = try context.requireUser()
        return (caller, try context.id("id", of: Referral.self, "referral"))
    }
}

public struct ReferralResponse: ResponseEncodable, Sendable {
    public var id: Referral.ID
    public var sourceLeadID: Lead.ID?
    public var targetTenantID: Tenant.ID
    public var targetLeadID: Lead.ID
    public var targetKind: String
    public var targetListingID: Listing.ID?
    public var createdBy: User.ID
    public var createdAt: Date
    public var status: String
    public var statusName: String
    public var lifeCycle: String
    public var stage: String?
    public var firstActionAt: Date?
    public var lastActionAt: Date?
    public var acceptedAt: Date?
    public var declinedAt: Date?
    public var completedAt: Date?
    public var reason: String?
    public var withdrawnAt: Date?
    /// Always empty: the source follows, it never acts.
    public var availableActions: [AvailableActionResponse]

    enum CodingKeys: String, CodingKey {
        case id, sourceLeadID = "sourceLeadId", targetTenantID = "targetTenantId", targetLeadID = "targetLeadId", targetKind,
            targetListingID = "targetListingId", createdBy, createdAt, status, statusName, lifeCycle, stage, firstActionAt,
            lastActionAt, acceptedAt, declinedAt, completedAt, reason, withdrawnAt, availableActions
    }

    init(_ referral: Referral) {
        self.id = referral.id
        self.sourceLeadID = referral.sourceLeadID
        self.targetTenantID = referral.targetTenantID
        self.targetLeadID = referral.targetLeadID
        self.targetKind = referral.targetKind.rawValue
        self.targetListingID = referral.targetListingID
        self.createdBy = referral.createdBy
        self.createdAt = referral.createdAt
        self.status = referral.status
        self.statusName = referral.statusName
        self.lifeCycle = referral.lifeCycle.rawValue
        self.stage = referral.stage
        self.firstActionAt = referral.firstActionAt
        self.lastActionAt = referral.lastActionAt
        self.acceptedAt = referral.acceptedAt
        self.declinedAt = referral.declinedAt
        self.completedAt = referral.completedAt
        self.reason = referral.reason
        self.withdrawnAt = referral.withdrawnAt
        self.availableActions = []
    }
}
