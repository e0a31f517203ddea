import Foundation
import HubNetCore
import Testing

@Suite("Business days")
struct BusinessCalendarTests {
    static func date(_ text: String) throws -> Date { try #require(Timestamp.parseISO8601(text)) }

    @Test("business-day arithmetic across a weekend, in the organisation's time zone")
    func acrossWeekend() throws {
        let utc = BusinessCalendar.utc
        // Friday 2026-12-04 15:00 UTC.
        #expect(utc.adding(businessDays: 1, to: try Self.date("2026-12-04T15:00:00Z")) == (try Self.date("2026-12-07T15:00:00Z")))
        #expect(utc.adding(businessDays: 2, to: try Self.date("2026-12-04T15:00:00Z")) == (try Self.date("2026-12-08T15:00:00Z")))
        // Wednesday + 2 stays in the week.
        #expect(utc.adding(businessDays: 2, to: try Self.date("2026-12-02T09:30:00Z")) == (try Self.date("2026-12-04T09:30:00Z")))
        // A Saturday start counts from Monday's start.
        #expect(utc.adding(businessDays: 2, to: try Self.date("2026-12-05T10:00:00Z")) == (try Self.date("2026-12-09T00:00:00Z")))
        #expect(utc.adding(businessDays: 0, to: try Self.date("2026-12-06T10:00:00Z")) == (try Self.date("2026-12-07T00:00:00Z")))
        // Ten business days are two weeks.
        #expect(utc.adding(businessDays: 10, to: try Self.date("2026-12-01T08:00:00Z")) == (try Self.date("2026-12-15T08:00:00Z")))

        // In Auckland (UTC+13 in December) Friday 23:00 UTC is already Saturday: counting starts Monday.
        let auckland = try BusinessCalendar(zone: "Pacific/Auckland")
        #expect(!auckland.isBusinessDay(try Self.date("2026-12-04T23:00:00Z")))
        #expect(auckland.adding(businessDays: 1, to: try Self.date("2026-12-04T23:00:00Z")) == (try Self.date("2026-12-07T11:00:00Z")))
    }

    @Test("the local time of day is kept across a daylight-saving change; an unknown zone is refused by name")
    func daylightSaving() throws {
        let berlin = try BusinessCalendar(zone: "Europe/Berlin")
        // Friday 2026-03-27 09:00 in Berlin (08:00 UTC); clocks go forward on Sunday the 29th.
        let monday = berlin.adding(businessDays: 1, to: try Self.date("2026-03-27T08:00:00Z"))
        #expect(monday == (try Self.date("2026-03-30T07:00:00Z")))
        #expect(throws: DomainError.self) { try BusinessCalendar(zone: "Mars/Olympus") }
        #expect((try? BusinessCalendar(zone: "Mars/Olympus"))?.timeZone == nil)
    }
}
