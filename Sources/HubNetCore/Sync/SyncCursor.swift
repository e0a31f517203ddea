import Foundation

/// A device's position in its tenant's change log: the server epoch it was minted under and the
/// position (commit order) of the last change it has. Opaque to clients.
public struct SyncCursor: Sendable, Equatable, Comparable, CustomStringConvertible {
    public var epoch: UUID
    public var seq: Int64

    public init(epoch: UUID, seq: Int64) {
        self.epoch = epoch
        self.seq = seq
    }

    /// `v1.<epoch>.<seq>`
    public var description: String { "v1.\(UUIDText.lowercase(epoch)).\(seq)" }

    /// Reads exactly the form `description` writes (the OpenAPI document states it as a pattern).
    public init?(_ text: String) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == "v1", parts[1].utf8.count == 36, let epoch = UUIDText.parse(parts[1].utf8),
            (1...18).contains(parts[2].utf8.count), parts[2].utf8.allSatisfy({ (0x30...0x39).contains($0) }), let seq = Int64(parts[2])
        else { return nil }
        self.init(epoch: epoch, seq: seq)
    }

    /// The exact form of a cursor.
    public static let pattern =
        "^v1\\.[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\\.[0-9]{1,18}$"

    public static func < (lhs: SyncCursor, rhs: SyncCursor) -> Bool { lhs.seq < rhs.seq }
}

/// Why a device must drop its local copy and re-sync from a snapshot (keeping its pending mutations).
public enum SyncResetReason: String, Sendable, Codable, Equatable {
    /// The cursor was minted under another server epoch (a restored or replaced database).
    case epochChanged = "epoch_changed"
    /// The change log was compacted past the cursor.
    case behindHorizon = "behind_horizon"
    /// The cursor names changes this database never had (restored to an earlier point).
    case cursorFromFuture = "cursor_from_future"
    /// The user's roles, standing or units changed: the set of records they see is different.
    case viewChanged = "view_changed"
}
