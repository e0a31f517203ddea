/// A genuine credential whose access has ended: the device was revoked or its user deactivated.
/// Distinct from a bad token (`unauthenticated`), so a device learns to stop, wipe its local data,
/// and report every mutation it still holds; `lastMutationID` tells it which ones were applied.
public struct AccessEnded: Error, Sendable, Equatable {
    public enum Reason: String, Sendable, Equatable {
        case deviceRevoked = "device_revoked"
        case userDeactivated = "user_deactivated"
    }

    public var reason: Reason
    /// The device's last mutation the server applied (`nil` for a user's API token).
    public var lastMutationID: Int64?

    public init(_ reason: Reason, lastMutationID: Int64?) {
        self.reason = reason
        self.lastMutationID = lastMutationID
    }

    public var message: String {
        switch reason {
        case .deviceRevoked: "this device was revoked: delete its local data; mutations after last_mutation_id were not applied"
        case .userDeactivated: "this user was deactivated: delete the device's local data; mutations after last_mutation_id were not applied"
        }
    }
}
