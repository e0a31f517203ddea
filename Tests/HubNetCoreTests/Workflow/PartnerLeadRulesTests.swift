import Foundation
import HubNetCore
import Testing

/// Seed 001, "Lead Workflow": partners accept or decline, convert to an opportunity, or let it expire.
@Suite("Seed 001: partner lead")
struct PartnerLeadRulesTests {
    let template = BuiltInTemplates.partnerLead
    var pending: LeadState { LeadState.new(template, createdAt: t0) }

    @Test("a lead is submitted Pending")
    func startsPending() {
        #expect(pending.status == "pending")
        #expect(template.buttons(pending, partnerUser) == ["accept", "decline"])
    }

    @Test("accepting records the acceptance date")
    func acceptanceDate() throws {
        let accepted = try template.run([("accept", .init())], by: partnerUser, at: t0 + day)
        #expect(accepted.status == "accepted")
        #expect(accepted.acceptedAt == t0 + day)
    }

    @Test("declining requires a reason")
    func declineNeedsReason() {
        #expect(template.refusal("decline", on: pending, by: partnerUser) == .reasonRequired)
        #expect(template.refusal("decline", on: pending, by: partnerUser, input: .init(reason: "  ")) == .reasonRequired)
    }

    @Test("declining records the decline date and archives the lead")
    func declineDateAndArchive() throws {
        let declined = try template.run([("decline", .init(reason: "out of area"))], by: partnerUser, at: t0 + 2 * day)
        #expect(declined.status == "declined")
        #expect(declined.declinedAt == t0 + 2 * day)
        #expect(declined.archived)
    }

    @Test("the expiration date defaults to seven days after creation")
    func defaultExpiry() {
        #expect(pending.expiresAt == t0 + 7 * day)
        let fromAPI = LeadState.new(template, createdAt: t0, expiresAt: t0 + 3 * day)
        #expect(fromAPI.expiresAt == t0 + 3 * day)
    }

    @Test("the expiration counter restarts at acceptance, thirty days by default")
    func expiryRestartsOnAcceptance() throws {
        let accepted = try template.run([("accept", .init())], by: partnerUser, at: t0 + 5 * day)
        #expect(accepted.expiresAt == t0 + 35 * day)
    }

    @Test("pending and accepted leads expire automatically; nobody presses Expire")
    func expiry() throws {
        #expect(!template.buttons(pending, partnerUser).contains("expire"))
        #expect(template.refusal("expire", on: pending, by: partnerUser) == .actionNotAvailable)
        #expect(try template.run([("expire", .init())], by: .system).status == "expired")
        let accepted = try template.run([("accept", .init())], by: partnerUser)
        #expect(try template.run([("expire", .init())], by: .system, from: accepted).status == "expired")
    }

    @Test("closing converted or not converted is only possible after acceptance")
    func closingNeedsAcceptance() throws {
        #expect(template.refusal("convert", on: pending, by: partnerUser, input: .init(opportunity: true)) == .actionNotAvailable)
        #expect(template.refusal("close_not_converted", on: pending, by: partnerUser) == .actionNotAvailable)
        let accepted = try template.run([("accept", .init())], by: partnerUser)
        #expect(template.buttons(accepted, partnerUser) == ["convert", "close_not_converted"])
        #expect(try template.run([("close_not_converted", .init())], by: partnerUser, from: accepted).status == "closed_not_converted")
    }

    @Test("closing converted requires a linked opportunity, existing or created")
    func conversionNeedsOpportunity() throws {
        let accepted = try template.run([("accept", .init())], by: partnerUser)
        #expect(template.refusal("convert", on: accepted, by: partnerUser) == .opportunityRequired)
        let created = try template.run([("convert", .init(opportunity: true))], by: partnerUser, from: accepted)
        #expect(created.status == "closed_converted")
        #expect(created.opportunityLinked)
        var linked = accepted
        linked.opportunityLinked = true
        #expect(try template.run([("convert", .init())], by: partnerUser, from: linked).status == "closed_converted")
    }

    @Test("action buttons are only available to the partner company, never to the company that sourced the lead")
    func sourcingCompanySeesNoButtons() throws {
        let sourcing = WorkflowActor(userID: .init(), roles: [.partnerUser, .admin], side: .source)
        #expect(template.buttons(pending, sourcing).isEmpty)
        #expect(template.refusal("accept", on: pending, by: sourcing) == .sourceCannotAct)
        let accepted = try template.run([("accept", .init())], by: partnerUser)
        #expect(template.buttons(accepted, sourcing).isEmpty)
    }

    @Test("a closed lead records its completion and stops expiring")
    func closingStopsExpiry() throws {
        let declined = try template.run([("decline", .init(reason: "spam"))], by: partnerUser, at: t0 + day)
        #expect(declined.completedAt == t0 + day)
        #expect(declined.expiresAt == nil)
    }
}
