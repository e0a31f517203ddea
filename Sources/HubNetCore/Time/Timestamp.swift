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

    /// An ISO 8601 date-time (`2026-05-01T09:00:00Z`, fractional seconds allowed) within the range,
    /// or `nil`.
    public static func parseISO8601(_ text: String) -> Date? {
        guard text.utf8.count <= 64 else { return nil }
        let date =
            (try? Date(text, strategy: Date.ISO8601FormatStyle()))
            ?? (try? Date(text, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true)))
        guard let date, validDates.contains(date) else { return nil }
        return date
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
        return Int64(min(max(value, Double(Timestamp.validMicros.lowerBound)), Double(Timestamp.validMicros.upperBound)))
    }

    /// A date from microseconds; every `Int64` converts (outside the valid range, see `Timestamp.date`).
    public init(micros: Int64) { self.init(timeIntervalSince1970: Double(micros) / 1_000_000) }
}
