import Foundation
import PostgresNIO
import Hummingbird
import HubNetCore
import HubNetPostgres

/// Automatic distribution: a sourcing company's leads to partner companies (001), a hub's to other
/// hubs' listings (000, through its `refer_external` action): the rule (round robin, weighted,
/// shared pool), declared capacity, who is stale, and routing one lead by the rule, explained in
/// its history.
struct DistributionController {
    let database: Database
    let distribution: PostgresDistributionRepository
    let referrals: PostgresReferralRepository
    let leads: PostgresLeadRepository
    let listings: PostgresListingRepository
    let commands: LeadCommands
    let links: EmailActionLinks
    let now: @Sendable () -> Date

    /// Acceptance rates count referrals of this window.
    static let window: TimeInterval = 90 * 86_400

    func addRoutes(to group: RouterGroup<AppRequestContext>) {
        group.get("distribution-rule", use: rule)
        group.put("distribution-rule", use: saveRule)
        group.get("distribution/partners", use: partners)
        group.get("tenant/capacity", use: capacity)
        group.put("tenant/capacity", use: saveCapacity)
        group.post("leads/{id}/route", use: route)
    }

    struct RuleBody: ResponseEncodable, Decodable {
        var mode: String
        var pool: [Tenant.ID]?
        /// A hub's rule: other hubs' published listings that accept referrals, in order.
        var listings: [Listing.ID]?
        var staleAfterHours: Int?
        /// The SLA: one of the two, or neither (no pullback).
        var slaHours: Int?
        var slaBusinessDays: Int?
        var maxHops: Int?
        var timeZone: String?

        init(_ rule: DistributionRule) {
            mode = rule.mode.rawValue
            pool = rule.pool
            listings = rule.listings
            staleAfterHours = rule.staleAfterHours
            if case .hours(let hours) = rule.sla { slaHours = hours }
            if case .businessDays(let days) = rule.sla { slaBusinessDays = days }
            maxHops = rule.maxHops
            timeZone = rule.timeZone
        }

        func rule() throws(DomainError) -> DistributionRule {
            guard let mode = DistributionRule.Mode(rawValue: mode) else {
                throw .invalid("mode", "must be one of \(DistributionRule.Mode.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            if slaHours != nil, slaBusinessDays != nil { throw .invalid("sla_hours", "give sla_hours or sla_business_days, not both") }
            let sla: DistributionRule.SLA? = slaHours.map { .hours($0) } ?? slaBusinessDays.map { .businessDays($0) }
            var rule = DistributionRule(
                mode: mode, pool: pool ?? [], staleAfterHours: staleAfterHours, sla: sla, maxHops: maxHops ?? 3, timeZone: timeZone ?? "UTC")
            rule.listings = listings ?? []
            try rule.validate()
            return rule
        }
    }

    @Sendable func rule(_ request: Request, context: AppRequestContext) async throws -> RuleBody {
        let caller = try context.requireUser()
        let (rule, _) = try await database.withTenant(caller.tenantID) { transaction in
            try await distribution.rule(in: transaction)
        }
        return RuleBody(rule)
    }

    /// Replaces the rule (admins): a sourcing company's pool must be partner companies, a hub's
    /// listings other hubs' published listings that accept referrals.
    @Sendable func saveRule(_ request: Request, context: AppRequestContext) async throws -> RuleBody {
        let caller = try context.requireUser()
        try Self.requireRouting(caller)
        guard caller.has(.admin) else { throw DomainError.forbidden("only an admin may change the distribution rule") }
        let rule = try await request.decodeJSON(RuleBody.self, context: context).rule()
        if caller.tenantKind == .hub {
            guard rule.pool.isEmpty else { throw DomainError.invalid("pool", "a hub routes to listings: give listings") }
            let found = try await published(rule.listings)
            if let stranger = rule.listings.firstIndex(where: { found[$0].map { !$0.acceptingReferrals || $0.tenantID == caller.tenantID } ?? true }) {
                throw DomainError.invalid("listings[\(stranger)]", "is not another hub's published listing that accepts referrals")
            }
        } else if !rule.listings.isEmpty {
            throw DomainError.invalid("listings", "a sourcing company routes to partner companies: give pool")
        }
        try await database.withTenant(caller.tenantID) { transaction in
            let loads = try await distribution.loads(of: rule.pool, since: now(), on: transaction.connection)
            if let stranger = rule.pool.firstIndex(where: { loads[$0] == nil }) {
                throw DomainError.invalid("pool[\(stranger)]", "is not a partner company")
            }
            try await distribution.save(rule, now: now(), in: transaction)
        }
        return RuleBody(rule)
    }

    struct PartnerList: ResponseEncodable {
        struct Item: Encodable {
            var partnerId: Tenant.ID
            /// For a hub's rule: the listing (`partner_id` is its hub).
            var listingId: Listing.ID?
            var name: String
            var openSlots: Int?
            var freeSlots: Int?
            var notAcceptingUntil: Date?
            var openAccepted: Int
            var acceptanceRate: Double
            var lastSeenAt: Date?
            var available: Bool
            /// Why routing skips it now (no capacity, not accepting, stale).
            var unavailableReason: String?
        }
        var items: [Item]
    }

    /// The pool's partners as routing sees them now: capacity, load, and who is stale.
    @Sendable func partners(_ request: Request, context: AppRequestContext) async throws -> PartnerList {
        let caller = try context.requireUser()
        let now = now()
        let (rule, _) = try await database.withTenant(caller.tenantID) { transaction in
            try await distribution.rule(in: transaction)
        }
        let found = try await published(rule.listings)
        let (loads, byListing) = try await database.withTenant(caller.tenantID) {
            transaction -> ([Tenant.ID: PartnerLoad], [Listing.ID: PartnerLoad]) in
            let partners = try await distribution.loads(of: rule.pool, since: now - Self.window, on: transaction.connection)
            let listed = try await self.listingLoads(rule.listings, found: found, since: now - Self.window, on: transaction.connection)
            return (partners, listed)
        }
        func item(_ load: PartnerLoad, listing: Listing.ID?) -> PartnerList.Item {
            let reason = load.unavailability(now: now, staleAfterHours: rule.staleAfterHours)
            return .init(
                partnerId: load.tenantID, listingId: listing, name: load.name, openSlots: load.openSlots, freeSlots: load.freeSlots,
                notAcceptingUntil: load.notAcceptingUntil, openAccepted: load.openAccepted, acceptanceRate: load.acceptanceRate,
                lastSeenAt: load.lastSeen, available: reason == nil, unavailableReason: reason)
        }
        return PartnerList(
            items: rule.pool.compactMap { loads[$0] }.map { item($0, listing: nil) }
                + rule.listings.compactMap { id in byListing[id].map { item($0, listing: id) } })
    }

    struct CapacityBody: ResponseEncodable, Decodable {
        /// Open slots (accepted leads not yet closed each take one); `null` for no limit.
        var openSlots: Int?
        var notAcceptingUntil: Date?
    }

    @Sendable func capacity(_ request: Request, context: AppRequestContext) async throws -> CapacityBody {
        let caller = try context.requireUser()
        let (slots, until) = try await database.withTenant(caller.tenantID) { transaction in
            try await distribution.capacity(in: transaction)
        }
        return CapacityBody(openSlots: slots, notAcceptingUntil: until)
    }

    @Sendable func saveCapacity(_ request: Request, context: AppRequestContext) async throws -> CapacityBody {
        let caller = try context.requireUser()
        guard caller.has(.admin) else { throw DomainError.forbidden("only an admin may declare the organisation's capacity") }
        let body = try await request.decodeJSON(CapacityBody.self, context: context)
        if let slots = body.openSlots, !(0...1_000_000).contains(slots) {
            throw DomainError.invalid("open_slots", "must be between 0 and 1000000, or null for no limit")
        }
        if let until = body.notAcceptingUntil { _ = try Timestamp.check(until, field: "not_accepting_until") }
        try await database.withTenant(caller.tenantID) { transaction in
            try await distribution.setCapacity(
                openSlots: body.openSlots, notAcceptingUntil: body.notAcceptingUntil, in: transaction)
        }
        return body
    }

    struct RouteResponse: ResponseEncodable {
        struct Skipped: Encodable {
            var partnerId: Tenant.ID
            var reason: String
        }
        var referral: ReferralResponse
        /// Every copy a shared pool offered (one for the other modes).
        var referrals: [ReferralResponse]
        var explanation: String
        var skipped: [Skipped]
    }

    /// Routes one lead by the rule: the chosen partner receives it as if picked by hand, and the
    /// lead's history says why. Concurrent routings take turns (the rule's row is locked).
    @Sendable func route(_ request: Request, context: AppRequestContext) async throws -> Created<RouteResponse> {
        let caller = try context.requireUser()
        try TenantPolicy.require(caller, .workLeads)
        try Self.requireRouting(caller)
        let id = try context.id("id", of: Lead.self, "lead")
        let now = now()
        if caller.tenantKind == .hub { return Created(body: try await routeToListing(id, caller: caller, now: now)) }
        let (made, explanation, skipped) = try await database.withTenant(caller.tenantID) { transaction -> ([Referral], String, [Distribution.Skip]) in
            guard let lead = try await leads.get(id, lock: true, in: transaction),
                VisibilityPolicy.sees(lead, user: caller.userID, roles: caller.roles)
            else { throw DomainError.notFound("lead") }
            let (rule, turn) = try await distribution.rule(lock: true, in: transaction)
            guard rule.mode != .manual else {
                throw DomainError.conflict("distribution_manual", "the distribution rule is manual: pick a partner (POST /v1/leads/{id}/referrals)")
            }
            let loads = try await distribution.loads(of: rule.pool, since: now - Self.window, on: transaction.connection)
            if rule.mode == .sharedPool {
                let (offers, skipped) = Distribution.offers(rule, loads: loads, now: now)
                guard !offers.isEmpty else { throw Self.noPartner(skipped, loads: loads) }
                try await referrals.clearForReferral(lead.id, now: now, in: transaction)
                let pool = try await referrals.openPool(for: lead.id, now: now, in: transaction)
                var made: [Referral] = []
                for offer in offers {
                    made.append(
                        try await referrals.refer(
                            lead, to: .init(tenant: offer.tenantID, kind: .partner, listing: nil), by: caller.userID, links: links, now: now,
                            pool: pool, in: transaction))
                }
                let explanation =
                    "offered to \(offers.count) partner\(offers.count == 1 ? "" : "s") of the shared pool "
                    + "(\(offers.map(\.name).joined(separator: ", "))): the first to accept wins"
                    + (skipped.isEmpty ? "" : "; skipped \(skipped.count)")
                try await leads.recordEvent("route", on: lead, actor: caller.userID, reason: explanation, at: now, in: transaction)
                return (made, explanation, skipped)
            }
            let (choice, skipped) = Distribution.choose(rule, loads: loads, turn: turn, now: now)
            guard let choice else { throw Self.noPartner(skipped, loads: loads) }
            let referral = try await referrals.refer(
                lead, to: .init(tenant: choice.partner, kind: .partner, listing: nil), by: caller.userID, links: links, now: now,
                pullbackAt: rule.pullbackDeadline(from: now), in: transaction)
            try await leads.recordEvent("route", on: lead, actor: caller.userID, reason: choice.explanation, at: now, in: transaction)
            try await distribution.setTurn(choice.nextTurn % max(rule.pool.count, 1), in: transaction)
            return ([referral], choice.explanation, skipped)
        }
        guard let first = made.first else { throw DomainError.notFound("referral") }
        return Created(
            body: RouteResponse(
                referral: ReferralResponse(first), referrals: made.map(ReferralResponse.init), explanation: explanation,
                skipped: skipped.map { .init(partnerId: $0.partner, reason: $0.reason) }))
    }

    static func noPartner(_ skipped: [Distribution.Skip], loads: [Tenant.ID: PartnerLoad]) -> DomainError {
        DomainError.conflict(
            "no_partner_available",
            "no partner of the pool can take a lead now: "
                + skipped.map { "\(loads[$0.partner]?.name ?? "\($0.partner)"): \($0.reason)" }.joined(separator: "; "))
    }

    /// A hub's routing: the rule picks another hub's listing, and the lead goes there through the
    /// hub workflow's own `refer_external` action (so 000's rules decide whether it may).
    func routeToListing(_ id: Lead.ID, caller: AuthenticatedUser, now: Date) async throws -> RouteResponse {
        let (configured, _) = try await database.withTenant(caller.tenantID) { transaction in
            try await distribution.rule(in: transaction)
        }
        let found = try await published(configured.listings)
        let (referral, explanation, skipped) = try await database.withTenant(caller.tenantID) { transaction -> (Referral, String, [Distribution.Skip]) in
            guard let lead = try await leads.get(id, lock: true, in: transaction),
                VisibilityPolicy.sees(lead, user: caller.userID, roles: caller.roles)
            else { throw DomainError.notFound("lead") }
            let (rule, turn) = try await distribution.rule(lock: true, in: transaction)
            guard rule.mode != .manual else {
                throw DomainError.conflict("distribution_manual", "the distribution rule is manual: pick a listing (refer_external)")
            }
            let loads = try await listingLoads(rule.listings, found: found, since: now - Self.window, on: transaction.connection)
            let (choice, skipped) = Distribution.chooseListing(rule, loads: loads, turn: turn, now: now)
            guard let choice else {
                throw DomainError.conflict(
                    "no_partner_available",
                    "no listing of the rule can take a lead now: "
                        + skipped.map { "\(loads[Listing.ID($0.member)]?.name ?? "\($0.member)"): \($0.reason)" }.joined(separator: "; "))
            }
            try await leads.recordEvent("route", on: lead, actor: caller.userID, reason: choice.explanation, at: now, in: transaction)
            _ = try await commands.act(
                LeadAction("refer_external", .init(listingId: Listing.ID(choice.member))), on: id, caller: caller, now: now, in: transaction)
            try await distribution.setTurn(choice.nextTurn % max(rule.listings.count, 1), in: transaction)
            guard let referral = try await referrals.current(for: id, in: transaction) else {
                throw DomainError.notFound("referral")
            }
            return (referral, choice.explanation, skipped)
        }
        return RouteResponse(
            referral: ReferralResponse(referral), referrals: [ReferralResponse(referral)], explanation: explanation,
            skipped: skipped.map { .init(partnerId: $0.partner, reason: $0.reason) })
    }

    /// Other hubs' published listings by id (the directory's view).
    func published(_ ids: [Listing.ID]) async throws -> [Listing.ID: Listing] {
        guard !ids.isEmpty else { return [:] }
        return try await database.withDirectory { connection in
            var found: [Listing.ID: Listing] = [:]
            for id in ids { if let listing = try await listings.published(id, on: connection) { found[id] = listing } }
            return found
        }
    }

    /// Each listing weighs as its hub's load, named "listing at hub"; a listing no longer
    /// published or accepting referrals has none (it is skipped).
    func listingLoads(_ ids: [Listing.ID], found: [Listing.ID: Listing], since: Date, on connection: PostgresConnection) async throws
        -> [Listing.ID: PartnerLoad]
    {
        let hubs = Array(Set(found.values.map(\.tenantID)))
        let hubLoads = try await distribution.loads(of: hubs, kinds: [.hub], since: since, on: connection)
        var loads: [Listing.ID: PartnerLoad] = [:]
        for id in ids {
            guard let listing = found[id], listing.acceptingReferrals, var load = hubLoads[listing.tenantID] else { continue }
            load.name = "\(listing.name) at \(load.name)"
            loads[id] = load
        }
        return loads
    }

    /// Sourcing companies route to partner companies, hubs to listings; partner companies receive.
    static func requireRouting(_ caller: AuthenticatedUser) throws(DomainError) {
        guard caller.tenantKind != .partnerCompany else {
            throw .forbidden("distribution rules are for sourcing companies and hubs", code: "tenant_kind_not_allowed")
        }
    }
}
