import Foundation

/// Decides a batch of intents in memory, in order, against the leads the batch touches (loaded and
/// locked once): each decision sees the earlier ones' results, a refusal leaves no effect, and the
/// accepted effects accumulate for one set-based write (`pendingNotes`, `pendingEdits`, `pendingActions`).
///
/// It decides the intents that need nothing but the leads, their templates, their last history
/// entries and the people actions name: a note, a field update, and a workflow action
/// (`PendingAction`) whose effects are the lead's new state and history entry, a referred lead's
/// mirror in its source and notice, a client in the CRM, a new opportunity, an email to the
/// assignee, a referral to an advisor. The writer refuses to store an acceptance that would claim a
/// shared pool; the batch is then applied one intent at a time. For the rest — an action that names
/// a listing (a referral to another hub) or an existing opportunity, activities, a second intent on a lead whose action is
/// pending — `decide` answers `.needsStore`: the caller writes what is pending, applies that intent
/// on its own (`LeadCommands`) and hands back the lead as it then is (`replace`). An action after
/// edits of the same batch is decided here, its history entry chained after theirs. The rules are
/// the same either way: the policy check, acting requires seeing, a closed lead is not edited,
/// `LeadFieldMerge`, `LeadDetails.validated`, the workflow engine with offline grace
/// (`OfflineGrace`), the reason's limit, the named people's checks.
public struct LeadBatch: Sendable {
    public enum Decision: Sendable, Equatable {
        /// Accepted; its write is pending. A field update may have lost some fields.
        case accepted(conflicts: [FieldConflict])
        /// Refused by the rules; nothing of it will be written.
        case refused(DomainError)
        /// Not decided here: write what is pending, then apply it on its own.
        case needsStore
    }

    /// A note to insert; `mutation` is the position of the intent that added it.
    public struct PendingNote: Sendable, Equatable {
        public var id: LeadNote.ID
        public var lead: Lead.ID
        public var body: String
        public var mutation: Int
    }

    /// A lead's details after one or more accepted edits of this batch, as `from` had them before.
    public struct PendingEdit: Sendable, Equatable {
        public var before: Lead
        public var details: LeadDetails
        /// Accepted edits that changed something: one version step and one history entry each.
        public var edits: Int
        /// Their history entries, chained here when the batch knows where the lead's chain ends
        /// (one per edit); empty otherwise, and the store continues the chain.
        public var entries: [LeadHistoryEntry] = []
    }

    /// A workflow action decided here: the lead before and after it, the engine's decision, and its
    /// history entry (chained to the lead's last one).
    public struct PendingAction: Sendable, Equatable {
        public var before: Lead
        public var after: Lead
        public var decision: WorkflowEngine.Decision
        public var template: WorkflowTemplate
        /// The reason as the referral's source keeps it in its mirror and notice (the history entry
        /// carries its own: a timer's expiry says "expired" there and leaves the mirror's as it was).
        public var reason: String?
        public var entry: LeadHistoryEntry
        /// The position of the intent in the batch.
        public var mutation: Int
        /// An opportunity the action creates and links (`create_opportunity`): its id, name and amount.
        public var opportunity: (id: Opportunity.ID, name: String, amount: Decimal?)?
        /// The assignee to tell (`notify_assignee`): the user the lead is assigned to after the action.
        public var notifiedAssignee: User?

        public init(
            before: Lead, after: Lead, decision: WorkflowEngine.Decision, template: WorkflowTemplate, reason: String?,
            entry: LeadHistoryEntry, mutation: Int, opportunity: (id: Opportunity.ID, name: String, amount: Decimal?)?,
            notifiedAssignee: User?
        ) {
            self.before = before
            self.after = after
            self.decision = decision
            self.template = template
            self.reason = reason
            self.entry = entry
            self.mutation = mutation
            self.opportunity = opportunity
            self.notifiedAssignee = notifiedAssignee
        }

        public static func == (a: PendingAction, b: PendingAction) -> Bool {
            a.before == b.before && a.after == b.after && a.decision == b.decision && a.template == b.template && a.reason == b.reason
                && a.entry == b.entry && a.mutation == b.mutation && a.opportunity?.id == b.opportunity?.id
                && a.opportunity?.name == b.opportunity?.name && a.opportunity?.amount == b.opportunity?.amount
                && a.notifiedAssignee == b.notifiedAssignee
        }

        /// A referred lead accepted by this action: had its referral come from a shared pool, the
        /// acceptance would claim the pool, which only the store decides (`mirror` checks).
        public var acceptsReferral: Bool {
            after.referralID != nil && after.state.acceptedAt != nil && before.state.acceptedAt == nil
        }
    }

    public let caller: AuthenticatedUser
    private var leads: [Lead.ID: Lead]
    /// Each touched lead's last history entry, where known (`.some(nil)`: it has none). A lead
    /// without an entry here is not acted on in memory.
    private var lastEntries: [Lead.ID: LeadHistoryEntry?]
    /// The tenant's users the batch's actions may name or notify (`nil`: not read, and actions
    /// that name or notify someone are left to the store).
    private let people: [User.ID: User]?
    /// The tenant's offline grace (seconds) and the moment the batch is applied at.
    private let grace: TimeInterval
    private let now: Date
    private var actions: [Lead.ID: PendingAction] = [:]
    private var actionOrder: [Lead.ID] = []
    /// Leads an intent of this batch changed (in memory or in the store).
    private var changed: Set<Lead.ID> = []
    private let templates: [String: WorkflowTemplate]
    private var noteIDs: Set<LeadNote.ID> = []
    public private(set) var pendingNotes: [PendingNote] = []
    private var edits: [Lead.ID: PendingEdit] = [:]
    private var editOrder: [Lead.ID] = []

    /// - Parameter leads: the touched leads that exist in the caller's tenant (withdrawn ones left out).
    /// - Parameter lastEntries: their last history entries, to decide actions here (none: actions
    ///   are left to the store).
    /// - Parameter people: the users named by the batch's actions, the leads' assignees and the
    ///   caller, as `peopleToRead` lists them (found or not).
    public init(
        caller: AuthenticatedUser, leads: [Lead], templates: [WorkflowTemplate], lastEntries: [Lead.ID: LeadHistoryEntry?] = [:],
        people: [User]? = nil, grace: TimeInterval = 0, now: Date = Date()
    ) {
        self.people = people.map { Dictionary($0.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first }) }
        self.caller = caller
        self.leads = Dictionary(leads.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        self.templates = Dictionary(templates.map { ($0.key, $0) }, uniquingKeysWith: { first, _ in first })
        self.lastEntries = lastEntries
        self.grace = grace
        self.now = now
    }

    public var pendingEdits: [PendingEdit] { editOrder.compactMap { edits[$0] } }
    public var pendingActions: [PendingAction] { actionOrder.compactMap { actions[$0] } }
    public var hasPendingWrites: Bool { !pendingNotes.isEmpty || !editOrder.isEmpty || !actionOrder.isEmpty }

    /// The lead as this batch has it now (with its accepted edits).
    public func lead(_ id: Lead.ID) -> Lead? { leads[id] }

    /// The users a batch of `intents` on `leads` may name or notify: those its actions name, the
    /// leads' assignees, and the caller.
    public static func peopleToRead(_ intents: [LeadIntent], leads: [Lead], caller: AuthenticatedUser) -> [User.ID] {
        var ids: Set<User.ID> = [caller.userID]
        for intent in intents {
            guard case .act(let action) = intent else { continue }
            if let advisor = action.arguments.advisorId { ids.insert(advisor) }
            if let assignee = action.arguments.assigneeId { ids.insert(assignee) }
        }
        for lead in leads { if let assignee = lead.state.assignedUserID { ids.insert(assignee) } }
        return ids.sorted { $0.description < $1.description }
    }

    /// The lead as the store had it when the batch read it, its template and its last history
    /// entry, while no intent of the batch has changed it: what `LeadCommands` would read again
    /// under the lock it holds.
    public func asRead(_ id: Lead.ID) -> (Lead, WorkflowTemplate, LeadHistoryEntry?)? {
        guard !changed.contains(id), let lead = leads[id], let known = lastEntries[id], let template = templates[lead.templateKey] else {
            return nil
        }
        return (lead, template, known)
    }

    /// An intent on the lead was applied by the store.
    public mutating func appliedInStore(_ id: Lead.ID) {
        changed.insert(id)
    }

    /// Decides intent number `position` of the batch on `leadID`; `actedAt` is when the device says
    /// the user acted (offline grace).
    public mutating func decide(_ intent: LeadIntent, on leadID: Lead.ID, position: Int, actedAt: Date? = nil) -> Decision {
        // A lead whose action is pending takes nothing more in memory: its next intent sees the action stored.
        if actions[leadID] != nil { return .needsStore }
        let decision = decideHere(intent, on: leadID, position: position, actedAt: actedAt)
        if case .accepted = decision { changed.insert(leadID) }
        return decision
    }

    private mutating func decideHere(_ intent: LeadIntent, on leadID: Lead.ID, position: Int, actedAt: Date?) -> Decision {
        switch intent {
        case .addNote(let id, let body):
            do throws(DomainError) {
                try TenantPolicy.require(caller, .workLeads)
                _ = try visibleLead(leadID)
                let body = try Validate.text(body, field: "body", max: 10_000)
                guard noteIDs.insert(id).inserted else { throw DomainError.conflict("duplicate_id", "a note with this id exists") }
                pendingNotes.append(PendingNote(id: id, lead: leadID, body: body, mutation: position))
                return .accepted(conflicts: [])
            } catch {
                return .refused(error)
            }
        case .update(let update):
            do throws(DomainError) {
                try TenantPolicy.require(caller, .workLeads)
                var lead = try visibleLead(leadID)
                guard let template = templates[lead.templateKey] else { return .needsStore }
                if template.status(lead.state.status)?.lifeCycle.isClosed == true {
                    throw DomainError.conflict("lead_closed", "a closed lead cannot be edited")
                }
                let merged = try LeadFieldMerge.merge(update, into: lead.details, currentVersion: lead.version)
                guard merged.details != lead.details else { return .accepted(conflicts: merged.conflicts) }
                let details = try merged.details.validated(requiringContact: !lead.identityWithheld)
                var pending = edits[leadID] ?? PendingEdit(before: lead, details: lead.details, edits: 0)
                if pending.edits == 0 { editOrder.append(leadID) }
                pending.details = details
                pending.edits += 1
                lead.details = details
                lead.version += 1
                leads[leadID] = lead
                // The edit's history entry, as the store writes it, so that an action after it chains on.
                if let known = lastEntries[leadID] {
                    let edit = entry(
                        after: known, lead: leadID, action: "edit", from: lead.state.status, to: lead.state.status, reason: nil)
                    lastEntries[leadID] = .some(edit)
                    pending.entries.append(edit)
                }
                edits[leadID] = pending
                return .accepted(conflicts: merged.conflicts)
            } catch {
                return .refused(error)
            }
        case .act(let action):
            return decideAction(action, on: leadID, position: position, actedAt: actedAt)
        case .scheduleActivity, .completeActivity, .cancelActivity, .refer:
            return .needsStore
        }
    }

    /// The effects an action decided here may have: on the lead's own row, its history, its
    /// source's mirror and notice, a client record, a new opportunity, a notice to its assignee, a
    /// referral to an advisor (an action naming a listing never gets here).
    static let effectsDecidedHere: Set<WorkflowTemplate.Effect> = [
        .archive, .notifyReferralCreator, .recordAcceptance, .recordDecline, .restartExpiryAfterAcceptance, .assignToActor,
        .assignToChosenUser, .notifyAssignee, .addToCRM, .linkOpportunity,
        // A referral to an advisor is the assignment; one to a listing names it, and is left to the store.
        .refer,
    ]

    /// `LeadCommands.act` in memory, for the actions it can decide without the store.
    private mutating func decideAction(_ action: LeadAction, on leadID: Lead.ID, position: Int, actedAt: Date?) -> Decision {
        let arguments = action.arguments
        // Listings and existing opportunities named by the action are looked up in the store, and
        // people when the batch has not read them.
        guard arguments.listingId == nil, arguments.opportunityId == nil else { return .needsStore }
        if people == nil, arguments.advisorId != nil || arguments.assigneeId != nil { return .needsStore }
        do throws(DomainError) {
            try TenantPolicy.require(caller, .workLeads)
            let lead = try visibleLead(leadID)
            guard let known = lastEntries[leadID], let template = templates[lead.templateKey] else { return .needsStore }
            let (decision, reason) = try ActionDecision.decide(
                action, on: lead, template: template, lastEntry: known, caller: caller, people: people ?? [:], actedAt: actedAt,
                grace: grace, now: now)
            guard decision.effects.allSatisfy(Self.effectsDecidedHere.contains) else { return .needsStore }
            var opportunity: (id: Opportunity.ID, name: String, amount: Decimal?)?
            if decision.effects.contains(.linkOpportunity), arguments.createOpportunity == true {
                opportunity = (
                    Opportunity.ID(), try Validate.text(lead.details.name, field: "name", max: 200),
                    try Validate.optionalAmount(lead.details.targetAmount, field: "amount")
                )
            }
            var notified: User?
            if decision.effects.contains(.notifyAssignee), let assigneeID = decision.state.assignedUserID {
                // Whoever the lead is now assigned to is among the people read, or the store tells them.
                guard let assignee = people?[assigneeID] else { return .needsStore }
                notified = assignee
            }
            var after = lead
            after.state = decision.state
            after.version += 1
            let entry = entry(after: known, lead: leadID, action: decision.action, from: decision.from, to: decision.to, reason: reason)
            actions[leadID] = PendingAction(
                before: lead, after: after, decision: decision, template: template, reason: reason, entry: entry, mutation: position,
                opportunity: opportunity, notifiedAssignee: notified)
            actionOrder.append(leadID)
            leads[leadID] = after
            lastEntries[leadID] = .some(entry)
            return .accepted(conflicts: [])
        } catch {
            return .refused(error)
        }
    }

    /// The history entry by the caller, now, that follows `previous` on the lead (hash-chained,
    /// at the microsecond as stored).
    private func entry(after previous: LeadHistoryEntry?, lead: Lead.ID, action: String, from: String?, to: String, reason: String?)
        -> LeadHistoryEntry
    {
        LeadHistoryEntry.following(previous, lead: lead, action: action, from: from, to: to, actor: caller.userID, reason: reason, at: now)
    }

    /// After the pending writes are stored: nothing is pending, the leads and their last history
    /// entries stay as this batch has them (the store wrote the same).
    public mutating func written() {
        pendingNotes.removeAll()
        edits.removeAll()
        editOrder.removeAll()
        actions.removeAll()
        actionOrder.removeAll()
    }

    /// The lead as the store has it after an intent applied on its own (`nil`: gone or withdrawn);
    /// its history went on there, so later actions on it are left to the store.
    public mutating func replace(_ id: Lead.ID, with lead: Lead?) {
        leads[id] = lead
        lastEntries[id] = nil
        changed.insert(id)
    }

    private func visibleLead(_ id: Lead.ID) throws(DomainError) -> Lead {
        guard let lead = leads[id] else { throw DomainError.notFound("lead") }
        guard VisibilityPolicy.sees(lead, user: caller.userID, roles: caller.roles) else { throw VisibilityPolicy.notVisible }
        guard lead.erasedAt == nil else { throw VisibilityPolicy.erased }
        return lead
    }
}
