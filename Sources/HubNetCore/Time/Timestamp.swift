import Foundation

/// The instants HubNet stores: years 1 to 9999, at microsecond precision.
///
/// Every time that comes from outside (a device's `acted_at`, an activity's `due_at`, an ISO date in
/// a body, a query or a CSV cell) is checked against this range where it enters, so no conversion
/// further in (Swift's `Int64(Double)`, PostgresNIO's binary date encoding) can trap on it.
public enum Timestamp {
    /// 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999999Z, in microseconds since 1970.
    public static let validMicros: ClosedRange<Int64> = -62_135_596_800_000_000...253_402_300_799_999_999

    /// The same range as dates.
    public static let validDates: ClosedRange<Date> =
        Date(timeIntervalSince1970: -62_135_596_800)...Date(timeIntervalSince1970: 253_402_300_799.999_999)

    /// A time in microseconds since 1970, refused with `invalid_value` naming `field` when outside the range.
    public static func date(micros: Int64, field: String) throws(DomainError) -> Date {
        guard validMicros.contains(micros) else {
            throw DomainError(
                kind: .invalid, code: "invalid_value",
                message: "\(field): \(micros) is not a time HubNet keeps (microseconds since 1970 between the years 1 and 9999)",
                field: field)
        }
        return Date(micros: micros)
    }

    /// An RFC 3339 date-time (`2026-05-01T09:00:00Z`, `2026-05-01T11:00:00.25+02:00`) within the
    /// range, or `nil`. Any offset RFC 3339 allows (hours 00 to 23) is read; `t`, `z` and a leap
    /// second (`:60`, read as the next second) are accepted as the RFC says.
    public static func parseISO8601(_ text: String) -> Date? {
        let bytes = Array(text.utf8)
        guard (20...64).contains(bytes.count) else { return nil }
        var index = 0
        func digits(_ count: Int) -> Int? {
            guard index + count <= bytes.count else { return nil }
            var value = 0
            for byte in bytes[index..<index + count] {
                guard (48...57).contains(byte) else { return nil }
                value = value * 10 + Int(byte - 48)
            }
            index += count
            return value
        }
        func expect(_ characters: String) -> Bool {
            guard index < bytes.count, characters.utf8.contains(bytes[index]) else { return false }
            index += 1
            return true
        }
        guard let year = digits(4), expect("-"), let month = digits(2), expect("-"), let day = digits(2),
            expect("Tt"), let hour = digits(2), expect(":"), let minute = digits(2), expect(":"), let second = digits(2)
        else { return nil }
        var fraction = 0.0
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            let start = index
            var scale = 0.1
            while index < bytes.count, (48...57).contains(bytes[index]) {
                fraction += Double(bytes[index] - 48) * scale
                scale /= 10
                index += 1
            }
            guard index > start else { return nil }
        }
        var offsetSeconds = 0
        if expect("Zz") {
        } else if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
            let sign = bytes[index] == UInt8(ascii: "-") ? -1 : 1
            index += 1
            guard let offsetHours = digits(2), expect(":"), let offsetMinutes = digits(2), offsetHours <= 23, offsetMinutes <= 59
            else { return nil }
            offsetSeconds = sign * (offsetHours * 3600 + offsetMinutes * 60)
        } else {
            return nil
        }
        guard index == bytes.count, (1...12).contains(month), day >= 1, day <= daysIn(month: month, year: year),
            hour <= 23, minute <= 59, second <= 60
        else { return nil }
        let days = daysFromCivil(year: year, month: month, day: day)
        let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offsetSeconds
        let date = Date(timeIntervalSince1970: Double(seconds) + fraction)
        guard validDates.contains(date) else { return nil }
        return date
    }

    private static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's civil-date algorithm).
    private static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// RFC 3339 in UTC at microsecond precision (`2026-05-01T09:00:00.000250Z`; no fraction when
    /// it is zero): the exact stored instant, as FHIR and evidence bundles carry it. Reads back
    /// through `parseISO8601` to the same microsecond.
    public static func rfc3339(micros value: Int64) -> String {
        let micros = min(max(value, validMicros.lowerBound), validMicros.upperBound)
        let perDay: Int64 = 86_400_000_000
        let days = Int(micros >= 0 ? micros / perDay : (micros - perDay + 1) / perDay)
        let ofDay = micros - Int64(days) * perDay
        let (year, month, day) = civilFromDays(days)
        let seconds = Int(ofDay / 1_000_000)
        let fraction = Int(ofDay % 1_000_000)
        func pad(_ number: Int, _ width: Int) -> String {
            let text = String(number)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        var text = "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))T\(pad(seconds / 3600, 2)):\(pad(seconds / 60 % 60, 2)):\(pad(seconds % 60, 2))"
        if fraction != 0 { text += "." + pad(fraction, 6) }
        return text + "Z"
    }

    public static func rfc3339(_ date: Date) -> String { rfc3339(micros: date.micros) }

    /// RFC 5322 in UTC to the second (`Sun, 06 Dec 2026 17:35:00 +0000`), as an email's `Date:`
    /// header carries it: by arithmetic, no formatter per message. Clamped to years 1–9999 as
    /// `rfc3339` is.
    public static func rfc5322(_ date: Date) -> String {
        let micros = date.micros
        let perDay: Int64 = 86_400_000_000
        let days = Int(micros >= 0 ? micros / perDay : (micros - perDay + 1) / perDay)
        let seconds = Int((micros - Int64(days) * perDay) / 1_000_000)
        let (year, month, day) = civilFromDays(days)
        func pad(_ number: Int, _ width: Int) -> String {
            let text = String(number)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        let weekdays = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"]  // 1970-01-01 was a Thursday
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        return "\(weekdays[((days % 7) + 7) % 7]), \(pad(day, 2)) \(months[month - 1]) \(pad(year, 4)) "
            + "\(pad(seconds / 3600, 2)):\(pad(seconds / 60 % 60, 2)):\(pad(seconds % 60, 2)) +0000"
    }

    /// The exact microsecond of a time written by `rfc3339(micros:)`, and only in that form (UTC,
    /// `Z`, six fraction digits or none): `nil` for anything else, so no two texts name one instant.
    public static func micros(rfc3339 text: String) -> Int64? {
        let bytes = Array(text.utf8)
        guard bytes.count == 20 || bytes.count == 27 else { return nil }
        func number(_ range: Range<Int>) -> Int? {
            var value = 0
            for byte in bytes[range] {
                guard (48...57).contains(byte) else { return nil }
                value = value * 10 + Int(byte - 48)
            }
            return value
        }
        guard let year = number(0..<4), let month = number(5..<7), let day = number(8..<10), let hour = number(11..<13),
            let minute = number(14..<16), let second = number(17..<19), (1...12).contains(month), (1...31).contains(day)
        else { return nil }
        let fraction = bytes.count == 27 ? number(20..<26) : 0
        guard let fraction else { return nil }
        let seconds = Int64(daysFromCivil(year: year, month: month, day: day)) * 86_400 + Int64(hour * 3600 + minute * 60 + second)
        let (scaled, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000)
        guard !overflow, validMicros.contains(scaled + Int64(fraction)) else { return nil }
        let candidate = scaled + Int64(fraction)
        // Written back, it must be the same text: this refuses every other spelling and any field
        // out of its range (a 31st of February, hour 24).
        if rfc3339(micros: candidate) == text { return candidate }
        return nil
    }

    /// The proleptic Gregorian date of a day count since 1970-01-01 (H. Hinnant's algorithm).
    private static func civilFromDays(_ days: Int) -> (Int, Int, Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    /// `date`, refused with `validation_failed` naming `field` when outside the range.
    public static func check(_ date: Date, field: String) throws(DomainError) -> Date {
        guard validDates.contains(date) else { throw .invalid(field, "must be a time between the years 1 and 9999") }
        return date
    }
}

/// Microseconds since 1970, the time unit of the sync protocol.
extension Date {
    /// Never traps: a date outside `Timestamp.validDates` is clamped to it (dates from outside are
    /// checked where they enter; this is the last wall).
    public var micros: Int64 {
        let value = (timeIntervalSince1970 * 1_000_000).rounded()
        guard value.isFinite else { return value.isNaN ? 0 : (value > 0 ? Timestamp.validMicros.upperBound : Timestamp.validMicros.lowerBound) }
        // The upper bound is not a Double (it rounds up to the next microsecond, in year 10000):
        // clamped once more as an integer.
        let clamped = Int64(min(max(value, Double(Timestamp.validMicros.lowerBound)), Double(Timestamp.validMicros.upperBound)))
        return min(max(clamped, Timestamp.validMicros.lowerBound), Timestamp.validMicros.upperBound)
    }

    /// A date from microseconds; every `Int64` converts (outside the valid range, see `Timestamp.date`).
    public init(micros: Int64) { self.init(timeIntervalSince1970: Double(micros) / 1_000_000) }
}
