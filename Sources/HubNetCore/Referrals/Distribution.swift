import Foundation

/// How a sourcing company distributes its leads to partner companies (001) when it does not pick
/// one by hand: its rule, data like a workflow template, validated where it enters.
public struct DistributionRule: Sendable, Equatable {
    public enum Mode: String, Sendable, Codable, CaseIterable {
        /// A person picks the partner (`POST /v1/leads/{id}/referrals`); `route` refuses.
        case manual
        /// The pool in order, one lead each, skipping partners without capacity or gone stale.
        case roundRobin = "round_robin"
        /// The best-placed partner of the pool: free capacity and acceptance rate weigh 2 each;
        /// equal scores take turns in pool order.
        case weighted
        /// Offered to every available partner of the pool at once; the first to accept wins and
        /// the others lose their copies.
        case sharedPool = "shared_pool"
    }

    public var mode: Mode
    /// The partner companies, in order (a sourcing company's rule).
    public var pool: [Tenant.ID]
    /// Other hubs' listings, in order (a hub's rule: it refers through its `refer_external` action).
    public var listings: [Listing.ID] = []
    /// A partner none of whose people synced a device or acted on a lead for this long is skipped
    /// until they return; `nil` never skips.
    public var staleAfterHours: Int?

    /// How long a partner has to act on a routed lead before it is pulled back and routed on.
    public enum SLA: Sendable, Equatable {
        case hours(Int)
        /// Monday to Friday in the rule's time zone.
        case businessDays(Int)
    }

    public var sla: SLA?
    /// Routings of one lead at most (the first included); then it returns to the source.
    public var maxHops: Int
    /// The IANA zone business days are counted in.
    public var timeZone: String

    public static let maximumPool = 200
    public static let manual = DistributionRule(mode: .manual, pool: [], staleAfterHours: nil)

    public init(mode: Mode, pool: [Tenant.ID], staleAfterHours: Int?, sla: SLA? = nil, maxHops: Int = 3, timeZone: String = "UTC") {
        self.mode = mode
        self.pool = pool
        self.staleAfterHours = staleAfterHours
        self.sla = sla
        self.maxHops = maxHops
        self.timeZone = timeZone
    }

    /// When a lead routed at `start` is pulled back unless the partner acted; `nil` without an SLA.
    public func pullbackDeadline(from start: Date) -> Date? {
        switch sla {
        case nil: return nil
        case .hours(let hours): return start + Double(hours) * 3600
        case .businessDays(let days):
            let calendar = (try? BusinessCalendar(zone: timeZone)) ?? .utc
            return calendar.adding(businessDays: days, to: start)
        }
    }

    /// "48 hours", "2 business days".
    public var slaText: String {
        switch sla {
        case nil: "no deadline"
        case .hours(let hours): "\(hours) hours"
        case .businessDays(let days): "\(days) business day\(days == 1 ? "" : "s")"
        }
    }

    /// Refuses a rule that cannot distribute, naming the field.
    public func validate() throws(DomainError) {
        if mode != .manual, pool.isEmpty, listings.isEmpty {
            throw .invalid("pool", "must name at least one partner company (or, for a hub, listings) for \(mode.rawValue)")
        }
        if !pool.isEmpty, !listings.isEmpty { throw .invalid("listings", "a rule routes to partner companies or to listings, not both") }
        if mode == .sharedPool, !listings.isEmpty { throw .invalid("mode", "shared_pool is for partner companies") }
        if pool.count > Self.maximumPool { throw .invalid("pool", "must have at most \(Self.maximumPool) partners") }
        if listings.count > Self.maximumPool { throw .invalid("listings", "must have at most \(Self.maximumPool) listings") }
        if Set(pool).count != pool.count { throw .invalid("pool", "names a partner twice") }
        if Set(listings).count != listings.count { throw .invalid("listings", "names a listing twice") }
        if let hours = staleAfterHours, !(1...8_760).contains(hours) {
            throw .invalid("stale_after_hours", "must be between 1 and 8760 hours")
        }
        switch sla {
        case .hours(let hours) where !(1...8_760).contains(hours): throw .invalid("sla_hours", "must be between 1 and 8760")
        case .businessDays(let days) where !(1...60).contains(days): throw .invalid("sla_business_days", "must be between 1 and 60")
        default: break
        }
        if !(1...20).contains(maxHops) { throw .invalid("max_hops", "must be between 1 and 20") }
        _ = try BusinessCalendar(zone: timeZone)
    }
}

/// A partner company as routing sees it: its declared capacity, what it holds, how it answers,
/// when its people were last seen.
public struct PartnerLoad: Sendable, Equatable {
    public var tenantID: Tenant.ID
    public var name: String
    /// Declared open slots; `nil` is no limit.
    public var openSlots: Int?
    /// Declared "not accepting until".
    public var notAcceptingUntil: Date?
    /// Accepted leads not yet closed: each holds a slot.
    public var openAccepted: Int
    /// Referrals received and accepted in the recent window.
    public var received: Int
    public var accepted: Int
    /// The latest of a device sync, a console visit or an action on a lead by one of its people.
    public var lastSeen: Date?

    public init(
        tenantID: Tenant.ID, name: String, openSlots: Int?, notAcceptingUntil: Date?, openAccepted: Int, received: Int, accepted: Int,
        lastSeen: Date?
    ) {
        self.tenantID = tenantID
        self.name = name
        self.openSlots = openSlots
        self.notAcceptingUntil = notAcceptingUntil
        self.openAccepted = openAccepted
        self.received = received
        self.accepted = accepted
        self.lastSeen = lastSeen
    }

    /// Slots left, `nil` without a declared limit.
    public var freeSlots: Int? { openSlots.map { max(0, $0 - openAccepted) } }

    public var acceptanceRate: Double { received == 0 ? 0.5 : Double(accepted) / Double(received) }

    /// Why it cannot take a lead now, or `nil` when it can.
    public func unavailability(now: Date, staleAfterHours: Int?) -> String? {
        if let until = notAcceptingUntil, until > now { return "not accepting until \(Timestamp.rfc3339(until))" }
        if freeSlots == 0 { return "no free slot (\(openAccepted) of \(openSlots ?? 0) taken)" }
        if let hours = staleAfterHours {
            guard let seen = lastSeen else { return "stale: never seen" }
            if now.timeIntervalSince(seen) > Double(hours) * 3600 { return "stale: last seen \(Timestamp.rfc3339(seen))" }
        }
        return nil
    }

    var capacityText: String {
        guard let openSlots, let free = freeSlots else { return "no slot limit" }
        return "\(free) of \(openSlots) slots free"
    }
}

/// The automatic choice of a partner by a distribution rule: deterministic, explained.
public enum Distribution {
    public struct Choice: Sendable, Equatable {
        /// The organisation chosen (the partner, or the listing's hub).
        public var partner: Tenant.ID
        /// The pool member chosen: the partner's id, or the listing's for a hub's rule.
        public var member: UUID
        /// For the lead's history: "routed to Partner 7 by round robin: 3 of 5 slots free, acceptance 62%".
        public var explanation: String
        /// Where the rule's turn continues after this choice.
        public var nextTurn: Int
    }

    public struct Skip: Sendable, Equatable {
        /// The pool member passed over (a partner's id, or a listing's).
        public var member: UUID
        public var reason: String

        public init(member: UUID, reason: String) {
            self.member = member
            self.reason = reason
        }

        public init(partner: Tenant.ID, reason: String) { self.init(member: partner.rawValue, reason: reason) }

        /// The member as a partner company's id (a sourcing company's rule).
        public var partner: Tenant.ID { Tenant.ID(member) }
    }

    /// The partner for the next lead, or `nil` when none of the pool can take it (with why each was
    /// skipped). `turn` is the rule's position in its pool; `excluded` partners (tried before for
    /// this lead) are passed over.
    public static func choose(
        _ rule: DistributionRule, loads: [Tenant.ID: PartnerLoad], turn: Int, excluded: Set<Tenant.ID> = [], now: Date
    ) -> (Choice?, [Skip]) {
        choose(
            rule, members: rule.pool.map(\.rawValue), loads: { loads[Tenant.ID($0)] }, missing: "not a partner company", turn: turn,
            excluded: Set(excluded.map(\.rawValue)), now: now)
    }

    /// The listing for a hub's next lead: each listing weighs as its hub's load (capacity,
    /// acceptance, last seen); `loads` is keyed by listing id, with the load's name the listing's.
    public static func chooseListing(_ rule: DistributionRule, loads: [Listing.ID: PartnerLoad], turn: Int, now: Date) -> (Choice?, [Skip]) {
        choose(
            rule, members: rule.listings.map(\.rawValue), loads: { loads[Listing.ID($0)] },
            missing: "not a published listing that accepts referrals", turn: turn, excluded: [], now: now)
    }

    static func choose(
        _ rule: DistributionRule, members: [UUID], loads: (UUID) -> PartnerLoad?, missing: String, turn: Int, excluded: Set<UUID>, now: Date
    ) -> (Choice?, [Skip]) {
        guard rule.mode != .manual, !members.isEmpty else { return (nil, []) }
        let count = members.count
        let start = ((turn % count) + count) % count
        var skipped: [Skip] = []
        var eligible: [(index: Int, load: PartnerLoad)] = []
        for step in 0..<count {
            let index = (start + step) % count
            let member = members[index]
            guard let load = loads(member) else {
                skipped.append(Skip(member: member, reason: missing))
                continue
            }
            if excluded.contains(member) {
                skipped.append(Skip(member: member, reason: "tried before for this lead"))
            } else if let reason = load.unavailability(now: now, staleAfterHours: rule.staleAfterHours) {
                skipped.append(Skip(member: member, reason: reason))
            } else {
                eligible.append((index, load))
            }
        }
        let picked: (index: Int, load: PartnerLoad)?
        switch rule.mode {
        case .manual, .sharedPool: picked = nil
        case .roundRobin: picked = eligible.first
        case .weighted:
            // Highest score; among equals the first in turn order (eligible is in turn order),
            // so equally placed partners take turns.
            let best = eligible.map { score($0.load) }.max()
            picked = best.flatMap { top in eligible.first { score($0.load) == top } }
        }
        guard let picked else { return (nil, skipped) }
        let load = picked.load
        let how = rule.mode == .roundRobin ? "round robin" : "weighted choice (score \(String(format: "%.2f", score(load))))"
        let explanation =
            "routed to \(load.name) by \(how): \(load.capacityText), acceptance \(Int((load.acceptanceRate * 100).rounded()))%"
            + (skipped.isEmpty ? "" : "; skipped \(skipped.count)")
        return (
            Choice(partner: load.tenantID, member: members[picked.index], explanation: explanation, nextTurn: picked.index + 1),
            skipped
        )
    }

    /// Every partner of a shared pool that can take the lead now, in pool order, and why the
    /// others cannot.
    public static func offers(_ rule: DistributionRule, loads: [Tenant.ID: PartnerLoad], now: Date) -> ([PartnerLoad], [Skip]) {
        var available: [PartnerLoad] = []
        var skipped: [Skip] = []
        for partner in rule.pool {
            guard let load = loads[partner] else {
                skipped.append(Skip(partner: partner, reason: "not a partner company"))
                continue
            }
            if let reason = load.unavailability(now: now, staleAfterHours: rule.staleAfterHours) {
                skipped.append(Skip(partner: partner, reason: reason))
            } else {
                available.append(load)
            }
        }
        return (available, skipped)
    }

    /// Free capacity share (1 without a limit) and acceptance rate, each weighing 2.
    static func score(_ load: PartnerLoad) -> Double {
        let capacity: Double = load.openSlots.map { slots in slots == 0 ? 0 : Double(load.freeSlots ?? 0) / Double(slots) } ?? 1
        return 2 * capacity + 2 * load.acceptanceRate
    }
}
