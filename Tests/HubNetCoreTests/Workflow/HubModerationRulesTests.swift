import Foundation
import HubNetCore
import Testing

/// Seed 000, "Actioning Leads": the moderator's four actions and how each changes the others.
@Suite("Seed 000: hub moderation")
struct HubModerationRulesTests {
    let template = BuiltInTemplates.hubModeration
    var new: LeadState { LeadState.new(template, createdAt: t0) }

    @Test("a new lead offers accept, decline, refer and contact")
    func newLeadOffersFourActions() {
        #expect(template.buttons(new, moderator) == ["accept", "decline", "refer_external", "contact"])
    }

    @Test("after decline no further actions can be taken")
    func declinedOffersNothing() throws {
        let declined = try template.run([("decline", .init())], by: moderator)
        #expect(declined.status == "declined")
        #expect(template.buttons(declined, moderator).isEmpty)
        #expect(template.refusal("accept", on: declined, by: moderator) == .actionNotAvailable)
    }

    @Test("a declined lead is not added to the hub CRM and stays in the lead table")
    func declinedStaysOutOfCRM() throws {
        let declined = try template.run([("decline", .init())], by: moderator)
        #expect(!declined.inCRM)
        #expect(template.status(declined.status)?.inLeadTable == true)
    }

    @Test("after accept, accept and decline disappear and refer and contact remain")
    func acceptedOffersReferAndContact() throws {
        let accepted = try template.run([("accept", .init())], by: moderator)
        #expect(accepted.status == "accepted")
        #expect(template.buttons(accepted, moderator) == ["refer_internal", "contact"])
    }

    @Test("an accepted lead joins the hub CRM and leaves the lead table")
    func acceptedJoinsCRM() throws {
        let accepted = try template.run([("accept", .init())], by: moderator)
        #expect(accepted.inCRM)
        #expect(template.status(accepted.status)?.inLeadTable == false)
    }

    @Test("a refer before acceptance leaves accept, refer and contact, and sets the status Referred")
    func referBeforeAcceptance() throws {
        let referred = try template.run([("refer_external", listingReferral)], by: moderator)
        #expect(referred.status == "referred")
        #expect(!referred.inCRM)
        #expect(template.buttons(referred, moderator) == ["accept", "refer_external", "contact"])
    }

    @Test("a refer after acceptance keeps the status Accepted")
    func referAfterAcceptanceKeepsAccepted() throws {
        let state = try template.run([("accept", .init()), ("refer_internal", advisorReferral)], by: moderator)
        #expect(state.status == "accepted")
    }

    @Test("internal referral only after acceptance, external referral to a listing only before it")
    func referralKindsByTiming() throws {
        #expect(template.refusal("refer_internal", on: new, by: moderator, input: advisorReferral) == .actionNotAvailable)
        let accepted = try template.run([("accept", .init())], by: moderator)
        #expect(template.refusal("refer_external", on: accepted, by: moderator, input: listingReferral) == .actionNotAvailable)
        #expect(template.refusal("refer_external", on: new, by: moderator, input: advisorReferral) == .referralTargetRequired)
    }

    @Test("contact as a first action sets Contacted and keeps every action")
    func contactKeepsEverything() throws {
        let contacted = try template.run([("contact", .init())], by: moderator)
        #expect(contacted.status == "contacted")
        #expect(template.buttons(contacted, moderator) == template.buttons(new, moderator))
    }

    @Test("contact after accept or refer follows the accepted or referred flow")
    func contactAfterwardsKeepsStatus() throws {
        #expect(try template.run([("accept", .init()), ("contact", .init())], by: moderator).status == "accepted")
        #expect(try template.run([("refer_external", listingReferral), ("contact", .init())], by: moderator).status == "referred")
    }

    @Test(
        "accept, decline and contact notify the referral's creator; an external refer does not",
        arguments: [("accept", true), ("decline", true), ("contact", true), ("refer_external", false)])
    func notifications(action: String, notifies: Bool) throws {
        let input = action == "refer_external" ? listingReferral : ActionInput()
        let decision = try WorkflowEngine.decide(template, lead: new, actor: moderator, action: action, input: input, now: t0)
        #expect(decision.effects.contains(.notifyReferralCreator) == notifies)
    }

    @Test("the New badge shows until the first action, the Overdue badge once the lead is late and unanswered")
    func badges() throws {
        #expect(LeadSchedule.of(new, template: template, now: t0).isNew)
        #expect(!LeadSchedule.of(new, template: template, now: t0).isOverdue)
        #expect(LeadSchedule.of(new, template: template, now: t0 + 6 * day).isOverdue)
        let contacted = try template.run([("contact", .init())], by: moderator)
        let later = LeadSchedule.of(contacted, template: template, now: t0 + 6 * day)
        #expect(!later.isNew)
        #expect(!later.isOverdue)
    }

    @Test("the referring hub sees the lead but can never act on it")
    func sourceCannotAct() {
        #expect(template.buttons(new, sourceModerator).isEmpty)
        #expect(template.refusal("accept", on: new, by: sourceModerator) == .sourceCannotAct)
    }

    @Test("only moderators act on incoming leads; an advisor may only contact")
    func rolesOfTheHub() {
        #expect(template.buttons(new, advisor) == ["contact"])
        #expect(template.refusal("accept", on: new, by: advisor) == .roleNotAllowed)
    }
}
