import Foundation

/// The rules of a workflow template applied to one lead: which actions an actor may take, and
/// what taking one does. Pure: the same engine runs on the server and in offline clients.
public enum WorkflowEngine {
    /// The outcome of an allowed action.
    public struct Decision: Sendable, Equatable {
        public var action: String
        public var from: String
        public var to: String
        public var state: LeadState
        public var effects: [WorkflowTemplate.Effect]
    }

    /// The actions `actor` may take now, in the template's order: exactly the buttons to show.
    public static func availableActions(
        _ template: WorkflowTemplate, lead: LeadState, actor: WorkflowActor, now: Date
    ) -> [WorkflowTemplate.Action] {
        template.actions.filter { action in
            guard !action.systemOnly else { return false }
            return (try? check(template, action, lead: lead, actor: actor, input: nil)) != nil
        }
    }

    /// Takes `actionKey` on the lead, or refuses with a reason.
    public static func decide(
        _ template: WorkflowTemplate, lead: LeadState, actor: WorkflowActor, action actionKey: String,
        input: ActionInput = .init(), now: Date
    ) throws(WorkflowRefusal) -> Decision {
        guard let action = template.action(actionKey) else {
            throw WorkflowRefusal(.unknownAction, "this workflow has no action '\(actionKey)'")
        }
        if action.systemOnly && actor.side != .system {
            throw WorkflowRefusal(.actionNotAvailable, "\(action.name) happens automatically")
        }
        let target = try check(template, action, lead: lead, actor: actor, input: input)
        let to: String
        switch target {
        case .status(let key): to = key
        case .stay: to = lead.status
        case .nextStage, .previousStage:
            guard let key = stageNeighbour(template, of: lead.status, forward: target == .nextStage) else {
                throw WorkflowRefusal(.actionNotAvailable, "there is no \(target == .nextStage ? "next" : "previous") stage")
            }
            to = key
        case .chosen(let allowed):
            guard let chosen = input.status, allowed.contains(chosen), chosen != lead.status else {
                throw WorkflowRefusal(.statusRequired, "choose one of: \(allowed.filter { $0 != lead.status }.joined(separator: ", "))")
            }
            to = chosen
        }

        var state = lead
        state.status = to
        state.lastActionAt = now
        for effect in action.effects {
            switch effect {
            case .recordAcceptance: state.acceptedAt = now
            case .recordDecline: state.declinedAt = now
            case .archive: state.archived = true
            case .addToCRM: state.inCRM = true
            case .linkOpportunity: state.opportunityLinked = true
            case .assignToActor: state.assignedUserID = actor.userID
            case .assignToChosenUser: state.assignedUserID = input.assigneeID ?? state.assignedUserID
            case .restartExpiryAfterAcceptance:
                state.expiresAt = template.timers.expireAfterDaysAccepted.map { now + Double($0) * 86_400 }
            case .notifyReferralCreator, .notifyAssignee, .refer: break
            }
        }
        if let lifeCycle = template.status(to)?.lifeCycle, lifeCycle.isClosed, state.completedAt == nil {
            state.completedAt = now
            state.expiresAt = nil
        }
        return Decision(action: action.key, from: lead.status, to: to, state: state, effects: action.effects)
    }

    /// Whether a lead in this state may be deleted (003: only Pending leads).
    public static func canDelete(_ template: WorkflowTemplate, lead: LeadState) -> Bool {
        guard let status = template.status(lead.status) else { return false }
        return template.deletableIn.contains(status.lifeCycle)
    }

    /// The first guard that fails, as a refusal; otherwise the transition's target.
    private static func check(
        _ template: WorkflowTemplate, _ action: WorkflowTemplate.Action, lead: LeadState, actor: WorkflowActor,
        input: ActionInput?
    ) throws(WorkflowRefusal) -> WorkflowTemplate.Target {
        if actor.side == .source { throw VisibilityPolicy.sourceRefusal }
        guard let transition = action.transitions.first(where: { $0.from.contains(lead.status) }) else {
            let status = template.status(lead.status)?.name ?? lead.status
            throw WorkflowRefusal(.actionNotAvailable, "\(action.name) is not available for a lead that is \(status)")
        }
        for requirement in action.requirements {
            switch requirement {
            case .anyRole(let roles):
                if actor.side != .system && actor.roles.isDisjoint(with: roles) {
                    throw WorkflowRefusal(
                        .roleNotAllowed, "\(action.name) needs the role \(roles.map(\.rawValue).joined(separator: " or "))")
                }
            case .unassigned:
                if lead.assignedUserID != nil {
                    throw WorkflowRefusal(.actionNotAvailable, "the lead is already assigned to a user")
                }
            case .unitMemberOrAssignee:
                guard actor.side == .system || isMemberOrAssignee(lead, actor) else {
                    throw WorkflowRefusal(.notAssigned, "only a member of the lead's unit or its assignee may do this")
                }
            case .activitiesClosed where lead.openActivities > 0:
                throw WorkflowRefusal(
                    .activitiesOpen, "complete or cancel the lead's \(lead.openActivities) open activit\(lead.openActivities == 1 ? "y" : "ies") first")
            case .activitiesClosed: break
            case .reason:
                // The list of buttons does not know the input yet; only a real attempt is checked.
                if let input, (input.reason ?? "").trimmingWhitespaceAndNewlines().isEmpty {
                    throw WorkflowRefusal(.reasonRequired, "\(action.name) needs a reason")
                }
            case .linkedOpportunity:
                if let input, !lead.opportunityLinked && !input.opportunity {
                    throw WorkflowRefusal(.opportunityRequired, "\(action.name) needs a linked opportunity: link one or create one")
                }
            case .assignee:
                if let input, input.assigneeID == nil {
                    throw WorkflowRefusal(.assigneeRequired, "\(action.name) needs the user to assign")
                }
            case .referralTarget(let kind):
                if let input, input.referralKind != kind {
                    throw WorkflowRefusal(.referralTargetRequired, "\(action.name) refers to a \(kind.rawValue)")
                }
            }
        }
        return transition.to
    }

    private static func isMemberOrAssignee(_ lead: LeadState, _ actor: WorkflowActor) -> Bool {
        guard let userID = actor.userID else { return false }
        if lead.assignedUserID == userID { return true }
        return lead.assignedUserID == nil && (lead.assignedUnitMembers?.contains(userID) ?? true)
    }

    private static func stageNeighbour(_ template: WorkflowTemplate, of status: String, forward: Bool) -> String? {
        let stages = template.orderedStages
        guard let current = template.status(status)?.stage, let index = stages.firstIndex(where: { $0.key == current })
        else { return nil }
        let next = forward ? index + 1 : index - 1
        guard stages.indices.contains(next) else { return nil }
        return template.statuses.first { $0.stage == stages[next].key && !$0.lifeCycle.isClosed }?.key
    }
}

/// Why the rules refuse an action, with a stable code.
public struct WorkflowRefusal: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable {
        case unknownAction = "unknown_action"
        case actionNotAvailable = "action_not_available"
        case sourceCannotAct = "source_cannot_act"
        case roleNotAllowed = "role_not_allowed"
        case notAssigned = "not_assigned"
        case activitiesOpen = "activities_open"
        case reasonRequired = "reason_required"
        case opportunityRequired = "opportunity_required"
        case referralTargetRequired = "referral_target_required"
        case statusRequired = "status_required"
        case assigneeRequired = "assignee_required"
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }

    /// The same refusal as the API reports it.
    public var domainError: DomainError {
        switch code {
        case .sourceCannotAct, .roleNotAllowed, .notAssigned: .forbidden(message, code: code.rawValue)
        case .reasonRequired, .opportunityRequired, .referralTargetRequired, .statusRequired, .assigneeRequired, .unknownAction:
            DomainError(kind: .invalid, code: code.rawValue, message: message)
        case .actionNotAvailable, .activitiesOpen: .conflict(code.rawValue, message)
        }
    }
}
