import Foundation

/// How a person's workflow action on a lead is decided, in one place for every path that takes one
/// — the HTTP API's (`LeadCommands.act`) and a push's batch (`LeadBatch`): the people it names,
/// the workflow engine with the tenant's offline grace, the reason's limit.
public enum ActionDecision {
    /// Decides `action` on `lead` by `caller`, or refuses it with the error the API reports.
    /// - Parameter lastEntry: the lead's last history entry (what offline grace looks at).
    /// - Parameter people: the tenant's users the action names, by id (one missing is no user of
    ///   the tenant).
    /// - Parameter actedAt: when the device says the user acted; `grace`: the tenant's offline
    ///   grace in seconds (0 over HTTP: no grace).
    public static func decide(
        _ action: LeadAction, on lead: Lead, template: WorkflowTemplate, lastEntry: LeadHistoryEntry?, caller: AuthenticatedUser,
        people: [User.ID: User], actedAt: Date?, grace: TimeInterval, now: Date
    ) throws(DomainError) -> (decision: WorkflowEngine.Decision, reason: String?) {
        let arguments = action.arguments
        var input = arguments.input
        if let advisorID = arguments.advisorId {
            guard let advisor = people[advisorID], advisor.isActive, advisor.roles.contains(.advisor) else {
                throw DomainError.invalid("advisor_id", "names no active advisor of this hub")
            }
            input.assigneeID = advisor.id
        }
        if let assigneeID = arguments.assigneeId {
            guard let assignee = people[assigneeID], assignee.isActive else {
                throw DomainError.invalid("assignee_id", "names no active user of this tenant")
            }
            input.assigneeID = assignee.id
        }
        let actor = WorkflowActor.owner(caller)
        var decision: WorkflowEngine.Decision
        do throws(WorkflowRefusal) {
            var state = lead.state
            var decidedAt = now
            if grace > 0 {
                (state, decidedAt) = OfflineGrace.evaluation(
                    of: lead.state, lastEntry: lastEntry, template: template, actedAt: actedAt, now: now, grace: grace)
            }
            decision = try WorkflowEngine.decide(template, lead: state, actor: actor, action: action.action, input: input, now: decidedAt)
            if decidedAt != now, !OfflineGrace.stands(decision.state, now: now) {
                decision = try WorkflowEngine.decide(template, lead: lead.state, actor: actor, action: action.action, input: input, now: now)
            }
        } catch {
            throw error.domainError
        }
        let reason = try Validate.optionalText(arguments.reason, field: "reason", max: 2000)
        return (decision, reason)
    }

    /// The users an action names (an advisor, an assignee), to read before deciding it.
    public static func named(by action: LeadAction) -> [User.ID] {
        [action.arguments.advisorId, action.arguments.assigneeId].compactMap { $0 }
    }
}
