import Foundation
import HubNetCore
import HubNetPostgres
import PostgresNIO

/// What people do to leads, each inside the caller's open tenant transaction: the one
/// implementation behind the HTTP API and the sync protocol's mutations, so both apply the same
/// rules and leave the same effects (history, referral mirrors, notifications, change log).
struct LeadCommands: Sendable {
    let database: Database
    let leads: PostgresLeadRepository
    let notes: PostgresLeadNoteRepository
    let activities: PostgresLeadActivityRepository
    let templates: PostgresWorkflowTemplateRepository
    let users: PostgresUserRepository
    let opportunities: PostgresOpportunityRepository
    let referrals: PostgresReferralRepository
    let listings: PostgresListingRepository
    let links: EmailActionLinks
    let outbox: PostgresOutboxRepository

    /// An action taken offline, with when the device says the user acted and the tenant's grace.
    struct OfflineTiming {
        var actedAt: Date?
        var grace: TimeInterval
    }

    /// Takes an action under the lead's row lock, so two people acting at once leave one outcome:
    /// the second sees the first's result and is refused if it no longer applies.
    func act(
        _ actionKey: String, on id: Lead.ID, with body: LeadActionRequest, caller: AuthenticatedUser, offline: OfflineTiming? = nil,
        now: Date, on connection: PostgresConnection
    ) async throws -> (Lead, WorkflowTemplate) {
        guard let lead = try await leads.get(id, tenant: caller.tenantID, lock: true, on: connection),
            let template = try await templates.template(lead.templateKey, tenant: caller.tenantID, on: connection)
        else { throw DomainError.notFound("lead") }
        var input = ActionInput(
            reason: body.reason, status: body.status, opportunity: body.createOpportunity == true || body.opportunityID != nil)
        if body.listingID != nil { input.referralKind = .listing }
        if let advisorID = body.advisorID {
            guard let advisor = try await users.get(advisorID, tenant: caller.tenantID, on: connection),
                advisor.isActive, advisor.roles.contains(.advisor)
            else { throw DomainError.invalid("advisor_id", "names no active advisor of this hub") }
            input.referralKind = .advisor
            input.assigneeID = advisor.id
        }
        if let assigneeID = body.assigneeID {
            guard let assignee = try await users.get(assigneeID, tenant: caller.tenantID, on: connection), assignee.isActive else {
                throw DomainError.invalid("assignee_id", "names no active user of this tenant")
            }
            input.assigneeID = assignee.id
        }
        var state = lead.state
        var decidedAt = now
        if let offline, offline.grace > 0 {
            let last = try await leads.history(of: id, tenant: caller.tenantID, on: connection).last
            (state, decidedAt) = OfflineGrace.evaluation(
                of: lead.state, lastEntry: last, template: template, actedAt: offline.actedAt, now: now, grace: offline.grace)
        }
        let decision = try WorkflowEngine.decide(
            template, lead: state, actor: Self.actor(caller), action: actionKey, input: input, now: decidedAt)
        let reason = try Validate.optionalText(body.reason, field: "reason", max: 2000)
        var opportunity: Opportunity.ID? = nil
        if decision.effects.contains(.linkOpportunity) {
            if let existing = body.opportunityID {
                guard try await opportunities.get(existing, tenant: caller.tenantID, on: connection) != nil else {
                    throw DomainError.invalid("opportunity_id", "names no opportunity of this tenant")
                }
                opportunity = existing
            } else if body.createOpportunity == true {
                opportunity = try await opportunities.create(
                    name: lead.details.name, amount: lead.details.targetAmount, by: caller.userID, tenant: caller.tenantID,
                    now: now, on: connection
                ).id
            }
        }
        try await leads.apply(
            decision, to: lead, actor: caller.userID, reason: reason, opportunity: opportunity, at: now, on: connection)
        if decision.effects.contains(.refer), let listingID = body.listingID {
            try await referToListing(lead, listingID, caller: caller, now: now, on: connection)
        }
        guard let updated = try await leads.get(id, tenant: caller.tenantID, on: connection) else {
            throw DomainError.notFound("lead")
        }
        if decision.effects.contains(.notifyAssignee), let assigneeID = updated.state.assignedUserID,
            let assignee = try await users.get(assigneeID, tenant: caller.tenantID, on: connection)
        {
            try await outbox.enqueue(
                event: "lead.assigned", email: assignee.email, subject: "A lead needs your attention: \(updated.details.name)",
                body: "\(updated.details.name) was assigned to you (\(template.status(updated.state.status)?.name ?? updated.state.status)).\n",
                webhookBody: "{}", tenant: caller.tenantID, now: now, on: connection)
        }
        // A referred lead's source follows it: its referral row mirrors this action.
        try await referrals.mirror(
            updated, template: template, reason: reason,
            notifying: decision.effects.contains(.notifyReferralCreator) ? decision.action : nil, now: now, on: connection)
        return (updated, template)
    }

    /// Edits an open lead's fields under its row lock; a closed lead is kept as it closed.
    /// - Parameter edit: changes the details; returns the fields it could not apply (sync conflicts).
    func update(
        _ id: Lead.ID, version: Int?, caller: AuthenticatedUser, expectedCompletionAt: Date? = nil, unit: TenantUnit.ID? = nil,
        now: Date, on connection: PostgresConnection, edit: (inout LeadDetails) throws -> [FieldConflict]
    ) async throws -> (Lead, WorkflowTemplate, [FieldConflict]) {
        guard let lead = try await leads.get(id, tenant: caller.tenantID, lock: true, on: connection),
            let template = try await templates.template(lead.templateKey, tenant: caller.tenantID, on: connection)
        else { throw DomainError.notFound("lead") }
        if let version, version != lead.version {
            throw DomainError.conflict("version_conflict", "the lead is at version \(lead.version), not \(version)")
        }
        if template.status(lead.state.status)?.lifeCycle.isClosed == true {
            throw DomainError.conflict("lead_closed", "a closed lead cannot be edited")
        }
        var details = lead.details
        let conflicts = try edit(&details)
        guard details != lead.details || expectedCompletionAt != nil || unit != nil else { return (lead, template, conflicts) }
        try await requireTeam(details.team, caller: caller, on: connection)
        try await leads.update(
            lead, details: details, expectedCompletionAt: expectedCompletionAt ?? lead.state.expectedCompletionAt,
            unit: unit ?? lead.assignedUnitID, actor: caller.userID, at: now, on: connection)
        guard let updated = try await leads.get(id, tenant: caller.tenantID, on: connection) else { throw DomainError.notFound("lead") }
        return (updated, template, conflicts)
    }

    func addNote(
        _ body: String, id: LeadNote.ID = LeadNote.ID(), to lead: Lead.ID, caller: AuthenticatedUser, now: Date,
        on connection: PostgresConnection
    ) async throws -> LeadNote {
        guard try await leads.exists(lead, tenant: caller.tenantID, on: connection) else { throw DomainError.notFound("lead") }
        do {
            return try await notes.add(body, id: id, to: lead, author: caller.userID, tenant: caller.tenantID, now: now, on: connection)
        } catch let error as PSQLError where error.violates("lead_notes_pkey") {
            throw DomainError.conflict("duplicate_id", "a note with this id exists")
        }
    }

    func scheduleActivity(
        _ kind: String, title: String, dueAt: Date?, id: LeadActivity.ID = LeadActivity.ID(), on lead: Lead.ID,
        caller: AuthenticatedUser, now: Date, on connection: PostgresConnection
    ) async throws -> LeadActivity {
        guard let kind = LeadActivity.Kind(rawValue: kind) else {
            throw DomainError.invalid("kind", "must be one of \(LeadActivity.Kind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard try await leads.get(lead, tenant: caller.tenantID, lock: true, on: connection) != nil else {
            throw DomainError.notFound("lead")
        }
        do {
            return try await activities.schedule(
                id: id, kind: kind, title: title, dueAt: dueAt, on: lead, by: caller.userID, tenant: caller.tenantID, now: now,
                on: connection)
        } catch let error as PSQLError where error.violates("lead_activities_pkey") {
            throw DomainError.conflict("duplicate_id", "an activity with this id exists")
        }
    }

    func closeActivity(
        _ id: LeadActivity.ID, of lead: Lead.ID, as state: LeadActivity.State, caller: AuthenticatedUser, now: Date,
        on connection: PostgresConnection
    ) async throws -> LeadActivity {
        guard let activity = try await activities.close(id, of: lead, as: state, tenant: caller.tenantID, now: now, on: connection) else {
            throw DomainError.notFound("activity")
        }
        return activity
    }

    /// The lead team is made of active users of the lead's tenant.
    func requireTeam(_ team: [User.ID], caller: AuthenticatedUser, on connection: PostgresConnection) async throws {
        let found = try await users.active(team, tenant: caller.tenantID, on: connection)
        if let index = team.firstIndex(where: { !found.contains($0) }) {
            throw DomainError.invalid("team[\(index)]", "names no active user of this tenant")
        }
    }

    /// The caller as the workflow sees them: on the owning side of their own tenant's leads.
    static func actor(_ caller: AuthenticatedUser) -> WorkflowActor {
        WorkflowActor(userID: caller.userID, roles: caller.roles, side: .owner)
    }

    /// Lands the lead in the listing's hub (000: an external referral), in this same transaction.
    private func referToListing(
        _ lead: Lead, _ listingID: Listing.ID, caller: AuthenticatedUser, now: Date, on connection: PostgresConnection
    ) async throws {
        // The directory's published listings of every hub, read on purpose across tenants.
        try await connection.rows("SELECT set_config('hubnet.scope', 'directory', true)", logger: database.logger)
        let listing = try await listings.published(listingID, on: connection)
        try await connection.rows("SELECT set_config('hubnet.scope', '', true)", logger: database.logger)
        guard let listing, listing.acceptingReferrals else {
            throw DomainError.invalid("listing_id", "names no published listing that accepts referrals")
        }
        _ = try await referrals.refer(
            lead, to: .init(tenant: listing.tenantID, kind: .listing, listing: listing.id), by: caller.userID, links: links,
            now: now, on: connection)
    }
}
