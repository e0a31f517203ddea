import Foundation
import HubNetCore
import HubNetPostgres
import PostgresNIO

/// What people do to leads (`LeadIntent`), each inside the caller's open tenant transaction: the one
/// implementation behind the HTTP API and the sync protocol's mutations, so both apply the same
/// rules and leave the same effects (history, referral mirrors, notifications, change log).
///
/// Acting requires seeing: every intent first locks the lead and checks `VisibilityPolicy.sees`;
/// a lead outside the caller's view answers `not_found` over HTTP (as a missing one) and
/// `not_visible` to a device that held it.
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

    /// What applying an intent produced, for the answer to the caller.
    enum Applied {
        case lead(Lead, WorkflowTemplate, conflicts: [FieldConflict])
        case note(LeadNote)
        case activity(LeadActivity)
        case referral(Referral)
    }

    /// Applies one intent of the shared vocabulary: the sync push's path, and each HTTP handler's.
    /// - Parameter held: the caller holds the lead's row lock already (a push locks every lead it touches first).
    /// - Parameter read: with `held`, the lead, its template and last history entry as read under
    ///   that lock and unchanged since (`LeadBatch.asRead`): an action does not read them again.
    func apply(
        _ intent: LeadIntent, to lead: Lead.ID, caller: AuthenticatedUser, offline: OfflineTiming? = nil, held: Bool = false,
        read: (Lead, WorkflowTemplate, LeadHistoryEntry?)? = nil, now: Date, in transaction: TenantTransaction
    ) async throws -> Applied {
        switch intent {
        case .act(let action):
            let (lead, template) = try await act(
                action, on: lead, caller: caller, offline: offline, held: held, read: held ? read : nil, now: now, in: transaction)
            return .lead(lead, template, conflicts: [])
        case .update(let update):
            let (lead, template, conflicts) = try await self.update(lead, version: nil, caller: caller, now: now, in: transaction) { details, current in
                let merged = try LeadFieldMerge.merge(update, into: details, currentVersion: current)
                details = merged.details
                return merged.conflicts
            }
            return .lead(lead, template, conflicts: conflicts)
        case .addNote(let id, let body):
            return .note(try await addNote(body, id: id, to: lead, caller: caller, now: now, in: transaction))
        case .scheduleActivity(let schedule):
            return .activity(try await scheduleActivity(schedule, on: lead, caller: caller, now: now, in: transaction))
        case .completeActivity(let id):
            return .activity(try await closeActivity(id, of: lead, as: .completed, caller: caller, now: now, in: transaction))
        case .cancelActivity(let id):
            return .activity(try await closeActivity(id, of: lead, as: .cancelled, caller: caller, now: now, in: transaction))
        case .refer(let request):
            return .referral(
                try await refer(lead, request, caller: caller, held: held, read: held ? read : nil, now: now, in: transaction))
        }
    }

    /// Refers a lead to a partner company (001): its copy lands in the partner's tenant, in its
    /// workflow's initial status, and the partner's people who may answer are invited by email.
    /// The partner is checked before the lead is read; a lead outside the caller's view, or erased,
    /// is not referred.
    func refer(
        _ id: Lead.ID, _ request: ReferralRequest, caller: AuthenticatedUser, held: Bool = false,
        read: (Lead, WorkflowTemplate, LeadHistoryEntry?)? = nil, now: Date, in transaction: TenantTransaction
    ) async throws -> Referral {
        try TenantPolicy.require(caller, .workLeads)
        if let expiresAt = request.expiresAt, expiresAt <= now { throw DomainError.invalid("expires_at", "must be in the future") }
        // The partner's kind and the caller's name (for the invitations), read once for `refer`.
        let parties = try await referrals.parties(target: request.partnerId, source: caller.tenantID, on: transaction.connection)
        guard parties.targetKind == .partnerCompany else { throw DomainError.invalid("partner_id", "names no partner company") }
        let (lead, _, _) = try await lockVisibleLeadForAction(id, caller: caller, held: held, read: read, in: transaction)
        return try await referrals.refer(
            lead, to: .init(tenant: request.partnerId, kind: .partner, listing: nil), by: caller.userID, links: links,
            expiresAt: request.expiresAt, now: now, parties: parties, in: transaction)
    }

    /// The lead, locked for this transaction, if it exists in the caller's tenant and the caller
    /// sees it; `not_visible` when it exists but is outside the caller's view.
    func lockVisibleLead(_ id: Lead.ID, caller: AuthenticatedUser, in transaction: TenantTransaction) async throws
        -> (Lead, WorkflowTemplate)
    {
        let (lead, template, _) = try await lockVisibleLeadForAction(id, caller: caller, held: false, in: transaction)
        return (lead, template)
    }

    /// `lockVisibleLead`, with the last entry of the lead's history (read in the same statements).
    private func lockVisibleLeadForAction(
        _ id: Lead.ID, caller: AuthenticatedUser, held: Bool, read: (Lead, WorkflowTemplate, LeadHistoryEntry?)? = nil,
        in transaction: TenantTransaction
    ) async throws -> (Lead, WorkflowTemplate, lastEntry: LeadHistoryEntry?) {
        if let (lead, template, lastEntry) = read, lead.id == id, lead.tenantID == caller.tenantID {
            guard VisibilityPolicy.sees(lead, user: caller.userID, roles: caller.roles) else { throw VisibilityPolicy.notVisible }
            guard lead.erasedAt == nil else { throw VisibilityPolicy.erased }
            return (lead, template, lastEntry)
        }
        guard let locked = try await leads.lockForAction(id, held: held, in: transaction),
            let template = try PostgresWorkflowTemplateRepository.template(locked.lead.templateKey, stored: locked.templateDefinition)
        else { throw DomainError.notFound("lead") }
        let lead = locked.lead
        guard VisibilityPolicy.sees(lead, user: caller.userID, roles: caller.roles) else { throw VisibilityPolicy.notVisible }
        guard lead.erasedAt == nil else { throw VisibilityPolicy.erased }
        return (lead, template, locked.lastEntry)
    }

    /// Takes an action under the lead's row lock, so two people acting at once leave one outcome:
    /// the second sees the first's result and is refused if it no longer applies.
    func act(
        _ action: LeadAction, on id: Lead.ID, caller: AuthenticatedUser, offline: OfflineTiming? = nil, held: Bool = false,
        read: (Lead, WorkflowTemplate, LeadHistoryEntry?)? = nil, now: Date, in transaction: TenantTransaction
    ) async throws -> (Lead, WorkflowTemplate) {
        let (lead, template, lastEntry) = try await lockVisibleLeadForAction(id, caller: caller, held: held, read: read, in: transaction)
        let arguments = action.arguments
        let named = ActionDecision.named(by: action)
        // One action is a batch of one: decided in memory by the rules a push decides by, and
        // stored by the same writer (`store`). An action that names a listing or an existing
        // opportunity, or accepts a copy from a shared pool, is carried out below instead.
        let notifies = template.action(action.action)?.effects.contains(.notifyAssignee) ?? false
        let readers = !named.isEmpty || notifies ? LeadBatch.peopleToRead([.act(action)], leads: [lead], caller: caller) : []
        let people = readers.isEmpty ? [] : try await users.many(readers, in: transaction)
        var batch = LeadBatch(
            caller: caller, leads: [lead], templates: [template], lastEntries: [id: lastEntry], people: people,
            grace: offline?.grace ?? 0, now: now)
        switch batch.decide(.act(action), on: id, position: 0, actedAt: offline?.actedAt) {
        case .refused(let refusal):
            throw refusal
        case .accepted:
            do {
                try await store(batch.pendingActions, now: now, in: transaction)
                guard let updated = try await leads.get(id, in: transaction) else { throw DomainError.notFound("lead") }
                return (updated, template)
            } catch is PostgresReferralRepository.PoolClaimNeedsStore {
                // Nothing was written: the pool's claim decides, below.
            }
        case .needsStore:
            break
        }
        let (decision, reason) = try ActionDecision.decide(
            action, on: lead, template: template, lastEntry: lastEntry, caller: caller,
            people: Dictionary(people.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first }), actedAt: offline?.actedAt,
            grace: offline?.grace ?? 0, now: now)
        var opportunity: Opportunity.ID? = nil
        if decision.effects.contains(.linkOpportunity) {
            if let existing = arguments.opportunityId {
                guard try await opportunities.get(existing, in: transaction) != nil else {
                    throw DomainError.invalid("opportunity_id", "names no opportunity of this tenant")
                }
                opportunity = existing
            } else if arguments.createOpportunity == true {
                opportunity = try await opportunities.create(
                    name: lead.details.name, amount: lead.details.targetAmount, by: caller.userID, now: now, in: transaction).id
            }
        }
        var updated = try await leads.apply(
            decision, to: lead, template: template, actor: caller.userID, reason: reason, opportunity: opportunity,
            lastEntry: lastEntry, at: now, in: transaction)
        if decision.effects.contains(.refer), let listingID = arguments.listingId {
            try await referToListing(lead, listingID, caller: caller, now: now, in: transaction)
            // The referral changed the lead again.
            updated = try await leads.get(id, in: transaction)
        }
        guard let updated else { throw DomainError.notFound("lead") }
        if decision.effects.contains(.notifyAssignee), let assigneeID = updated.state.assignedUserID,
            let assignee = try await users.get(assigneeID, in: transaction)
        {
            try await outbox.enqueue(
                [assignedNotice(updated, template: template, to: assignee)], now: now, in: transaction)
        }
        // A referred lead's source follows it: its referral row mirrors this action.
        try await referrals.mirror(
            updated, template: template, reason: reason,
            notifying: decision.effects.contains(.notifyReferralCreator) ? decision.action : nil,
            acceptedBefore: lead.state.acceptedAt != nil, now: now, in: transaction)
        return (updated, template)
    }

    /// Stores workflow actions decided in memory (`LeadBatch`), for a push's batch and for one
    /// action alike, with the notices to their assignees (`DecidedActionWriter`; when one accepts a
    /// copy from a shared pool, `PoolClaimNeedsStore` is thrown before anything is written).
    func store(_ actions: [LeadBatch.PendingAction], now: Date, in transaction: TenantTransaction) async throws {
        let notices = actions.compactMap { action in action.notifiedAssignee.map { assignedNotice(action.after, template: action.template, to: $0) } }
        try await DecidedActionWriter(leads: leads, referrals: referrals, outbox: outbox).store(
            actions, notices: notices, now: now, in: transaction)
    }

    /// Edits an open lead's fields under its row lock; a closed lead is kept as it closed.
    /// - Parameter edit: changes the details, given the lead's current version; returns the fields it
    ///   could not apply (sync conflicts).
    func update(
        _ id: Lead.ID, version: Int?, caller: AuthenticatedUser, expectedCompletionAt: Date? = nil, unit: TenantUnit.ID? = nil,
        now: Date, in transaction: TenantTransaction, edit: (inout LeadDetails, _ currentVersion: Int) throws -> [FieldConflict]
    ) async throws -> (Lead, WorkflowTemplate, [FieldConflict]) {
        let (lead, template) = try await lockVisibleLead(id, caller: caller, in: transaction)
        if let version, version != lead.version {
            throw DomainError.conflict("version_conflict", "the lead is at version \(lead.version), not \(version)")
        }
        if template.status(lead.state.status)?.lifeCycle.isClosed == true {
            throw DomainError.conflict("lead_closed", "a closed lead cannot be edited")
        }
        var details = lead.details
        let conflicts = try edit(&details, lead.version)
        guard details != lead.details || expectedCompletionAt != nil || unit != nil else { return (lead, template, conflicts) }
        try await requireTeam(details.team, caller: caller, in: transaction)
        try await leads.update(
            lead, details: details, expectedCompletionAt: expectedCompletionAt ?? lead.state.expectedCompletionAt,
            unit: unit ?? lead.assignedUnitID, actor: caller.userID, at: now, in: transaction)
        guard let updated = try await leads.get(id, in: transaction) else { throw DomainError.notFound("lead") }
        return (updated, template, conflicts)
    }

    func addNote(
        _ body: String, id: LeadNote.ID = LeadNote.ID(), to lead: Lead.ID, caller: AuthenticatedUser, now: Date,
        in transaction: TenantTransaction
    ) async throws -> LeadNote {
        try await requireVisible(lead, caller: caller, in: transaction)
        do {
            return try await notes.add(body, id: id, to: lead, author: caller.userID, now: now, in: transaction)
        } catch let error as PSQLError where error.violates("lead_notes_pkey") {
            throw DomainError.conflict("duplicate_id", "a note with this id exists")
        }
    }

    func scheduleActivity(
        _ schedule: ActivitySchedule, on lead: Lead.ID, caller: AuthenticatedUser, now: Date, in transaction: TenantTransaction
    ) async throws -> LeadActivity {
        _ = try await lockVisibleLead(lead, caller: caller, in: transaction)
        do {
            return try await activities.schedule(
                id: schedule.id, kind: schedule.kind, title: schedule.title, dueAt: schedule.dueAt, on: lead, by: caller.userID,
                now: now, in: transaction)
        } catch let error as PSQLError where error.violates("lead_activities_pkey") {
            throw DomainError.conflict("duplicate_id", "an activity with this id exists")
        }
    }

    func closeActivity(
        _ id: LeadActivity.ID, of lead: Lead.ID, as state: LeadActivity.State, caller: AuthenticatedUser, now: Date,
        in transaction: TenantTransaction
    ) async throws -> LeadActivity {
        try await requireVisible(lead, caller: caller, in: transaction)
        guard let activity = try await activities.close(id, of: lead, as: state, now: now, in: transaction) else {
            throw DomainError.notFound("activity")
        }
        return activity
    }

    /// The cheap check before adding to a lead: it exists (not withdrawn) and the caller sees it.
    private func requireVisible(_ lead: Lead.ID, caller: AuthenticatedUser, in transaction: TenantTransaction) async throws {
        let viewer = VisibilityPolicy.seesWholeTenant(caller.roles) ? nil : caller.userID
        switch try await leads.visibility(of: lead, to: viewer, in: transaction) {
        case .missing: throw DomainError.notFound("lead")
        case .hidden: throw VisibilityPolicy.notVisible
        case .erased: throw VisibilityPolicy.erased
        case .visible: return
        }
    }

    /// The email telling a lead's assignee it is theirs (`notify_assignee`).
    func assignedNotice(_ lead: Lead, template: WorkflowTemplate, to assignee: User) -> PostgresOutboxRepository.Message {
        let notice = NoticeCatalog.Filled(
            NoticeCatalog.assigned,
            [
                "lead.name": lead.details.name, "lead.status": template.status(lead.state.status)?.name ?? lead.state.status,
                "lead.url": "\(links.baseURL)/leads/\(lead.id)",
            ])
        return .init(event: "lead.assigned", email: assignee.email, notice: notice, webhookBody: "{}")
    }

    /// The lead team is made of active users of the lead's tenant.
    func requireTeam(_ team: [User.ID], caller: AuthenticatedUser, in transaction: TenantTransaction) async throws {
        let found = try await users.active(team, in: transaction)
        if let index = team.firstIndex(where: { !found.contains($0) }) {
            throw DomainError.invalid("team[\(index)]", "names no active user of this tenant")
        }
    }

    /// The caller as the workflow sees them: on the owning side of their own tenant's leads.
    static func actor(_ caller: AuthenticatedUser) -> WorkflowActor { .owner(caller) }

    /// Lands the lead in the listing's hub (000: an external referral), in this same transaction.
    private func referToListing(
        _ lead: Lead, _ listingID: Listing.ID, caller: AuthenticatedUser, now: Date, in transaction: TenantTransaction
    ) async throws {
        // The directory's published listings of every hub, read on purpose across tenants.
        let listing = try await Database.readingDirectory(on: transaction.connection, logger: database.logger) {
            try await listings.published(listingID, on: transaction.connection)
        }
        guard let listing, listing.acceptingReferrals else {
            throw DomainError.invalid("listing_id", "names no published listing that accepts referrals")
        }
        _ = try await referrals.refer(
            lead, to: .init(tenant: listing.tenantID, kind: .listing, listing: listing.id), by: caller.userID, links: links,
            now: now, in: transaction)
    }
}

extension PostgresLeadRepository {
    /// The lead if it is in the caller's tenant and the caller sees it (`VisibilityPolicy.sees`);
    /// otherwise `nil`, which every read answers as a missing lead.
    func visible(_ id: Lead.ID, to caller: AuthenticatedUser, in transaction: TenantTransaction) async throws -> Lead? {
        guard let lead = try await get(id, in: transaction),
            VisibilityPolicy.sees(lead, user: caller.userID, roles: caller.roles)
        else { return nil }
        return lead
    }
}

extension LeadCommands {
    /// The commands on `database`, each repository logging to its logger.
    init(database: Database, links: EmailActionLinks) {
        let logger = database.logger
        self.init(
            database: database, leads: PostgresLeadRepository(logger: logger), notes: PostgresLeadNoteRepository(logger: logger),
            activities: PostgresLeadActivityRepository(logger: logger), templates: PostgresWorkflowTemplateRepository(logger: logger),
            users: PostgresUserRepository(logger: logger), opportunities: PostgresOpportunityRepository(logger: logger),
            referrals: PostgresReferralRepository(logger: logger), listings: PostgresListingRepository(logger: logger), links: links,
            outbox: PostgresOutboxRepository(logger: logger))
    }
}
