import Foundation
import HubNetCore

/// What one `sync()` did, for the app to show: rejections, conflicts, drops and resets are the
/// events a user must hear about.
public struct SyncReport: Sendable, Equatable {
    /// A mutation the server refused for good; its local effect has disappeared.
    public struct Rejection: Sendable, Equatable {
        public var mutationID: Int64
        /// The queued mutation, when this SDK can read it (one queued by another app version may not be).
        public var mutation: Mutation?
        /// `unsupported`, `invalid_value`, `not_visible`, `failed_repeatedly`, a rule's code, or
        /// `device_revoked` / `user_deactivated` when the device was stopped with it still queued.
        public var code: String
        public var reason: String
        /// The value at fault, for `invalid_value`.
        public var field: String?
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
    /// Of `pulled`, the records that came with snapshots: a new, wiped or reset device takes all
    /// its user sees again, so this grows with what the user's organisation holds.
    public var snapshotRecords = 0
    public var pulls = 0
    /// Leads removed because they left the user's view or were deleted.
    public var dropped: [UUID] = []
    public var resets: [SyncResetReason] = []
    /// Leads whose person's data was erased: held records were removed (the redacted record
    /// follows) and so were the queued mutations on them, counted in `discardedMutations`.
    public var purged: [UUID] = []
    public var discardedMutations = 0
    /// Leads whose local view this sync may have changed: their record, a note or an activity
    /// arrived, or a queued mutation on them was rejected. An app refreshes these (and drops
    /// `dropped`); when `replaced` is set, every lead may have changed.
    public var changedLeads: Set<UUID> = []
    /// A snapshot replaced the local records (the first sync, or a reset).
    public var replaced = false
    /// Set when the server stopped this device for good: its local data was wiped, every mutation
    /// still queued is in `rejections` with the same code, and `sync()` refuses from now on.
    public var stopped: SyncStop?

    public init() {}

    /// This report followed by `later` (a `pushPending()` and then a `sync()`), as one.
    public func followed(by later: SyncReport) -> SyncReport {
        var both = self
        both.pushed += later.pushed
        both.applied += later.applied
        both.rejections += later.rejections
        both.conflicts += later.conflicts
        both.pulled += later.pulled
        both.snapshotRecords += later.snapshotRecords
        both.pulls += later.pulls
        both.dropped += later.dropped
        both.resets += later.resets
        both.purged += later.purged
        both.discardedMutations += later.discardedMutations
        both.changedLeads.formUnion(later.changedLeads)
        both.changedLeads.subtract(later.dropped)
        both.replaced = replaced || later.replaced
        both.stopped = stopped ?? later.stopped
        return both
    }
}

/// Why a device may sync no more: `device_revoked` (an admin revoked it) or `user_deactivated`.
public struct SyncStop: Error, Sendable, Equatable, CustomStringConvertible {
    public var code: String
    public var message: String
    /// The last of this device's mutations the server applied; the ones after it never will be.
    public var lastMutationId: Int64

    public init(code: String, message: String, lastMutationId: Int64) {
        self.code = code
        self.message = message
        self.lastMutationId = lastMutationId
    }

    public var description: String { "\(code): \(message)" }
}
