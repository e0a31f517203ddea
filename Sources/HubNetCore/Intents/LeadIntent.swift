import Foundation

/// What a person asks to do to a lead: the one vocabulary that the HTTP API decodes into, a sync
/// mutation carries, the SDK queues and applies optimistically, and the simulator drives. The
/// server re-validates every intent against the current state with the same rules.
public enum LeadIntent: Sendable, Equatable {
    /// A workflow action (accept, decline, refer, convert…) with its inputs. `lead.action`
    case act(LeadAction)
    /// Edited fields, each with the value it was edited from. `lead.update`
    case update(LeadUpdate)
    /// A shared note; the id is chosen by the client so its optimistic copy keeps it. `note.add`
    case addNote(id: LeadNote.ID, body: String)
    /// A task on the lead. `activity.schedule`
    case scheduleActivity(ActivitySchedule)
    /// `activity.complete`
    case completeActivity(LeadActivity.ID)
    /// `activity.cancel`
    case cancelActivity(LeadActivity.ID)
    /// A referral of the lead to a partner company (001): its copy lands there. `referral.create`
    case refer(ReferralRequest)

    /// The intent's name on the wire.
    public var name: Mutation.Name {
        switch self {
        case .act: .leadAction
        case .update: .leadUpdate
        case .addNote: .noteAdd
        case .scheduleActivity: .activitySchedule
        case .completeActivity: .activityComplete
        case .cancelActivity: .activityCancel
        case .refer: .referralCreate
        }
    }

    /// The note or activity the intent creates or closes, if any.
    public var recordID: UUID? {
        switch self {
        case .addNote(let id, _): id.rawValue
        case .scheduleActivity(let schedule): schedule.id.rawValue
        case .completeActivity(let id), .cancelActivity(let id): id.rawValue
        case .act, .update, .refer: nil
        }
    }
}

/// Where a lead is referred, and until when its copy may stay unanswered there.
public struct ReferralRequest: Sendable, Equatable {
    /// The partner company the lead goes to.
    public var partnerId: Tenant.ID
    /// When the copy expires unanswered (001: settable); the partner's template's timer otherwise.
    public var expiresAt: Date?

    public init(partnerId: Tenant.ID, expiresAt: Date? = nil) {
        self.partnerId = partnerId
        self.expiresAt = expiresAt
    }
}

/// A workflow action and what the actor supplies with it.
public struct LeadAction: Sendable, Equatable {
    public var action: String
    public var arguments: ActionArguments

    public init(_ action: String, _ arguments: ActionArguments = .init()) {
        self.action = action
        self.arguments = arguments
    }
}

/// The inputs of a workflow action, as the HTTP body of `POST /v1/leads/{id}/actions/{action}` and
/// a `lead.action` mutation's `arguments` carry them.
public struct ActionArguments: Sendable, Codable, Equatable {
    public var reason: String?
    /// The status to move to, for actions that let the actor choose.
    public var status: String?
    /// Refer to this listing (and its hub).
    public var listingId: Listing.ID?
    /// Refer to this advisor of the same hub.
    public var advisorId: User.ID?
    /// Assign this user of the tenant (002: assign to a rep).
    public var assigneeId: User.ID?
    /// Create an opportunity with this action (001: convert).
    public var createOpportunity: Bool?
    /// Link this existing opportunity with this action.
    public var opportunityId: Opportunity.ID?

    public init(
        reason: String? = nil, status: String? = nil, listingId: Listing.ID? = nil, advisorId: User.ID? = nil,
        assigneeId: User.ID? = nil, createOpportunity: Bool? = nil, opportunityId: Opportunity.ID? = nil
    ) {
        self.reason = reason
        self.status = status
        self.listingId = listingId
        self.advisorId = advisorId
        self.assigneeId = assigneeId
        self.createOpportunity = createOpportunity
        self.opportunityId = opportunityId
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case reason, status
        case listingId = "listing_id"
        case advisorId = "advisor_id"
        case assigneeId = "assignee_id"
        case createOpportunity = "create_opportunity"
        case opportunityId = "opportunity_id"
    }

    /// What the workflow engine checks, derived here once for the server and the SDK: a listing makes
    /// it a referral to a listing, an advisor a referral to an advisor (who becomes the assignee), and
    /// creating or linking an opportunity counts as a linked opportunity.
    public var input: ActionInput {
        var input = ActionInput(reason: reason, status: status, opportunity: createOpportunity == true || opportunityId != nil)
        if listingId != nil { input.referralKind = .listing }
        if let advisorId {
            input.referralKind = .advisor
            input.assigneeID = advisorId
        }
        if let assigneeId { input.assigneeID = assigneeId }
        return input
    }
}

/// Field edits of one lead. See `LeadFieldMerge` for how they meet edits that reached the server first.
public struct LeadUpdate: Sendable, Equatable {
    /// The lead version the edits were made on, when the client knows it: equal to the lead's current
    /// version, the edits apply as they are; older, they merge field by field (first value wins, the
    /// losing value is reported); newer than any version the lead had, they are refused.
    public var baseVersion: Int?
    public var changes: [LeadFieldEdit]

    public init(baseVersion: Int? = nil, changes: [LeadFieldEdit]) {
        self.baseVersion = baseVersion
        self.changes = changes
    }
}

/// An activity to schedule on a lead.
public struct ActivitySchedule: Sendable, Equatable {
    public var id: LeadActivity.ID
    public var kind: LeadActivity.Kind
    public var title: String
    public var dueAt: Date?

    public init(id: LeadActivity.ID = LeadActivity.ID(), kind: LeadActivity.Kind, title: String, dueAt: Date? = nil) {
        self.id = id
        self.kind = kind
        self.title = title
        self.dueAt = dueAt
    }
}
