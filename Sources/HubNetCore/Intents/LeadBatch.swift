import Foundation

/// Decides a batch of intents in memory, in order, against the leads the batch touches (loaded and
/// locked once): each decision sees the earlier ones' results, a refusal leaves no effect, and the
/// accepted effects accumulate for one set-based write (`pendingNotes`, `pendingEdits`).
///
/// It decides the intents that need nothing but the lead and its template — a note, a field
/// update. For the others (workflow actions, activities) `decide` answers `.needsStore`: the
/// caller writes what is pending, applies that intent on its own (`LeadCommands`) and hands back
/// the lead as it then is (`replace`). The rules are the same either way: the policy check, acting
/// requires seeing, a closed lead is not edited, `LeadFieldMerge`, `LeadDetails.validated`.
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
    }

    public let caller: AuthenticatedUser
    private var leads: [Lead.ID: Lead]
    private let templates: [String: WorkflowTemplate]
    private var noteIDs: Set<LeadNote.ID> = []
    public private(set) var pendingNotes: [PendingNote] = []
    private var edits: [Lead.ID: PendingEdit] = [:]
    private var editOrder: [Lead.ID] = []

    /// - Parameter leads: the touched leads that exist in the caller's tenant (withdrawn ones left out).
    public init(caller: AuthenticatedUser, leads: [Lead], templates: [WorkflowTemplate]) {
        self.caller = caller
        self.leads = Dictionary(leads.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        self.templates = Dictionary(templates.map { ($0.key, $0) }, uniquingKeysWith: { first, _ in first })
    }

    public var pendingEdits: [PendingEdit] { editOrder.compactMap { edits[$0] } }
    public var hasPendingWrites: Bool { !pendingNotes.isEmpty || !editOrder.isEmpty }

    /// The lead as this batch has it now (with its accepted edits).
    public func lead(_ id: Lead.ID) -> Lead? { leads[id] }

    /// Decides intent number `position` of the batch on `leadID`.
    public mutating func decide(_ intent: LeadIntent, on leadID: Lead.ID, position: Int) -> Decision {
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
                edits[leadID] = pending
                lead.details = details
                lead.version += 1
                leads[leadID] = lead
                return .accepted(conflicts: merged.conflicts)
            } catch {
                return .refused(error)
            }
        case .act, .scheduleActivity, .completeActivity, .cancelActivity:
            return .needsStore
        }
    }

    /// After the pending writes are stored: nothing is pending, the leads stay as they are.
    public mutating func written() {
        pendingNotes.removeAll()
        edits.removeAll()
        editOrder.removeAll()
    }

    /// The lead as the store has it after an intent applied on its own (`nil`: gone or withdrawn).
    public mutating func replace(_ id: Lead.ID, with lead: Lead?) {
        leads[id] = lead
    }

    private func visibleLead(_ id: Lead.ID) throws(DomainError) -> Lead {
        guard let lead = leads[id] else { throw DomainError.notFound("lead") }
        guard VisibilityPolicy.sees(lead, user: caller.userID, roles: caller.roles) else { throw VisibilityPolicy.notVisible }
        guard lead.erasedAt == nil else { throw VisibilityPolicy.erased }
        return lead
    }
}
