import Foundation

/// A device's position in its tenant's change log: the server epoch it was minted under and the
/// last change it has, in log order (transaction id, then sequence). Opaque to clients.
public struct SyncCursor: Sendable, Equatable, Comparable, CustomStringConvertible {
    public var epoch: UUID
    public var xid: UInt64
    public var seq: Int64

    public init(epoch: UUID, xid: UInt64, seq: Int64) {
        self.epoch = epoch
        self.xid = xid
        self.seq = seq
    }

    /// `v1.<epoch>.<xid>.<seq>`
    public var description: String { "v1.\(epoch.uuidString.lowercased()).\(xid).\(seq)" }

    public init?(_ text: String) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] == "v1", let epoch = UUID(uuidString: String(parts[1])),
            let xid = UInt64(parts[2]), let seq = Int64(parts[3]), seq >= 0
        else { return nil }
        self.init(epoch: epoch, xid: xid, seq: seq)
    }

    public static func < (lhs: SyncCursor, rhs: SyncCursor) -> Bool {
        (lhs.xid, lhs.seq) < (rhs.xid, rhs.seq)
    }
}

/// Why a device must drop its local copy and re-sync from a snapshot (keeping its pending mutations).
public enum SyncResetReason: String, Sendable, Codable, Equatable {
    /// The cursor was minted under another server epoch (a restored or replaced database).
    case epochChanged = "epoch_changed"
    /// The change log was compacted past the cursor.
    case behindHorizon = "behind_horizon"
    /// The cursor names transactions this database never had (restored to an earlier point).
    case cursorFromFuture = "cursor_from_future"
    /// The user's roles, standing or units changed: the set of records they see is different.
    case viewChanged = "view_changed"
}
