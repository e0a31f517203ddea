import Foundation

/// Whether an action taken offline before an automatic transition (an accept before the lead
/// expired) still counts when it reaches the server after it.
///
/// A tenant sets a grace (0 = never, at most 7 days). The device's clock is trusted only within
/// that grace: the acting time counts as `max(actedAt, now - grace)` and never later than `now`.
/// When the lead's last transition was automatic and happened after that time, the action is
/// decided against the state the lead had before it, at the time the user acted.
public enum OfflineGrace {
    public static func evaluation(
        of lead: LeadState, lastEntry: LeadHistoryEntry?, template: WorkflowTemplate, actedAt: Date?, now: Date,
        grace: TimeInterval
    ) -> (state: LeadState, at: Date) {
        guard grace > 0, let actedAt, let entry = lastEntry, entry.actorUserID == nil,
            template.action(entry.action)?.systemOnly == true, let previous = entry.fromStatus, entry.toStatus == lead.status
        else { return (lead, now) }
        let trusted = min(max(actedAt, now - grace), now)
        guard trusted < entry.at else { return (lead, now) }
        var before = lead
        before.status = previous
        before.completedAt = nil
        before.expiresAt = entry.at
        return (before, trusted)
    }

    /// Whether an action decided under the grace stands. Had it reached the server when the user
    /// acted, the lead would still have expired by now if the action left it open with an expiry
    /// already past (an action that does not restart the expiry, or restarts it for fewer days than
    /// the delay): then the grace changes nothing, the lead stays as its timer left it, and the
    /// action is decided against that state. Otherwise the revived lead would expire a second time
    /// at the next timer pass.
    public static func stands(_ decided: LeadState, now: Date) -> Bool {
        decided.completedAt != nil || (decided.expiresAt.map { $0 > now } ?? true)
    }
}
