import Foundation
import HubNetCore

/// What one `sync()` did, for the app to show: rejections, conflicts, drops and resets are the
/// events a user must hear about.
public struct SyncReport: Sendable, Equatable {
    /// A mutation the server refused for good; its local effect has disappeared.
    public struct Rejection: Sendable, Equatable {
        public var mutation: Mutation
        public var code: String
        public var reason: String
    }

    /// A field edit that lost to a value already on the server; `conflict.yours` is the lost value.
    public struct Conflict: Sendable, Equatable {
        public var mutation: Mutation
        public var conflict: FieldConflict
    }

    public var pushed = 0
    public var applied = 0
    public var rejections: [Rejection] = []
    public var conflicts: [Conflict] = []
    /// Changes received by pulls (and records by snapshots).
    public var pulled = 0
    public var pulls = 0
    /// Leads removed because they left the user's view or were deleted.
    public var dropped: [UUID] = []
    public var resets: [SyncResetReason] = []

    public init() {}
}
