import Foundation

/// The records a device holds, exactly as the change log carries them (built by the
/// `hubnet_sync_*` functions of migration 0006). Times are microseconds since 1970.
@dynamicMemberLookup
public struct SyncLead: Sendable, Codable, Equatable {
    public var id: Lead.ID
    public var templateKey: String
    public var status: String
    public var source: String
    public var name: String
    public var email: String?
    public var phone: String?
    public var city: String?
    public var region: String?
    /// The descriptive fields (`LeadTextField.all`), each under its own key; `lead.request` reads one.
    public var texts: LeadTexts
    public var probability: Int?
    public var targetAmount: String?
    public var competitors: [String]
    public var team: [User.ID]
    public var listingId: Listing.ID?
    public var referralId: Referral.ID?
    public var sourceTenantId: Tenant.ID?
    public var assignedUnitId: TenantUnit.ID?
    public var assignedUserId: User.ID?
    public var createdBy: User.ID?
    public var createdAt: Int64
    public var lastActionAt: Int64?
    public var acceptedAt: Int64?
    public var declinedAt: Int64?
    public var completedAt: Int64?
    public var expiresAt: Int64?
    public var expectedCompletionAt: Int64?
    public var opportunityId: Opportunity.ID?
    public var archived: Bool
    public var inCrm: Bool
    public var version: Int

    /// The wire names, snake_case: decoded without a key strategy, which is much faster.
    enum CodingKeys: String, CodingKey {
        case id
        case templateKey = "template_key"
        case status
        case source
        case name
        case email
        case phone
        case city
        case region
        case probability
        case targetAmount = "target_amount"
        case competitors
        case team
        case listingId = "listing_id"
        case referralId = "referral_id"
        case sourceTenantId = "source_tenant_id"
        case assignedUnitId = "assigned_unit_id"
        case assignedUserId = "assigned_user_id"
        case createdBy = "created_by"
        case createdAt = "created_at"
        case lastActionAt = "last_action_at"
        case acceptedAt = "accepted_at"
        case declinedAt = "declined_at"
        case completedAt = "completed_at"
        case expiresAt = "expires_at"
        case expectedCompletionAt = "expected_completion_at"
        case opportunityId = "opportunity_id"
        case archived
        case inCrm = "in_crm"
        case version
    }


    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(Lead.ID.self, forKey: .id)
        templateKey = try c.decode(String.self, forKey: .templateKey)
        status = try c.decode(String.self, forKey: .status)
        source = try c.decode(String.self, forKey: .source)
        name = try c.decode(String.self, forKey: .name)
        email = try c.decodeIfPresent(String.self, forKey: .email)
        phone = try c.decodeIfPresent(String.self, forKey: .phone)
        city = try c.decodeIfPresent(String.self, forKey: .city)
        region = try c.decodeIfPresent(String.self, forKey: .region)
        texts = try LeadTexts(from: decoder, keys: .snake)
        probability = try c.decodeIfPresent(Int.self, forKey: .probability)
        targetAmount = try c.decodeIfPresent(String.self, forKey: .targetAmount)
        competitors = try c.decode([String].self, forKey: .competitors)
        team = try c.decode([User.ID].self, forKey: .team)
        listingId = try c.decodeIfPresent(Listing.ID.self, forKey: .listingId)
        referralId = try c.decodeIfPresent(Referral.ID.self, forKey: .referralId)
        sourceTenantId = try c.decodeIfPresent(Tenant.ID.self, forKey: .sourceTenantId)
        assignedUnitId = try c.decodeIfPresent(TenantUnit.ID.self, forKey: .assignedUnitId)
        assignedUserId = try c.decodeIfPresent(User.ID.self, forKey: .assignedUserId)
        createdBy = try c.decodeIfPresent(User.ID.self, forKey: .createdBy)
        createdAt = try c.decode(Int64.self, forKey: .createdAt)
        lastActionAt = try c.decodeIfPresent(Int64.self, forKey: .lastActionAt)
        acceptedAt = try c.decodeIfPresent(Int64.self, forKey: .acceptedAt)
        declinedAt = try c.decodeIfPresent(Int64.self, forKey: .declinedAt)
        completedAt = try c.decodeIfPresent(Int64.self, forKey: .completedAt)
        expiresAt = try c.decodeIfPresent(Int64.self, forKey: .expiresAt)
        expectedCompletionAt = try c.decodeIfPresent(Int64.self, forKey: .expectedCompletionAt)
        opportunityId = try c.decodeIfPresent(Opportunity.ID.self, forKey: .opportunityId)
        archived = try c.decode(Bool.self, forKey: .archived)
        inCrm = try c.decode(Bool.self, forKey: .inCrm)
        version = try c.decode(Int.self, forKey: .version)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(templateKey, forKey: .templateKey)
        try c.encode(status, forKey: .status)
        try c.encode(source, forKey: .source)
        try c.encode(name, forKey: .name)
        try c.encodeIfPresent(email, forKey: .email)
        try c.encodeIfPresent(phone, forKey: .phone)
        try c.encodeIfPresent(city, forKey: .city)
        try c.encodeIfPresent(region, forKey: .region)
        try c.encodeIfPresent(probability, forKey: .probability)
        try c.encodeIfPresent(targetAmount, forKey: .targetAmount)
        try c.encode(competitors, forKey: .competitors)
        try c.encode(team, forKey: .team)
        try c.encodeIfPresent(listingId, forKey: .listingId)
        try c.encodeIfPresent(referralId, forKey: .referralId)
        try c.encodeIfPresent(sourceTenantId, forKey: .sourceTenantId)
        try c.encodeIfPresent(assignedUnitId, forKey: .assignedUnitId)
        try c.encodeIfPresent(assignedUserId, forKey: .assignedUserId)
        try c.encodeIfPresent(createdBy, forKey: .createdBy)
        try c.encode(createdAt, forKey: .createdAt)
        try c.encodeIfPresent(lastActionAt, forKey: .lastActionAt)
        try c.encodeIfPresent(acceptedAt, forKey: .acceptedAt)
        try c.encodeIfPresent(declinedAt, forKey: .declinedAt)
        try c.encodeIfPresent(completedAt, forKey: .completedAt)
        try c.encodeIfPresent(expiresAt, forKey: .expiresAt)
        try c.encodeIfPresent(expectedCompletionAt, forKey: .expectedCompletionAt)
        try c.encodeIfPresent(opportunityId, forKey: .opportunityId)
        try c.encode(archived, forKey: .archived)
        try c.encode(inCrm, forKey: .inCrm)
        try c.encode(version, forKey: .version)
        try texts.encode(to: encoder, keys: .snake)
    }

    public subscript<Value>(dynamicMember keyPath: WritableKeyPath<LeadTexts, Value>) -> Value {
        get { texts[keyPath: keyPath] }
        set { texts[keyPath: keyPath] = newValue }
    }

    public var details: LeadDetails {
        get {
            var details = LeadDetails(
                name: name, email: email, phone: phone, city: city, region: region, probability: probability,
                targetAmount: targetAmount.flatMap { Decimal(string: $0) }, competitors: competitors, team: team)
            details.texts = texts
            return details
        }
        set {
            name = newValue.name
            email = newValue.email
            phone = newValue.phone
            city = newValue.city
            region = newValue.region
            texts = newValue.texts
            probability = newValue.probability
        }
    }

    /// The workflow's view of this lead. `openActivities` and unit members come from the device's
    /// own store.
    public func state(openActivities: Int, unitMembers: Set<User.ID>?) -> LeadState {
        func date(_ micros: Int64?) -> Date? { micros.map(Date.init(micros:)) }
        return LeadState(
            status: status, createdAt: Date(micros: createdAt), lastActionAt: date(lastActionAt), acceptedAt: date(acceptedAt),
            declinedAt: date(declinedAt), completedAt: date(completedAt), expiresAt: date(expiresAt),
            expectedCompletionAt: date(expectedCompletionAt), opportunityLinked: opportunityId != nil,
            openActivities: openActivities, assignedUnitMembers: unitMembers, assignedUserID: assignedUserId, archived: archived,
            inCRM: inCrm)
    }

    /// Writes a decided state back (the device's optimistic copy of an action).
    public mutating func apply(_ state: LeadState) {
        status = state.status
        lastActionAt = state.lastActionAt?.micros
        acceptedAt = state.acceptedAt?.micros
        declinedAt = state.declinedAt?.micros
        completedAt = state.completedAt?.micros
        expiresAt = state.expiresAt?.micros
        archived = state.archived
        inCrm = state.inCRM
        assignedUserId = state.assignedUserID
    }
}

public struct SyncNote: Sendable, Codable, Equatable {
    public var id: LeadNote.ID
    public var leadId: Lead.ID
    public var authorId: User.ID
    public var body: String
    public var createdAt: Int64
    public var version: Int

    /// The wire names, snake_case: decoded without a key strategy, which is much faster.
    enum CodingKeys: String, CodingKey {
        case id
        case leadId = "lead_id"
        case authorId = "author_id"
        case body
        case createdAt = "created_at"
        case version
    }


    public init(id: LeadNote.ID, leadId: Lead.ID, authorId: User.ID, body: String, createdAt: Int64, version: Int = 1) {
        self.id = id
        self.leadId = leadId
        self.authorId = authorId
        self.body = body
        self.createdAt = createdAt
        self.version = version
    }
}

public struct SyncActivity: Sendable, Codable, Equatable {
    public var id: LeadActivity.ID
    public var leadId: Lead.ID
    public var kind: String
    public var title: String
    public var dueAt: Int64?
    public var state: String
    public var createdBy: User.ID
    public var createdAt: Int64
    public var closedAt: Int64?
    public var version: Int

    /// The wire names, snake_case: decoded without a key strategy, which is much faster.
    enum CodingKeys: String, CodingKey {
        case id
        case leadId = "lead_id"
        case kind
        case title
        case dueAt = "due_at"
        case state
        case createdBy = "created_by"
        case createdAt = "created_at"
        case closedAt = "closed_at"
        case version
    }


    public init(
        id: LeadActivity.ID, leadId: Lead.ID, kind: String, title: String, dueAt: Int64?, state: String, createdBy: User.ID,
        createdAt: Int64, closedAt: Int64? = nil, version: Int = 1
    ) {
        self.id = id
        self.leadId = leadId
        self.kind = kind
        self.title = title
        self.dueAt = dueAt
        self.state = state
        self.createdBy = createdBy
        self.createdAt = createdAt
        self.closedAt = closedAt
        self.version = version
    }
}

public struct SyncReferral: Sendable, Codable, Equatable {
    public var id: Referral.ID
    public var sourceLeadId: Lead.ID?
    public var targetTenantId: Tenant.ID
    public var targetLeadId: Lead.ID
    public var targetKind: String
    public var targetListingId: Listing.ID?
    public var createdBy: User.ID
    public var createdAt: Int64
    public var status: String
    public var statusName: String
    public var lifeCycle: String
    public var stage: String?
    public var firstActionAt: Int64?
    public var lastActionAt: Int64?
    public var acceptedAt: Int64?
    public var declinedAt: Int64?
    public var completedAt: Int64?
    public var reason: String?
    public var version: Int

    /// The wire names, snake_case: decoded without a key strategy, which is much faster.
    enum CodingKeys: String, CodingKey {
        case id
        case sourceLeadId = "source_lead_id"
        case targetTenantId = "target_tenant_id"
        case targetLeadId = "target_lead_id"
        case targetKind = "target_kind"
        case targetListingId = "target_listing_id"
        case createdBy = "created_by"
        case createdAt = "created_at"
        case status
        case statusName = "status_name"
        case lifeCycle = "life_cycle"
        case stage
        case firstActionAt = "first_action_at"
        case lastActionAt = "last_action_at"
        case acceptedAt = "accepted_at"
        case declinedAt = "declined_at"
        case completedAt = "completed_at"
        case reason
        case version
    }

}

/// The kinds of record in the change log.
public enum SyncEntity: String, Sendable, Codable, CaseIterable {
    case lead, note, activity, referral
    /// Not a record: the user's view as a whole (a `reset` change).
    case view
}

/// What a change tells a device to do with one record.
public enum SyncOperation: String, Sendable, Codable {
    /// Store this version of the record unless a newer one is held.
    case upsert
    /// The record is gone (deleted or re-referred elsewhere).
    case delete
    /// The record left this user's view: remove the local copy.
    case drop
    /// The user's view changed as a whole: re-sync from a snapshot.
    case reset
    /// The person's data on this lead was erased: remove the lead with its notes and activities,
    /// and the queued mutations on it, before its redacted record arrives (the next change).
    case purge
}
