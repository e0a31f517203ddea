import Foundation

/// Where a lead stands in its life, whatever the template calls its statuses.
public enum LifeCycle: String, Sendable, Codable, CaseIterable {
    /// Waiting for the receiving side to act (new, pending, contacted, referred).
    case pending
    /// Being worked (accepted, in progress, waiting for information).
    case inProgress = "in_progress"
    /// Closed with the hoped-for outcome (won, converted, treated).
    case won
    /// Closed without it (declined, lost, not converted, abandoned).
    case lost
    /// Closed because it should not have existed.
    case cancelled
    /// Closed because nobody acted in time.
    case expired

    public var isClosed: Bool { self != .pending && self != .inProgress }
}

/// A lead workflow as data: statuses mapped to life-cycle states, ordered stages, actions with
/// guards and effects, and timer rules. Tenants get the built-in ones and may edit copies.
public struct WorkflowTemplate: Sendable, Codable, Equatable {
    public var key: String
    public var name: String
    public var statuses: [Status]
    public var stages: [Stage]
    public var initialStatus: String
    public var actions: [Action]
    public var timers: Timers
    /// Whether the badges show only until the first action (hub moderation) or while the lead is open.
    public var badgesUntilFirstAction: Bool
    /// Life-cycle states in which a lead may be deleted (003: only Pending).
    public var deletableIn: [LifeCycle]

    public init(
        key: String, name: String, statuses: [Status], stages: [Stage] = [], initialStatus: String,
        actions: [Action], timers: Timers = .init(), badgesUntilFirstAction: Bool = false,
        deletableIn: [LifeCycle] = [.pending]
    ) {
        self.key = key
        self.name = name
        self.statuses = statuses
        self.stages = stages
        self.initialStatus = initialStatus
        self.actions = actions
        self.timers = timers
        self.badgesUntilFirstAction = badgesUntilFirstAction
        self.deletableIn = deletableIn
    }

    public struct Status: Sendable, Codable, Equatable {
        public var key: String
        public var name: String
        public var lifeCycle: LifeCycle
        /// The stage this status belongs to, if the template has stages.
        public var stage: String?
        /// Whether a lead in this status is listed in the lead-management table (000: an accepted
        /// lead moves to the hub CRM instead).
        public var inLeadTable: Bool

        public init(key: String, name: String, lifeCycle: LifeCycle, stage: String? = nil, inLeadTable: Bool = true) {
            self.key = key
            self.name = name
            self.lifeCycle = lifeCycle
            self.stage = stage
            self.inLeadTable = inLeadTable
        }
    }

    public struct Stage: Sendable, Codable, Equatable {
        public var key: String
        public var name: String
        /// Position in the funnel, ascending.
        public var order: Int
        /// Remind the assignee after this many days without an action in this stage (002).
        public var reminderDays: Int?

        public init(key: String, name: String, order: Int, reminderDays: Int? = nil) {
            self.key = key
            self.name = name
            self.order = order
            self.reminderDays = reminderDays
        }
    }

    /// Something a person (or the system) can do to a lead.
    public struct Action: Sendable, Codable, Equatable {
        public var key: String
        public var name: String
        /// From which statuses the action is offered, and where each leads.
        public var transitions: [Transition]
        public var requirements: [Requirement]
        public var effects: [Effect]
        /// Done by timers only, never offered to a person.
        public var systemOnly: Bool

        public init(
            key: String, name: String, transitions: [Transition], requirements: [Requirement] = [],
            effects: [Effect] = [], systemOnly: Bool = false
        ) {
            self.key = key
            self.name = name
            self.transitions = transitions
            self.requirements = requirements
            self.effects = effects
            self.systemOnly = systemOnly
        }
    }

    public struct Transition: Sendable, Codable, Equatable {
        public var from: [String]
        public var to: Target

        public init(from: [String], to: Target) {
            self.from = from
            self.to = to
        }
    }

    public enum Target: Sendable, Codable, Equatable {
        case status(String)
        /// The status does not change (000: contacting an accepted lead keeps it Accepted).
        case stay
        /// The first status of the next or previous stage in the funnel's order (002).
        case nextStage
        case previousStage
        /// A status the actor names in the action's input, among these (002: free statuses).
        case chosen([String])
    }

    /// What must hold for an action to be allowed.
    public enum Requirement: Sendable, Codable, Equatable {
        /// The actor has one of these roles.
        case anyRole([Role])
        /// A reason is given (decline reason, lost reason).
        case reason
        /// An opportunity is linked to the lead, or one is created by the action (001).
        case linkedOpportunity
        /// Every activity of the lead is completed or cancelled (003).
        case activitiesClosed
        /// The actor is a member of the unit the lead is assigned to, or its assignee (003).
        case unitMemberOrAssignee
        /// No user is assigned yet (003: accept by a unit member).
        case unassigned
        /// The input names a referral target of this kind.
        case referralTarget(ReferralKind)
        /// The input names the user to assign (002: assign to a rep).
        case assignee
    }

    public enum ReferralKind: String, Sendable, Codable, Equatable {
        /// To a resource listing and its hub (000: before acceptance).
        case listing
        /// To an advisor of the same hub (000: after acceptance).
        case advisor
        /// To a partner company (001).
        case partner
    }

    /// What an action does besides moving the status.
    public enum Effect: String, Sendable, Codable, Equatable {
        /// The lead becomes a client of the hub CRM (name, email, city).
        case addToCRM = "add_to_crm"
        case archive
        /// The creator of the referral that brought the lead is told (000).
        case notifyReferralCreator = "notify_referral_creator"
        case notifyAssignee = "notify_assignee"
        case recordAcceptance = "record_acceptance"
        case recordDecline = "record_decline"
        /// The expiry counter restarts from now with the template's after-acceptance days (001).
        case restartExpiryAfterAcceptance = "restart_expiry_after_acceptance"
        case linkOpportunity = "link_opportunity"
        case assignToActor = "assign_to_actor"
        /// The user named in the input becomes the assignee.
        case assignToChosenUser = "assign_to_chosen_user"
        case refer
    }

    public struct Timers: Sendable, Codable, Equatable {
        /// A pending lead expires this many days after creation unless its own expiry says otherwise (001: 7).
        public var expireAfterDaysPending: Int?
        /// An accepted lead expires this many days after acceptance (001: 30).
        public var expireAfterDaysAccepted: Int?
        /// Best practice: close within this many days of creation (004: 5).
        public var targetCloseDays: Int?
        /// At most this many days open (004: 30).
        public var maximumOpenDays: Int?
        /// Expected completion this many days after creation when not given (003: the type's estimate).
        public var expectedCompletionDays: Int?

        public init(
            expireAfterDaysPending: Int? = nil, expireAfterDaysAccepted: Int? = nil, targetCloseDays: Int? = nil,
            maximumOpenDays: Int? = nil, expectedCompletionDays: Int? = nil
        ) {
            self.expireAfterDaysPending = expireAfterDaysPending
            self.expireAfterDaysAccepted = expireAfterDaysAccepted
            self.targetCloseDays = targetCloseDays
            self.maximumOpenDays = maximumOpenDays
            self.expectedCompletionDays = expectedCompletionDays
        }
    }

    public func status(_ key: String) -> Status? { statuses.first { $0.key == key } }
    public func action(_ key: String) -> Action? { actions.first { $0.key == key } }
    /// Stages in funnel order.
    public var orderedStages: [Stage] { stages.sorted { $0.order < $1.order } }
}
