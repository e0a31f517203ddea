import Foundation

/// One intent recorded by a device while it worked, numbered 1, 2, 3… per device. The server
/// re-validates it against the current state; it is never a row to overwrite.
///
/// Wire form (JSON, snake_case), one schema per `name` (the OpenAPI document has each):
/// `{"id": 7, "name": "note.add", "lead_id": "…", "acted_at": 1733390000000000, "version": 1,
///   "record_id": "…", "body": "…"}`. See `Mutation+Wire.swift` for every name's fields.
public struct Mutation: Sendable, Equatable {
    /// The names a mutation may have on the wire.
    public enum Name: String, Sendable, Codable, CaseIterable {
        case leadAction = "lead.action"
        case leadUpdate = "lead.update"
        case noteAdd = "note.add"
        case activitySchedule = "activity.schedule"
        case activityComplete = "activity.complete"
        case activityCancel = "activity.cancel"
        case referralCreate = "referral.create"
    }

    /// The mutation wire versions this build understands.
    public static let supportedVersions: ClosedRange<Int> = 1...1

    public var id: Int64
    public var leadId: Lead.ID
    /// When the user acted on the device, in microseconds since 1970 (the device's clock).
    public var actedAt: Int64?
    public var intent: LeadIntent

    public init(id: Int64, leadId: Lead.ID, actedAt: Int64? = nil, intent: LeadIntent) {
        self.id = id
        self.leadId = leadId
        self.actedAt = actedAt
        self.intent = intent
    }

    public var name: Name { intent.name }
    /// The note or activity the mutation creates or closes, if any.
    public var recordId: UUID? { intent.recordID }
}

/// What became of a mutation. A rejection is final: the device shows it and moves on.
public struct MutationOutcome: Sendable, Codable, Equatable {
    public enum Outcome: String, Sendable, Codable {
        case applied
        /// Applied, but some edited fields kept the value that reached the server first; `conflicts`
        /// holds the device's values.
        case appliedWithConflicts = "applied_with_conflicts"
        case rejected
    }

    public var id: Int64
    public var outcome: Outcome
    public var code: String?
    public var reason: String?
    /// For a rejection of one field's value: which (`due_at`, `changes[0].to`).
    public var field: String?
    /// Same-field edits that lost to a value already on the server; the device's value is kept here.
    public var conflicts: [FieldConflict]
    /// Whether this answer was stored earlier (a replayed mutation), not produced now.
    public var replayed: Bool

    public init(
        id: Int64, outcome: Outcome, code: String? = nil, reason: String? = nil, field: String? = nil,
        conflicts: [FieldConflict] = [], replayed: Bool = false
    ) {
        self.id = id
        self.outcome = outcome
        self.code = code
        self.reason = reason
        self.field = field
        self.conflicts = conflicts
        self.replayed = replayed
    }

    /// Applied, or applied with conflicts.
    public var isApplied: Bool { outcome != .rejected }

    enum CodingKeys: String, CodingKey {
        case id, outcome, code, reason, field, conflicts, replayed
    }
}
