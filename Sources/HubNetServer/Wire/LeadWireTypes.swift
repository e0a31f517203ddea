import Foundation
import Hummingbird
import HubNetCore

public struct LeadContactBody: Codable, Sendable {
    public var name: String
    public var email: String?
    public var phone: String?
    public var city: String?
    public var region: String?
}

public struct CreateLeadRequest: Decodable, Sendable {
    /// A workflow template key; the tenant kind's default when absent.
    public var template: String?
    public var contact: LeadContactBody
    /// The descriptive fields (`LeadTextField.all`), each under its own key (`apiKey`).
    public var texts: LeadTexts
    public var probability: Int?
    public var targetAmount: RequestAmount?
    public var products: [ProductInterest]?
    public var competitors: [String]?
    public var team: [User.ID]?
    public var expiresAt: Date?
    public var expectedCompletionAt: Date?
    public var assignedUnitID: TenantUnit.ID?
    public var listingID: Listing.ID?
    /// `manual` for a person typing it in; `api` (the default) for an integration.
    public var source: LeadSource?
    /// The person's consent to their details going to other organisations, recorded with the lead.
    public var consent: ConsentBody?

    enum CodingKeys: String, CodingKey {
        case template, contact, probability, targetAmount, products, competitors, team, expiresAt, expectedCompletionAt,
            assignedUnitID = "assignedUnitId", listingID = "listingId", source, consent
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        template = try c.decodeIfPresent(String.self, forKey: .template)
        contact = try c.decode(LeadContactBody.self, forKey: .contact)
        texts = try LeadTexts(from: decoder, keys: .api)
        probability = try c.decodeIfPresent(Int.self, forKey: .probability)
        targetAmount = try c.decodeIfPresent(RequestAmount.self, forKey: .targetAmount)
        products = try c.decodeIfPresent([ProductInterest].self, forKey: .products)
        competitors = try c.decodeIfPresent([String].self, forKey: .competitors)
        team = try c.decodeIfPresent([User.ID].self, forKey: .team)
        expiresAt = try c.decodeIfPresent(Date.self, forKey: .expiresAt)
        expectedCompletionAt = try c.decodeIfPresent(Date.self, forKey: .expectedCompletionAt)
        assignedUnitID = try c.decodeIfPresent(TenantUnit.ID.self, forKey: .assignedUnitID)
        listingID = try c.decodeIfPresent(Listing.ID.self, forKey: .listingID)
        source = try c.decodeIfPresent(LeadSource.self, forKey: .source)
        consent = try c.decodeIfPresent(ConsentBody.self, forKey: .consent)
    }

    var details: LeadDetails {
        var details = LeadDetails(
            name: contact.name, email: contact.email, phone: contact.phone, city: contact.city, region: contact.region,
            probability: probability, targetAmount: targetAmount?.value, products: products ?? [], competitors: competitors ?? [],
            team: team ?? [])
        details.texts = texts
        return details
    }
}


public struct AvailableActionResponse: Encodable, Sendable {
    public var key: String
    public var name: String
    public var needsReason: Bool

    enum CodingKeys: String, CodingKey {
        case key, name
        case needsReason = "needs_reason"
    }
}

/// A lead as the API shows it: `Fields`, and the descriptive fields (`LeadTextField.all`) beside
/// them, each under its own key; `response.status` and `response.request` read them alike.
@dynamicMemberLookup
public struct LeadResponse: ResponseEncodable, SnakeCaseKeyed, Sendable {
    public var fields: Fields
    public var texts: LeadTexts

    init(_ lead: Lead, template: WorkflowTemplate?, now: Date, actions: [WorkflowTemplate.Action]? = nil) {
        fields = Fields(lead, template: template, now: now, actions: actions)
        texts = lead.details.texts
    }

    public func encode(to encoder: any Encoder) throws {
        try fields.encode(to: encoder)
        // snake_case: the wire's names, which the API's key strategy leaves as they are.
        try texts.encode(to: encoder, keys: .snake)
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        try JSONEncoder.snakeCaseKeyed.encode(self, from: request, context: context)
    }

    public subscript<Value>(dynamicMember keyPath: KeyPath<Fields, Value>) -> Value { fields[keyPath: keyPath] }
    public subscript<Value>(dynamicMember keyPath: KeyPath<LeadTexts, Value>) -> Value { texts[keyPath: keyPath] }

    public struct Fields: Encodable, Sendable {
        public var id: Lead.ID
        public var template: String
        public var status: String
        public var statusName: String
        public var lifeCycle: String
        public var stage: String?
        public var source: String
        public var contact: LeadContactBody
        public var probability: Int?
        public var targetAmount: Decimal?
        public var products: [ProductInterest]
        public var competitors: [String]
        public var team: [User.ID]
        public var listingID: Listing.ID?
        public var assignedUnitID: TenantUnit.ID?
        public var assignedUserID: User.ID?
        public var createdBy: User.ID?
        public var createdAt: Date
        /// The date the lead was first saved (003: start date).
        public var startDate: Date
        public var lastActionAt: Date?
        public var acceptedAt: Date?
        public var declinedAt: Date?
        public var completedAt: Date?
        public var expiresAt: Date?
        public var expectedCompletionAt: Date?
        public var targetCloseAt: Date?
        public var maximumOpenAt: Date?
        public var timeToCompletionSeconds: Int?
        public var timeOverdueSeconds: Int?
        public var badges: [String]
        public var opportunityLinked: Bool
        public var archived: Bool
        public var inCrm: Bool
        public var inLeadTable: Bool
        public var openActivities: Int
        public var version: Int
        /// A referred copy without the person's name, email and phone (no consent covers them).
        public var identityWithheld: Bool
        /// When the person's data was erased (their fields read `[erased]`; the lead takes no changes).
        public var erasedAt: Date?
        /// The buttons the caller may press now; only on the detail view.
        public var availableActions: [AvailableActionResponse]?

        /// The wire's own names, snake_case already (`SnakeCaseKeyed`).
        enum CodingKeys: String, CodingKey {
            case id, template, status, source, contact, probability, products, competitors, team, badges, archived, version, stage
            case statusName = "status_name", lifeCycle = "life_cycle", targetAmount = "target_amount", startDate = "start_date"
            case listingID = "listing_id", assignedUnitID = "assigned_unit_id", assignedUserID = "assigned_user_id"
            case createdBy = "created_by", createdAt = "created_at", lastActionAt = "last_action_at", acceptedAt = "accepted_at"
            case declinedAt = "declined_at", completedAt = "completed_at", expiresAt = "expires_at"
            case expectedCompletionAt = "expected_completion_at", targetCloseAt = "target_close_at", maximumOpenAt = "maximum_open_at"
            case timeToCompletionSeconds = "time_to_completion_seconds", timeOverdueSeconds = "time_overdue_seconds"
            case opportunityLinked = "opportunity_linked", inCrm = "in_crm", inLeadTable = "in_lead_table"
            case openActivities = "open_activities", identityWithheld = "identity_withheld", erasedAt = "erased_at"
            case availableActions = "available_actions"
        }

        init(_ lead: Lead, template: WorkflowTemplate?, now: Date, actions: [WorkflowTemplate.Action]? = nil) {
            let status = template?.status(lead.state.status)
            let schedule = template.map { LeadSchedule.of(lead.state, template: $0, now: now) }
            self.id = lead.id
            self.template = lead.templateKey
            self.status = lead.state.status
            self.statusName = status?.name ?? lead.state.status
            self.lifeCycle = status?.lifeCycle.rawValue ?? "pending"
            self.stage = status?.stage
            self.source = lead.source.rawValue
            self.identityWithheld = lead.identityWithheld
            self.erasedAt = lead.erasedAt
            let details = lead.details
            self.contact = LeadContactBody(
                name: details.name, email: details.email, phone: details.phone, city: details.city, region: details.region)
            self.probability = details.probability
            self.targetAmount = details.targetAmount
            self.products = details.products
            self.competitors = details.competitors
            self.team = details.team
            self.startDate = lead.state.createdAt
            self.listingID = lead.listingID
            self.assignedUnitID = lead.assignedUnitID
            self.assignedUserID = lead.state.assignedUserID
            self.createdBy = lead.createdBy
            self.createdAt = lead.state.createdAt
            self.lastActionAt = lead.state.lastActionAt
            self.acceptedAt = lead.state.acceptedAt
            self.declinedAt = lead.state.declinedAt
            self.completedAt = lead.state.completedAt
            self.expiresAt = lead.state.expiresAt
            self.expectedCompletionAt = lead.state.expectedCompletionAt
            self.targetCloseAt = schedule?.targetCloseAt
            self.maximumOpenAt = schedule?.maximumOpenAt
            self.timeToCompletionSeconds = schedule?.timeToCompletion.map { Int($0) }
            self.timeOverdueSeconds = schedule?.timeOverdue.map { Int($0) }
            self.badges =
                (schedule?.isNew == true ? ["new"] : []) + (schedule?.isOverdue == true ? ["overdue"] : [])
                + (schedule?.isPastMaximum == true ? ["past_maximum"] : [])
            self.opportunityLinked = lead.state.opportunityLinked
            self.archived = lead.state.archived
            self.inCrm = lead.state.inCRM
            self.inLeadTable = status?.inLeadTable ?? true
            self.openActivities = lead.state.openActivities
            self.version = lead.version
            self.availableActions = actions?.map {
                AvailableActionResponse(key: $0.key, name: $0.name, needsReason: $0.requirements.contains(.reason))
            }
        }
    }
}

public struct LeadHistoryResponse: ResponseEncodable, Sendable {
    public struct Entry: Encodable, Sendable {
        public var seq: Int
        public var action: String
        public var fromStatus: String?
        public var toStatus: String
        public var actorUserID: User.ID?
        public var reason: String?
        public var at: Date
        public var hash: String

        enum CodingKeys: String, CodingKey { case seq, action, fromStatus, toStatus, actorUserID = "actorUserId", reason, at, hash }
    }
    public var items: [Entry]

    init(_ entries: [LeadHistoryEntry]) {
        self.items = entries.map {
            Entry(
                seq: $0.seq, action: $0.action, fromStatus: $0.fromStatus, toStatus: $0.toStatus, actorUserID: $0.actorUserID,
                reason: $0.reason, at: $0.at, hash: Hex.lowercase($0.hash))
        }
    }
}

public struct HistoryVerificationResponse: ResponseEncodable, Sendable {
    public var intact: Bool
    public var entries: Int
    /// The first entry whose hash does not follow from its content and predecessor.
    public var firstBrokenSeq: Int?
}

public struct NoteRequest: Decodable, Sendable { public var body: String }

public struct NoteResponse: ResponseEncodable, Sendable {
    public var id: LeadNote.ID
    public var authorID: User.ID
    public var body: String
    public var createdAt: Date
    enum CodingKeys: String, CodingKey { case id, authorID = "authorId", body, createdAt }

    init(_ note: LeadNote) {
        self.id = note.id
        self.authorID = note.authorID
        self.body = note.body
        self.createdAt = note.createdAt
    }
}

public struct NoteListResponse: ResponseEncodable, Sendable { public var items: [NoteResponse] }

public struct ActivityRequest: Decodable, Sendable {
    public var kind: String
    public var title: String
    public var dueAt: Date?

    /// The intent this body asks for: a new activity.
    func schedule() throws(DomainError) -> ActivitySchedule {
        guard let kind = LeadActivity.Kind(rawValue: kind) else {
            throw .invalid("kind", "must be one of \(LeadActivity.Kind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return ActivitySchedule(kind: kind, title: title, dueAt: dueAt)
    }
}

public struct ActivityResponse: ResponseEncodable, Sendable {
    public var id: LeadActivity.ID
    public var kind: String
    public var title: String
    public var dueAt: Date?
    public var state: String
    public var createdBy: User.ID
    public var createdAt: Date
    public var closedAt: Date?

    init(_ activity: LeadActivity) {
        self.id = activity.id
        self.kind = activity.kind.rawValue
        self.title = activity.title
        self.dueAt = activity.dueAt
        self.state = activity.state.rawValue
        self.createdBy = activity.createdBy
        self.createdAt = activity.createdAt
        self.closedAt = activity.closedAt
    }
}

public struct ActivityListResponse: ResponseEncodable, Sendable { public var items: [ActivityResponse] }

public struct WorkflowTemplateListResponse: ResponseEncodable, Sendable { public var items: [WorkflowTemplate] }

extension WorkflowTemplate: ResponseEncodable {}

public struct OpportunityRequest: Decodable, Sendable {
    public var name: String
    public var amount: RequestAmount?
}

public struct OpportunityStageRequest: Decodable, Sendable {
    public var stage: String
}

public struct OpportunityResponse: ResponseEncodable, Sendable {
    public var id: Opportunity.ID
    public var leadID: Lead.ID?
    public var name: String
    public var stage: String
    public var closed: Bool
    public var amount: Decimal?
    public var createdAt: Date
    public var closedAt: Date?
    public var version: Int
    enum CodingKeys: String, CodingKey { case id, leadID = "leadId", name, stage, closed, amount, createdAt, closedAt, version }

    init(_ opportunity: Opportunity) {
        self.id = opportunity.id
        self.leadID = opportunity.leadID
        self.name = opportunity.name
        self.stage = opportunity.stage.rawValue
        self.closed = opportunity.stage.isClosed
        self.amount = opportunity.amount
        self.createdAt = opportunity.createdAt
        self.closedAt = opportunity.closedAt
        self.version = opportunity.version
    }
}

public struct ClientResponse: ResponseEncodable, Sendable {
    public var id: Client.ID
    public var leadID: Lead.ID
    public var name: String
    public var email: String?
    public var city: String?
    public var createdAt: Date
    enum CodingKeys: String, CodingKey { case id, leadID = "leadId", name, email, city, createdAt }

    init(_ client: Client) {
        self.id = client.id
        self.leadID = client.leadID
        self.name = client.name
        self.email = client.email
        self.city = client.city
        self.createdAt = client.createdAt
    }
}

public struct SessionRequest: Decodable, Sendable {
    public var heldAt: Date
    public var durationMinutes: Int
    public var summary: String?
    /// The advisor who held it; the caller when absent.
    public var advisorID: User.ID?
    enum CodingKeys: String, CodingKey { case heldAt, durationMinutes, summary, advisorID = "advisorId" }
}

public struct SessionResponse: ResponseEncodable, Sendable {
    public var id: AdvisingSession.ID
    public var advisorID: User.ID
    public var heldAt: Date
    public var durationMinutes: Int
    public var summary: String?
    enum CodingKeys: String, CodingKey { case id, advisorID = "advisorId", heldAt, durationMinutes, summary }

    init(_ session: AdvisingSession) {
        self.id = session.id
        self.advisorID = session.advisorID
        self.heldAt = session.heldAt
        self.durationMinutes = session.durationMinutes
        self.summary = session.summary
    }
}

public struct SessionListResponse: ResponseEncodable, Sendable { public var items: [SessionResponse] }

extension LeadType: ResponseEncodable {}

/// A partial edit of a lead's fields: absent fields stay; an empty string clears an optional text.
/// The status moves only by actions, and the assigned user only by Accept (003).
public struct UpdateLeadRequest: Decodable, Sendable {
    public struct Contact: Decodable, Sendable {
        public var name: String?
        public var email: String?
        public var phone: String?
        public var city: String?
        public var region: String?
    }
    public var contact: Contact?
    /// The descriptive fields (`LeadTextField.all`), each under its own key (`apiKey`).
    public var texts: LeadTexts
    public var probability: Int?
    public var targetAmount: RequestAmount?
    public var products: [ProductInterest]?
    public var competitors: [String]?
    public var team: [User.ID]?
    public var expectedCompletionAt: Date?
    public var assignedUnitID: TenantUnit.ID?
    /// Refuse the edit unless the lead is still at this version.
    public var version: Int?

    enum CodingKeys: String, CodingKey {
        case contact, probability, targetAmount, products, competitors, team, expectedCompletionAt,
            assignedUnitID = "assignedUnitId", version
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        contact = try c.decodeIfPresent(Contact.self, forKey: .contact)
        texts = try LeadTexts(from: decoder, keys: .api)
        probability = try c.decodeIfPresent(Int.self, forKey: .probability)
        targetAmount = try c.decodeIfPresent(RequestAmount.self, forKey: .targetAmount)
        products = try c.decodeIfPresent([ProductInterest].self, forKey: .products)
        competitors = try c.decodeIfPresent([String].self, forKey: .competitors)
        team = try c.decodeIfPresent([User.ID].self, forKey: .team)
        expectedCompletionAt = try c.decodeIfPresent(Date.self, forKey: .expectedCompletionAt)
        assignedUnitID = try c.decodeIfPresent(TenantUnit.ID.self, forKey: .assignedUnitID)
        version = try c.decodeIfPresent(Int.self, forKey: .version)
    }

    func apply(to details: inout LeadDetails) {
        func set(_ keyPath: WritableKeyPath<LeadDetails, String?>, _ value: String?) {
            if let value { details[keyPath: keyPath] = value.isEmpty ? nil : value }
        }
        if let name = contact?.name { details.name = name }
        set(\.email, contact?.email)
        set(\.phone, contact?.phone)
        set(\.city, contact?.city)
        set(\.region, contact?.region)
        for field in LeadTextField.all { set(\.texts[field], texts[field]) }
        if let probability { details.probability = probability }
        if let targetAmount { details.targetAmount = targetAmount.value }
        if let products { details.products = products }
        if let competitors { details.competitors = competitors }
        if let team { details.team = team }
    }
}

/// A consent as the API and the lead form take it (`Consent`).
public struct ConsentBody: Decodable, Sendable {
    /// `organisation` (with `organisation_id`), `kind` (with `kind`) or `network`.
    public var scope: String
    public var organisationID: Tenant.ID?
    public var kind: String?
    public var purpose: String
    /// `written`, `verbal`, `electronic` or `lead_form`.
    public var method: String?
    public var obtainedAt: Date?
    public var expiresAt: Date?

    enum CodingKeys: String, CodingKey {
        case scope, organisationID = "organisationId", kind, purpose, method, obtainedAt, expiresAt
    }

    /// Checked against `now`, fields named under `prefix` (`consent.` inside a lead).
    public func consent(for lead: Lead.ID, recordedBy: User.ID?, method fixed: Consent.Method? = nil, now: Date, prefix: String = "")
        throws(DomainError) -> Consent
    {
        let method: Consent.Method
        if let fixed {
            method = fixed
        } else {
            guard let name = self.method, let parsed = Consent.Method(rawValue: name) else {
                throw .invalid(prefix + "method", "one of \(Consent.Method.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            method = parsed
        }
        return try Consent.validated(
            leadID: lead, scope: try Consent.scope(scope, organisation: organisationID, kind: kind, field: prefix), purpose: purpose,
            method: method, recordedBy: recordedBy, obtainedAt: obtainedAt, expiresAt: expiresAt, now: now, field: prefix)
    }
}

/// A consent as the API shows it.
public struct ConsentResponse: ResponseEncodable, Sendable {
    public var id: Consent.ID
    public var leadID: Lead.ID
    public var scope: String
    public var organisationID: Tenant.ID?
    public var kind: String?
    public var purpose: String
    public var method: String
    public var recordedBy: User.ID?
    public var obtainedAt: Date
    public var expiresAt: Date?
    public var withdrawnAt: Date?
    /// Whether it lets the person's details cross now.
    public var valid: Bool

    enum CodingKeys: String, CodingKey {
        case id, leadID = "leadId", scope, organisationID = "organisationId", kind, purpose, method, recordedBy, obtainedAt,
            expiresAt, withdrawnAt, valid
    }

    public init(_ consent: Consent, now: Date) {
        id = consent.id
        leadID = consent.leadID
        scope = consent.scope.name
        switch consent.scope {
        case .organisation(let id): organisationID = id
        case .kind(let kind): self.kind = kind.rawValue
        case .network: break
        }
        purpose = consent.purpose
        method = consent.method.rawValue
        recordedBy = consent.recordedBy
        obtainedAt = consent.obtainedAt
        expiresAt = consent.expiresAt
        withdrawnAt = consent.withdrawnAt
        valid = consent.isValid(at: now)
    }
}
