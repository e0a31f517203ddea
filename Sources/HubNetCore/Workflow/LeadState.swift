import Foundation

/// What the workflow rules need to know about a lead.
public struct LeadState: Sendable, Codable, Equatable {
    public var status: String
    public var createdAt: Date
    /// When the last person acted on it; `nil` while nobody has.
    public var lastActionAt: Date?
    public var acceptedAt: Date?
    public var declinedAt: Date?
    /// Set when the life cycle reaches a closed state (003: actual completion date).
    public var completedAt: Date?
    public var expiresAt: Date?
    public var expectedCompletionAt: Date?
    public var opportunityLinked: Bool
    public var openActivities: Int
    public var assignedUnitMembers: Set<User.ID>?
    public var assignedUserID: User.ID?
    public var archived: Bool
    public var inCRM: Bool
    /// When the assignee was last reminded of the lead (002).
    public var remindedAt: Date?

    public init(
        status: String, createdAt: Date, lastActionAt: Date? = nil, acceptedAt: Date? = nil, declinedAt: Date? = nil,
        completedAt: Date? = nil, expiresAt: Date? = nil, expectedCompletionAt: Date? = nil,
        opportunityLinked: Bool = false, openActivities: Int = 0, assignedUnitMembers: Set<User.ID>? = nil,
        assignedUserID: User.ID? = nil, archived: Bool = false, inCRM: Bool = false, remindedAt: Date? = nil
    ) {
        self.status = status
        self.createdAt = createdAt
        self.lastActionAt = lastActionAt
        self.acceptedAt = acceptedAt
        self.declinedAt = declinedAt
        self.completedAt = completedAt
        self.expiresAt = expiresAt
        self.expectedCompletionAt = expectedCompletionAt
        self.opportunityLinked = opportunityLinked
        self.openActivities = openActivities
        self.assignedUnitMembers = assignedUnitMembers
        self.assignedUserID = assignedUserID
        self.archived = archived
        self.inCRM = inCRM
        self.remindedAt = remindedAt
    }

    /// A new lead of `template`, with its dates derived from the template's timers unless given.
    public static func new(
        _ template: WorkflowTemplate, createdAt: Date, expiresAt: Date? = nil, expectedCompletionAt: Date? = nil
    ) -> LeadState {
        let day: TimeInterval = 86_400
        return LeadState(
            status: template.initialStatus, createdAt: createdAt,
            expiresAt: expiresAt ?? template.timers.expireAfterDaysPending.map { createdAt + Double($0) * day },
            expectedCompletionAt: expectedCompletionAt
                ?? (template.timers.expectedCompletionDays ?? template.timers.targetCloseDays).map {
                    createdAt + Double($0) * day
                })
    }
}

/// Who acts, as the workflow sees them.
public struct WorkflowActor: Sendable, Equatable {
    public enum Side: String, Sendable, Equatable {
        /// The tenant that holds the lead and works it.
        case owner
        /// The tenant (or user) that referred or distributed the lead: sees it, never acts on it.
        case source
        /// Timers and other automatic rules.
        case system
    }

    public var userID: User.ID?
    public var roles: Set<Role>
    public var side: Side

    public init(userID: User.ID?, roles: Set<Role>, side: Side) {
        self.userID = userID
        self.roles = roles
        self.side = side
    }

    public static let system = WorkflowActor(userID: nil, roles: [], side: .system)
}

/// What the actor supplies with an action.
public struct ActionInput: Sendable, Codable, Equatable {
    public var reason: String?
    /// The status chosen for a `chosen` target.
    public var status: String?
    public var referralKind: WorkflowTemplate.ReferralKind?
    /// Whether the action creates (or links) an opportunity.
    public var opportunity: Bool
    /// The user to assign, for actions that assign.
    public var assigneeID: User.ID?

    public init(
        reason: String? = nil, status: String? = nil, referralKind: WorkflowTemplate.ReferralKind? = nil,
        opportunity: Bool = false, assigneeID: User.ID? = nil
    ) {
        self.reason = reason
        self.status = status
        self.referralKind = referralKind
        self.opportunity = opportunity
        self.assigneeID = assigneeID
    }
}

extension WorkflowActor {
    /// A signed-in person as the workflow sees them: on the owning side of their own tenant's leads.
    public static func owner(_ caller: AuthenticatedUser) -> WorkflowActor {
        WorkflowActor(userID: caller.userID, roles: caller.roles, side: .owner)
    }
}
