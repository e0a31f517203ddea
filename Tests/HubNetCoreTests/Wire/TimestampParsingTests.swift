import Foundation
import HubNetCore
import HubNetTestSupport
import PropertyBased
import Testing

@Suite("RFC 3339 date-times from outside")
struct TimestampParsingTests {
    @Test("any instant from 1583 to 9999, written with any offset RFC 3339 allows, reads back as the same instant")
    func roundTrip() async {
        await propertyCheck(count: 1_000, input: Gen.uint64()) { seed in
            var input = HostileInput(seed: seed)
            // From 1583: Foundation's Gregorian calendar is Julian before October 1582, while RFC 3339
            // (and PostgreSQL) count proleptic Gregorian; year 1 is checked by its known value below.
            let seconds = Int64(input.below(Int(253_402_300_799 + 12_212_553_600))) - 12_212_553_600
            let offsetMinutes = (input.below(24 * 60) * (input.chance(50) ? 1 : -1))
            // Written independently: the UTC calendar fields of (instant + offset), then the offset.
            var calendar = Calendar(identifier: .gregorian)
            calendar.timeZone = TimeZone(identifier: "UTC")!
            let local = Date(timeIntervalSince1970: TimeInterval(seconds + Int64(offsetMinutes) * 60))
            let c = calendar.dateComponents([.era, .year, .month, .day, .hour, .minute, .second], from: local)
            guard let year = c.year, let month = c.month, let day = c.day, let hour = c.hour, let minute = c.minute,
                let second = c.second, c.era == 1, (1...9999).contains(year)
            else { return }
            let sign = offsetMinutes < 0 ? "-" : "+"
            let text = String(
                format: "%04d-%02d-%02dT%02d:%02d:%02d%@%02d:%02d", year, month, day, hour, minute, second, sign,
                abs(offsetMinutes) / 60, abs(offsetMinutes) % 60)
            #expect(Timestamp.parseISO8601(text) == Date(timeIntervalSince1970: TimeInterval(seconds)), "\(text)")
        }
    }

    @Test("RFC 3339 forms are read; what RFC 3339 does not allow, or what is outside years 1 to 9999, is nil")
    func forms() throws {
        let noon = try #require(Timestamp.parseISO8601("2026-05-01T12:00:00Z"))
        #expect(noon.timeIntervalSince1970 == 1_777_636_800)
        #expect(Timestamp.parseISO8601("2026-05-01t14:00:00+02:00") == noon)
        #expect(Timestamp.parseISO8601("2026-05-01T12:00:00z") == noon)
        #expect(Timestamp.parseISO8601("2026-05-01T12:00:00.250Z") == noon.addingTimeInterval(0.25))
        #expect(Timestamp.parseISO8601("2026-05-02T07:37:00+19:37") == noon)
        #expect(Timestamp.parseISO8601("2016-12-31T23:59:60Z") == Timestamp.parseISO8601("2017-01-01T00:00:00Z"))
        #expect(Timestamp.parseISO8601("2024-02-29T00:00:00Z") != nil)
        #expect(Timestamp.parseISO8601("0001-01-01T00:00:00Z") == Timestamp.validDates.lowerBound)
        for bad in [
            "2026-05-01T12:00:00", "2026-05-01 12:00:00Z", "2023-02-29T00:00:00Z", "2026-13-01T00:00:00Z", "2026-04-31T00:00:00Z",
            "2026-05-01T24:00:00Z", "2026-05-01T12:60:00Z", "2026-05-01T12:00:61Z", "2026-05-01T12:00:00+24:00",
            "2026-05-01T12:00:00.Z", "2026-05-01T12:00:00+0200", "0000-12-31T23:59:59Z", "0001-01-01T00:00:00+00:01",
            "+2026-05-01T12:00:00Z", "２０２６-05-01T12:00:00Z", "2026-05-01T12:00:00Zjunk", "",
        ] {
            #expect(Timestamp.parseISO8601(bad) == nil, "\(bad)")
        }
    }
}
