import Foundation
import HubNetCore
import Testing

@Suite("Timestamps")
struct TimestampTests {
    @Test("a date's microseconds never leave years 1–9999: infinities, NaN and dates far out clamp to the range's ends, which read back as themselves")
    func microsStayInRange() {
        let upper = Timestamp.validMicros.upperBound
        let lower = Timestamp.validMicros.lowerBound
        #expect(Date(timeIntervalSince1970: 1e300).micros == upper)
        #expect(Date(timeIntervalSince1970: .infinity).micros == upper)
        #expect(Date(timeIntervalSince1970: 253_402_300_800).micros == upper, "the first second of year 10000")
        #expect(Date(timeIntervalSince1970: -1e300).micros == lower)
        #expect(Date(timeIntervalSince1970: -.infinity).micros == lower)
        #expect(Date(timeIntervalSince1970: .nan).micros == 0)
        #expect(Timestamp.rfc3339(micros: upper) == "9999-12-31T23:59:59.999999Z")
        #expect(Timestamp.micros(rfc3339: "9999-12-31T23:59:59.999999Z") == upper)
        #expect(Timestamp.rfc5322(Date(timeIntervalSince1970: 1e300)) == "Fri, 31 Dec 9999 23:59:59 +0000")
        #expect(Timestamp.rfc5322(Date(timeIntervalSince1970: -1e300)) == "Mon, 01 Jan 0001 00:00:00 +0000")
    }
}
