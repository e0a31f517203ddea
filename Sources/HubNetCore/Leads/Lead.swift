import Crypto
import Foundation

/// A prospective client — a business owner — and where their request stands in its workflow.
public struct Lead: Sendable, Equatable {
    public typealias ID = Identifier<Lead>

    public var id: ID
    public var tenantID: Tenant.ID
    public var templateKey: String
    public var source: LeadSource
    public var details: LeadDetails
    public var listingID: Listing.ID?
    public var assignedUnitID: TenantUnit.ID?
    public var createdBy: User.ID?
    /// The referral that brought the lead, and the tenant that made it; `nil` for the lead's own intake.
    public var referralID: Referral.ID?
    public var sourceTenantID: Tenant.ID?
    public var state: LeadState
    /// Increases with every change.
    public var version: Int
    /// A referred copy without the person's name, email and phone: no consent covered them
    /// crossing, or it was withdrawn or expired since (`Consent`).
    public var identityWithheld: Bool
    /// When the person's data was erased (`[erased]` in their fields); an erased lead takes no changes.
    public var erasedAt: Date?

    public init(
        id: ID, tenantID: Tenant.ID, templateKey: String, source: LeadSource, details: LeadDetails,
        listingID: Listing.ID?, assignedUnitID: TenantUnit.ID?, createdBy: User.ID?, referralID: Referral.ID? = nil,
        sourceTenantID: Tenant.ID? = nil, state: LeadState, version: Int, identityWithheld: Bool = false,
        erasedAt: Date? = nil
    ) {
        self.id = id
        self.tenantID = tenantID
        self.templateKey = templateKey
        self.source = source
        self.details = details
        self.listingID = listingID
        self.assignedUnitID = assignedUnitID
        self.createdBy = createdBy
        self.referralID = referralID
        self.sourceTenantID = sourceTenantID
        self.state = state
        self.version = version
        self.identityWithheld = identityWithheld
        self.erasedAt = erasedAt
    }
}

extension Lead {
    /// The users who see this lead through their own work: its team, its assignee, its creator and
    /// the members of its unit (besides the tenant-wide roles of `VisibilityPolicy.seesWholeTenant`).
    public var audience: Set<User.ID> {
        var users = Set(details.team)
        if let assigned = state.assignedUserID { users.insert(assigned) }
        if let createdBy { users.insert(createdBy) }
        users.formUnion(state.assignedUnitMembers ?? [])
        return users
    }
}

/// How a lead arrived.
public enum LeadSource: String, Sendable, Codable, CaseIterable {
    case manual, api, `import`, leadForm = "lead_form", referral
}

/// The fields of a lead a person fills in.
@dynamicMemberLookup
public struct LeadDetails: Sendable, Equatable {
    public var name: String
    public var email: String?
    public var phone: String?
    public var city: String?
    public var region: String?
    /// Request, type, category, priority, importance: the fields described in `LeadTextField.all`,
    /// read and written as `details.request` through `LeadTexts`.
    public var texts: LeadTexts
    /// Probability to win, 0 to 100.
    public var probability: Int?
    /// Predicted gain if won, in the tenant's currency.
    public var targetAmount: Decimal?
    /// Physical goods and services the lead is interested in, each with notes.
    public var products: [ProductInterest]
    /// Competitors with the same objective and access to the lead.
    public var competitors: [String]
    /// The users working on the lead.
    public var team: [User.ID]

    public init(
        name: String, email: String? = nil, phone: String? = nil, city: String? = nil, region: String? = nil,
        request: String? = nil, type: String? = nil, category: String? = nil, priority: String? = nil,
        importance: String? = nil, probability: Int? = nil, targetAmount: Decimal? = nil,
        products: [ProductInterest] = [], competitors: [String] = [], team: [User.ID] = []
    ) {
        self.name = name
        self.email = email
        self.phone = phone
        self.city = city
        self.region = region
        self.texts = LeadTexts(request: request, type: type, category: category, priority: priority, importance: importance)
        self.probability = probability
        self.targetAmount = targetAmount
        self.products = products
        self.competitors = competitors
        self.team = team
    }

    /// Checked and normalised: a lead needs a name and a way to reach them (except a
    /// de-identified copy, `requiringContact: false`).
    public func validated(requiringContact: Bool = true) throws(DomainError) -> LeadDetails {
        let email = try Validate.optionalEmail(email, field: "email")
        let phone = try Validate.optionalPhone(phone, field: "phone")
        guard email != nil || phone != nil || !requiringContact else { throw .invalid("email", "give an email or a phone number") }
        if let probability, !(0...100).contains(probability) { throw .invalid("probability", "must be between 0 and 100") }
        let targetAmount = try Validate.optionalAmount(targetAmount, field: "target_amount")
        let name = try Validate.text(name, field: "name", max: 200)
        let city = try Validate.optionalText(city, field: "city", max: 200)
        let region = try Validate.optionalText(region, field: "region", max: 200)
        var texts = LeadTexts()
        for field in LeadTextField.all {
            texts[field] = try Validate.optionalText(self.texts[field], field: field.key, max: field.maximumLength)
        }
        var validated = LeadDetails(
            name: name, email: email, phone: phone, city: city, region: region,
            probability: probability, targetAmount: targetAmount,
            products: try products.enumerated().map { (index, product) throws(DomainError) in
                ProductInterest(
                    name: try Validate.text(product.name, field: "products[\(index)].name", max: 200),
                    notes: try Validate.optionalText(product.notes, field: "products[\(index)].notes", max: 2000))
            },
            competitors: try Validate.labels(competitors, field: "competitors"),
            team: team.reduce(into: [User.ID]()) { if !$0.contains($1) { $0.append($1) } })
        validated.texts = texts
        return validated
    }

    public subscript<Value>(dynamicMember keyPath: WritableKeyPath<LeadTexts, Value>) -> Value {
        get { texts[keyPath: keyPath] }
        set { texts[keyPath: keyPath] = newValue }
    }
}

/// A product of interest to a lead, with notes for whoever handles the lead next.
public struct ProductInterest: Sendable, Equatable, Codable {
    public var name: String
    public var notes: String?

    public init(name: String, notes: String? = nil) {
        self.name = name
        self.notes = notes
    }
}

/// One entry of a lead's history: who did what, when, from which status to which, and why.
/// Entries are chained: each carries the hash of the one before, so a rewritten past shows.
public struct LeadHistoryEntry: Sendable, Equatable {
    public var seq: Int
    public var action: String
    public var fromStatus: String?
    public var toStatus: String
    public var actorUserID: User.ID?
    public var reason: String?
    public var at: Date
    public var previousHash: [UInt8]
    public var hash: [UInt8]

    public init(
        seq: Int, action: String, fromStatus: String?, toStatus: String, actorUserID: User.ID?, reason: String?,
        at: Date, previousHash: [UInt8], hash: [UInt8]
    ) {
        self.seq = seq
        self.action = action
        self.fromStatus = fromStatus
        self.toStatus = toStatus
        self.actorUserID = actorUserID
        self.reason = reason
        self.at = at
        self.previousHash = previousHash
        self.hash = hash
    }

    /// The hash before the first entry.
    public static let genesis = [UInt8](repeating: 0, count: 32)

    /// SHA-256 of the previous entry's hash followed by this entry's canonical bytes.
    public static func chainHash(previous: [UInt8], _ canonical: [UInt8]) -> [UInt8] {
        Array(SHA256.hash(data: previous + canonical))
    }

    /// The entry that follows `previous` on `lead` (the first when `nil`), hash-chained, its time
    /// at the microsecond as it is stored.
    public static func following(
        _ previous: LeadHistoryEntry?, lead: Lead.ID, action: String, from: String?, to: String, actor: User.ID?, reason: String?,
        at now: Date
    ) -> LeadHistoryEntry {
        let seq = (previous?.seq ?? 0) + 1
        let previousHash = previous?.hash ?? genesis
        let micros = Int64((now.timeIntervalSince1970 * 1_000_000).rounded())
        let hash = chainHash(
            previous: previousHash,
            canonical(
                lead: lead, seq: seq, action: action, fromStatus: from, toStatus: to, actorUserID: actor, reason: reason,
                atMicros: micros))
        return LeadHistoryEntry(
            seq: seq, action: action, fromStatus: from, toStatus: to, actorUserID: actor, reason: reason,
            at: Date(timeIntervalSince1970: Double(micros) / 1_000_000), previousHash: previousHash, hash: hash)
    }

    /// The first entry (its `seq`) whose hash does not follow from its content and predecessor,
    /// or `nil` when the chain of `lead` is intact.
    public static func firstBroken(_ entries: [LeadHistoryEntry], lead: Lead.ID) -> Int? {
        var previous = genesis
        for entry in entries {
            let expected = chainHash(
                previous: previous,
                canonical(
                    lead: lead, seq: entry.seq, action: entry.action, fromStatus: entry.fromStatus, toStatus: entry.toStatus,
                    actorUserID: entry.actorUserID, reason: entry.reason, at: entry.at))
            if entry.previousHash != previous || entry.hash != expected { return entry.seq }
            previous = entry.hash
        }
        return nil
    }

    /// The exact bytes that are hashed with the previous hash: every field, unambiguously joined.
    public static func canonical(
        lead: Lead.ID, seq: Int, action: String, fromStatus: String?, toStatus: String, actorUserID: User.ID?,
        reason: String?, at: Date
    ) -> [UInt8] {
        canonical(
            lead: lead, seq: seq, action: action, fromStatus: fromStatus, toStatus: toStatus, actorUserID: actorUserID, reason: reason,
            atMicros: Int64((at.timeIntervalSince1970 * 1_000_000).rounded()))
    }

    /// The same, from the stored microsecond itself (as an evidence bundle states it).
    public static func canonical(
        lead: Lead.ID, seq: Int, action: String, fromStatus: String?, toStatus: String, actorUserID: User.ID?,
        reason: String?, atMicros micros: Int64
    ) -> [UInt8] {
        let fields = [
            lead.description, String(seq), action, fromStatus ?? "", toStatus, actorUserID?.description ?? "",
            reason ?? "", String(micros),
        ]
        // Length-prefixed, so no choice of field text can make two entries hash alike.
        return Array(fields.map { "\($0.utf8.count):\($0)" }.joined(separator: "|").utf8)
    }
}
