import Foundation
import HubNetCore
import Testing

/// Seed 002, "Stages a Lead goes through": statuses grouped into ordered stages.
@Suite("Seed 002: staged pipeline")
struct StagedPipelineRulesTests {
    let template = BuiltInTemplates.stagedPipeline
    let rep = WorkflowActor(userID: .init(), roles: [.partnerUser], side: .owner)

    @Test("a new lead is marked Added, the very first status")
    func startsAdded() {
        #expect(LeadState.new(template, createdAt: t0).status == "added")
    }

    @Test("move to the next stage, and come back to the previous one")
    func moveForwardAndBack() throws {
        let negotiating = try template.run([("move_to_next_stage", .init())], by: rep)
        #expect(template.status(negotiating.status)?.stage == "negotiation")
        let legal = try template.run([("move_to_next_stage", .init())], by: rep, from: negotiating)
        #expect(template.status(legal.status)?.stage == "legal")
        let back = try template.run([("move_to_previous_stage", .init())], by: rep, from: legal)
        #expect(template.status(back.status)?.stage == "negotiation")
        #expect(template.refusal("move_to_previous_stage", on: LeadState.new(template, createdAt: t0), by: rep) == .actionNotAvailable)
    }

    @Test("stage order is data: reordering the stages changes where next leads")
    func reorderedStages() throws {
        var reordered = template
        reordered.stages = reordered.stages.map { stage in
            var stage = stage
            if stage.key == "legal" { stage.order = 2 } else if stage.key == "negotiation" { stage.order = 3 }
            return stage
        }
        let next = try reordered.validated().run([("move_to_next_stage", .init())], by: rep)
        #expect(reordered.status(next.status)?.stage == "legal")
    }

    @Test("statuses change freely among the open ones")
    func freeStatuses() throws {
        let state = try template.run([("set_status", .init(status: "proposal_sent"))], by: rep)
        #expect(state.status == "proposal_sent")
        #expect(template.refusal("set_status", on: state, by: rep, input: .init(status: "executed")) == .statusRequired)
    }

    @Test("assigning a lead names the rep, who becomes its assignee and is notified")
    func assignment() throws {
        let lead = LeadState.new(template, createdAt: t0)
        #expect(template.refusal("assign", on: lead, by: rep) == .assigneeRequired)
        let repID = User.ID()
        let decision = try WorkflowEngine.decide(template, lead: lead, actor: rep, action: "assign", input: .init(assigneeID: repID), now: t0)
        #expect(decision.state.assignedUserID == repID)
        #expect(decision.effects.contains(.notifyAssignee))
    }

    @Test("each stage has an inactivity reminder interval")
    func reminders() {
        #expect(template.stages.allSatisfy { ($0.reminderDays ?? 0) > 0 })
    }
}

/// Seed 003, "Learn to work with Leads": the life-cycle states and their prerequisites.
@Suite("Seed 003: life cycle")
struct LifeCycleRulesTests {
    let template = BuiltInTemplates.lifeCycle
    let member = WorkflowActor(userID: .init(), roles: [.partnerUser], side: .owner)
    let outsider = WorkflowActor(userID: .init(), roles: [.partnerUser], side: .owner)
    var assignedToUnit: LeadState {
        var lead = LeadState.new(template, createdAt: t0)
        lead.assignedUnitMembers = [member.userID!]
        return lead
    }

    @Test("a lead assigned to a unit is accepted by a member of that unit")
    func acceptByUnitMember() throws {
        #expect(template.refusal("accept", on: assignedToUnit, by: outsider) == .notAssigned)
        let accepted = try template.run([("accept", .init())], by: member, from: assignedToUnit)
        #expect(accepted.assignedUserID == member.userID)
        #expect(accepted.status == "pending")
        #expect(!template.buttons(accepted, member).contains("accept"))
    }

    @Test("start progress moves Pending to In Progress")
    func startProgress() throws {
        #expect(try template.run([("start_progress", .init())], by: member, from: assignedToUnit).status == "in_progress")
    }

    @Test("win, lose and cancel need every activity completed or cancelled")
    func activitiesMustBeClosed() throws {
        var working = try template.run([("start_progress", .init())], by: member, from: assignedToUnit)
        working.openActivities = 2
        #expect(template.refusal("win", on: working, by: member) == .activitiesOpen)
        #expect(template.refusal("lose", on: working, by: member, input: .init(reason: "price")) == .activitiesOpen)
        #expect(template.refusal("cancel", on: working, by: member) == .activitiesOpen)
        working.openActivities = 0
        #expect(try template.run([("win", .init())], by: member, from: working).status == "won")
    }

    @Test("losing a lead needs a lost reason")
    func lostReason() throws {
        let working = try template.run([("start_progress", .init())], by: member, from: assignedToUnit)
        #expect(template.refusal("lose", on: working, by: member) == .reasonRequired)
        #expect(try template.run([("lose", .init(reason: "competitor"))], by: member, from: working).status == "lost")
    }

    @Test("the actual completion date is set when the lead completes")
    func completionDate() throws {
        let working = try template.run([("start_progress", .init())], by: member, from: assignedToUnit)
        let won = try template.run([("win", .init())], by: member, from: working, at: t0 + 3 * day)
        #expect(won.completedAt == t0 + 3 * day)
        #expect(working.completedAt == nil)
    }

    @Test("only Pending leads can be deleted")
    func deletion() throws {
        #expect(WorkflowEngine.canDelete(template, lead: assignedToUnit))
        let working = try template.run([("start_progress", .init())], by: member, from: assignedToUnit)
        #expect(!WorkflowEngine.canDelete(template, lead: working))
    }

    @Test("time to completion and time overdue follow the expected completion date")
    func derivedDates() {
        var lead = assignedToUnit
        lead.expectedCompletionAt = t0 + 10 * day
        let early = LeadSchedule.of(lead, template: template, now: t0 + 4 * day)
        #expect(early.timeToCompletion == 6 * day)
        #expect(early.timeOverdue == nil)
        let late = LeadSchedule.of(lead, template: template, now: t0 + 12 * day)
        #expect(late.isOverdue)
        #expect(late.timeOverdue == 2 * day)
        #expect(late.timeToCompletion == nil)
    }
}

/// Seed 004, "Status Path": open and closing statuses, five days' target, thirty at most.
@Suite("Seed 004: status path")
struct StatusPathRulesTests {
    let template = BuiltInTemplates.statusPath
    let agent = WorkflowActor(userID: .init(), roles: [.partnerUser], side: .owner)

    @Test("waiting for more information is an open status you can mark and leave")
    func waitingForInformation() throws {
        let waiting = try template.run([("wait_for_information", .init())], by: agent)
        #expect(waiting.status == "waiting_for_information")
        #expect(template.status(waiting.status)?.lifeCycle.isClosed == false)
        #expect(try template.run([("start_working", .init())], by: agent, from: waiting).status == "working")
    }

    @Test(
        "a lead closes as Converted, Treated, Passed to Distribution or Abandoned",
        arguments: [
            ("close_converted", "converted"), ("close_treated", "treated"),
            ("close_passed_to_distribution", "passed_to_distribution"), ("close_abandoned", "abandoned"),
        ])
    func closingStatuses(action: String, status: String) throws {
        let closed = try template.run([(action, .init())], by: agent)
        #expect(closed.status == status)
        #expect(template.status(status)?.lifeCycle.isClosed == true)
        #expect(template.buttons(closed, agent).isEmpty)
    }

    @Test("a lead shows a five-day target close and a thirty-day maximum")
    func targets() {
        let schedule = LeadSchedule.of(LeadState.new(template, createdAt: t0), template: template, now: t0)
        #expect(schedule.targetCloseAt == t0 + 5 * day)
        #expect(schedule.maximumOpenAt == t0 + 30 * day)
        #expect(LeadSchedule.of(LeadState.new(template, createdAt: t0), template: template, now: t0 + 6 * day).isOverdue)
    }
}

@Suite("Workflow templates")
struct WorkflowTemplateTests {
    @Test("every built-in template is consistent", arguments: BuiltInTemplates.all.map(\.key))
    func builtInsValidate(key: String) throws {
        _ = try #require(BuiltInTemplates.named(key)).validated()
    }

    @Test("an inconsistent template is refused with the reason")
    func inconsistent() {
        var template = BuiltInTemplates.partnerLead
        template.initialStatus = "nowhere"
        #expect { try template.validated() } throws: { ($0 as? DomainError)?.field == "initial_status" }
        template = BuiltInTemplates.partnerLead
        template.actions[0].transitions[0].to = .status("ghost")
        #expect { try template.validated() } throws: { ($0 as? DomainError)?.field == "actions[0].transitions[0].to" }
        template = BuiltInTemplates.statusPath
        template.timers.targetCloseDays = 40
        #expect { try template.validated() } throws: { ($0 as? DomainError)?.field == "timers.target_close_days" }
        template = BuiltInTemplates.stagedPipeline
        template.stages[1].order = template.stages[0].order
        #expect { try template.validated() } throws: { ($0 as? DomainError)?.field == "stages[1].order" }
    }

    @Test("renamed statuses and stages keep the rules")
    func renaming() throws {
        var template = BuiltInTemplates.hubModeration
        template.statuses[0].name = "Incoming"
        let lead = LeadState.new(try template.validated(), createdAt: t0)
        #expect(template.buttons(lead, moderator) == ["accept", "decline", "refer_external", "contact"])
    }

    @Test("a template survives its round trip through JSON")
    func codable() throws {
        for template in BuiltInTemplates.all {
            let decoded = try JSONDecoder().decode(WorkflowTemplate.self, from: JSONEncoder().encode(template))
            #expect(decoded == template)
        }
    }
}
