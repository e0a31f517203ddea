import Foundation

/// The dates derived from a lead's key dates, and its badges, computed in one place.
public struct LeadSchedule: Sendable, Equatable, Codable {
    /// No one has acted on the open lead yet.
    public var isNew: Bool
    /// The open lead is past its expected completion (000: only until the first action).
    public var isOverdue: Bool
    /// Seconds left until the expected completion date; `nil` when there is none or it has passed.
    public var timeToCompletion: TimeInterval?
    /// Seconds past the expected completion date; `nil` when not overdue.
    public var timeOverdue: TimeInterval?
    /// Best-practice close date (004: five days after creation).
    public var targetCloseAt: Date?
    /// The latest a lead should stay open (004: thirty days after creation).
    public var maximumOpenAt: Date?
    /// The open lead is past its maximum open time (004).
    public var isPastMaximum: Bool

    /// When the lead's assignee is next reminded that nothing happened (002: each stage's interval,
    /// counted from the last action, creation or reminder), or `nil` when no reminder applies: the
    /// lead is closed, unassigned, or in a stage without an interval.
    public static func nextReminder(_ lead: LeadState, template: WorkflowTemplate) -> Date? {
        guard lead.assignedUserID != nil, let status = template.status(lead.status), !status.lifeCycle.isClosed,
            let stage = status.stage, let days = template.stages.first(where: { $0.key == stage })?.reminderDays
        else { return nil }
        let anchor = [lead.createdAt, lead.lastActionAt, lead.remindedAt].compactMap { $0 }.max() ?? lead.createdAt
        return anchor + Double(days) * 86_400
    }

    public static func of(_ lead: LeadState, template: WorkflowTemplate, now: Date) -> LeadSchedule {
        let closed = template.status(lead.status)?.lifeCycle.isClosed ?? false
        let acted = lead.lastActionAt != nil
        let badgesShown = !closed && !(template.badgesUntilFirstAction && acted)
        let due = lead.expectedCompletionAt
        let overdue = badgesShown && due.map { now > $0 } == true
        let day: TimeInterval = 86_400
        let maximumOpenAt = template.timers.maximumOpenDays.map { lead.createdAt + Double($0) * day }
        return LeadSchedule(
            isNew: !closed && !acted,
            isOverdue: overdue,
            timeToCompletion: closed ? nil : due.flatMap { $0 > now ? $0.timeIntervalSince(now) : nil },
            timeOverdue: closed ? nil : due.flatMap { now > $0 ? now.timeIntervalSince($0) : nil },
            targetCloseAt: template.timers.targetCloseDays.map { lead.createdAt + Double($0) * day },
            maximumOpenAt: maximumOpenAt, isPastMaximum: !closed && maximumOpenAt.map { now > $0 } == true)
    }
}
