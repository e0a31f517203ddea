import Foundation

/// Deadlines counted in business days (Monday to Friday) in an organisation's time zone, for timer
/// rules such as "no action within two business days".
public struct BusinessCalendar: Sendable, Equatable {
    public var timeZone: TimeZone

    public init(timeZone: TimeZone) { self.timeZone = timeZone }

    /// A calendar in the IANA zone named `identifier` (`Europe/Berlin`), refused naming `field`.
    public init(zone identifier: String, field: String = "time_zone") throws(DomainError) {
        guard identifier.utf8.count <= 64, let zone = TimeZone(identifier: identifier) else {
            throw .invalid(field, "must be an IANA time zone such as Europe/Berlin or America/New_York")
        }
        self.timeZone = zone
    }

    public static let utc = BusinessCalendar(timeZone: TimeZone(identifier: "UTC") ?? .current)

    private var calendar: Calendar {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        return calendar
    }

    /// Whether the local day of `date` is Monday to Friday.
    public func isBusinessDay(_ date: Date) -> Bool {
        let weekday = calendar.component(.weekday, from: date)
        return weekday != 1 && weekday != 7
    }

    /// `days` business days after `date`, at the same local time. A start on a weekend counts from
    /// the start of the next Monday, so a lead referred on Saturday has until the same hour-less
    /// Monday + `days`: Friday 15:00 + 2 → Tuesday 15:00; Saturday 10:00 + 2 → Wednesday 00:00.
    public func adding(businessDays days: Int, to date: Date) -> Date {
        let calendar = calendar
        var current = date
        if !isBusinessDay(current) {
            current = calendar.startOfDay(for: current)
            while !isBusinessDay(current) { current = calendar.date(byAdding: .day, value: 1, to: current) ?? current + 86_400 }
        }
        var left = max(0, min(days, 3_650))
        while left > 0 {
            current = calendar.date(byAdding: .day, value: 1, to: current) ?? current + 86_400
            if isBusinessDay(current) { left -= 1 }
        }
        return current
    }
}
