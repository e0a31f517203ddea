import Foundation
import HubNetCore

let t0 = Date(timeIntervalSince1970: 1_800_000_000)
let day: TimeInterval = 86_400

let moderator = WorkflowActor(userID: .init(), roles: [.moderator], side: .owner)
let advisor = WorkflowActor(userID: .init(), roles: [.advisor], side: .owner)
let partnerUser = WorkflowActor(userID: .init(), roles: [.partnerUser], side: .owner)
let sourceModerator = WorkflowActor(userID: .init(), roles: [.moderator, .admin], side: .source)

extension WorkflowTemplate {
    /// The keys of the buttons `actor` sees on `lead`.
    func buttons(_ lead: LeadState, _ actor: WorkflowActor, now: Date = t0) -> [String] {
        WorkflowEngine.availableActions(self, lead: lead, actor: actor, now: now).map(\.key)
    }

    /// Applies the actions in order and returns the final state; fails the test on a refusal.
    func run(_ steps: [(String, ActionInput)], by actor: WorkflowActor, from lead: LeadState? = nil, at now: Date = t0)
        throws -> LeadState
    {
        var state = lead ?? LeadState.new(self, createdAt: t0)
        for (action, input) in steps {
            state = try WorkflowEngine.decide(self, lead: state, actor: actor, action: action, input: input, now: now).state
        }
        return state
    }

    func refusal(_ action: String, on lead: LeadState, by actor: WorkflowActor, input: ActionInput = .init()) -> WorkflowRefusal.Code? {
        do {
            _ = try WorkflowEngine.decide(self, lead: lead, actor: actor, action: action, input: input, now: t0)
            return nil
        } catch {
            return error.code
        }
    }
}

let listingReferral = ActionInput(referralKind: .listing)
let advisorReferral = ActionInput(referralKind: .advisor)
