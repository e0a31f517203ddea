import Foundation

/// One intent recorded by a device while it worked, numbered 1, 2, 3… per device. The server
/// re-validates it against the current state; it is never a row to overwrite.
public struct Mutation: Sendable, Codable, Equatable {
    public enum Name: String, Sendable, Codable, CaseIterable {
        /// A workflow action on a lead (accept, decline, refer, convert…).
        case leadAction = "lead.action"
        /// Edited fields of a lead, each with the value it was edited from.
        case leadUpdate = "lead.update"
        case noteAdd = "note.add"
        case activitySchedule = "activity.schedule"
        case activityComplete = "activity.complete"
        case activityCancel = "activity.cancel"
    }

    public struct ActionArguments: Sendable, Codable, Equatable {
        public var reason: String?
        public var status: String?
        public var listingId: Listing.ID?
        public var advisorId: User.ID?
        public var assigneeId: User.ID?
        public var createOpportunity: Bool?

        public init(
            reason: String? = nil, status: String? = nil, listingId: Listing.ID? = nil, advisorId: User.ID? = nil,
            assigneeId: User.ID? = nil, createOpportunity: Bool? = nil
        ) {
            self.reason = reason
            self.status = status
            self.listingId = listingId
            self.advisorId = advisorId
            self.assigneeId = assigneeId
            self.createOpportunity = createOpportunity
        }
    }

    public var id: Int64
    public var name: Name
    public var leadId: Lead.ID
    /// When the user acted on the device, in microseconds since 1970 (the device's clock).
    public var actedAt: Int64?
    /// `lead.action`
    public var action: String?
    public var arguments: ActionArguments?
    /// `lead.update`: the lead version the edit was based on, and the edited fields.
    public var baseVersion: Int?
    public var changes: [LeadFieldEdit]?
    /// `note.add`, `activity.*`: the record's id, chosen by the device so its optimistic copy keeps it.
    public var recordId: UUID?
    public var body: String?
    public var kind: String?
    public var title: String?
    public var dueAt: Int64?

    public init(
        id: Int64, name: Name, leadId: Lead.ID, actedAt: Int64? = nil, action: String? = nil,
        arguments: ActionArguments? = nil, baseVersion: Int? = nil, changes: [LeadFieldEdit]? = nil, recordId: UUID? = nil,
        body: String? = nil, kind: String? = nil, title: String? = nil, dueAt: Int64? = nil
    ) {
        self.id = id
        self.name = name
        self.leadId = leadId
        self.actedAt = actedAt
        self.action = action
        self.arguments = arguments
        self.baseVersion = baseVersion
        self.changes = changes
        self.recordId = recordId
        self.body = body
        self.kind = kind
        self.title = title
        self.dueAt = dueAt
    }
}

/// What became of a mutation. A rejection is final: the device shows it and moves on.
public struct MutationOutcome: Sendable, Codable, Equatable {
    public enum Outcome: String, Sendable, Codable { case applied, rejected }

    public var id: Int64
    public var outcome: Outcome
    public var code: String?
    public var reason: String?
    /// Same-field edits that lost to a value already on the server; the device's value is kept here.
    public var conflicts: [FieldConflict]
    /// Whether this answer was stored earlier (a replayed mutation), not produced now.
    public var replayed: Bool

    public init(
        id: Int64, outcome: Outcome, code: String? = nil, reason: String? = nil, conflicts: [FieldConflict] = [],
        replayed: Bool = false
    ) {
        self.id = id
        self.outcome = outcome
        self.code = code
        self.reason = reason
        self.conflicts = conflicts
        self.replayed = replayed
    }
}

/// Microseconds since 1970, the time unit of the sync protocol.
extension Date {
    public var micros: Int64 { Int64((timeIntervalSince1970 * 1_000_000).rounded()) }
    public init(micros: Int64) { self.init(timeIntervalSince1970: Double(micros) / 1_000_000) }
}
