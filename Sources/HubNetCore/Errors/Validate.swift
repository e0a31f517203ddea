import Foundation

/// Field rules shared by every draft, so that one rule has one wording everywhere.
public enum Validate {
    /// Trims and requires between 1 and `max` characters.
    ///
    /// Characters are counted as Unicode scalars, not as what a reader sees: one visible letter with
    /// 20,000 combining marks is 20,001 of them (and 40 KB), not 1. So `max` also bounds the bytes
    /// (at most 4 per scalar), which keeps every value within PostgreSQL's index limits.
    public static func text(_ value: String, field: String, max: Int) throws(DomainError) -> String {
        let trimmed = value.trimmingWhitespaceAndNewlines()
        guard !trimmed.isEmpty else { throw .invalid(field, "must not be empty") }
        guard trimmed.unicodeScalars.count <= max else { throw .invalid(field, "must be at most \(max) characters") }
        guard !trimmed.unicodeScalars.contains(where: { $0.value < 0x20 && $0 != "\n" && $0 != "\t" && $0 != "\r" }) else {
            throw .invalid(field, "must not contain control characters")
        }
        return trimmed
    }

    /// Like `text`, but an absent or blank value is `nil`.
    public static func optionalText(_ value: String?, field: String, max: Int) throws(DomainError) -> String? {
        guard let value, !value.trimmingWhitespaceAndNewlines().isEmpty else { return nil }
        return try text(value, field: field, max: max)
    }

    /// A plausible address: one `@`, a dotted domain, no spaces; lower-cased.
    public static func email(_ value: String, field: String) throws(DomainError) -> String {
        let trimmed = value.trimmingWhitespaceAndNewlines().lowercased()
        let parts = trimmed.split(separator: "@", omittingEmptySubsequences: false)
        guard trimmed.utf8.count <= 254, parts.count == 2, !parts[0].isEmpty,
            parts[1].contains("."), !parts[1].hasPrefix("."), !parts[1].hasSuffix("."),
            !trimmed.contains(where: \.isWhitespace)
        else { throw .invalid(field, "must be an email address") }
        return trimmed
    }

    public static func optionalEmail(_ value: String?, field: String) throws(DomainError) -> String? {
        guard let value, !value.trimmingWhitespace().isEmpty else { return nil }
        return try email(value, field: field)
    }

    /// Digits with the usual separators and an optional leading `+`; 6 to 20 digits.
    public static func optionalPhone(_ value: String?, field: String) throws(DomainError) -> String? {
        guard let value, !value.trimmingWhitespace().isEmpty else { return nil }
        let trimmed = value.trimmingWhitespace()
        let allowed = Set("0123456789+-. ()")
        let digits = trimmed.filter(\.isNumber).count
        guard trimmed.allSatisfy(allowed.contains), (6...20).contains(digits),
            !trimmed.dropFirst().contains("+")
        else { throw .invalid(field, "must be a phone number") }
        return trimmed
    }

    /// An absolute http or https URL.
    public static func optionalURL(_ value: String?, field: String) throws(DomainError) -> String? {
        guard let value, !value.trimmingWhitespace().isEmpty else { return nil }
        let trimmed = value.trimmingWhitespace()
        guard trimmed.utf8.count <= 2000, let url = URL(string: trimmed), let scheme = url.scheme?.lowercased(),
            scheme == "http" || scheme == "https", url.host?.isEmpty == false
        else { throw .invalid(field, "must be an http or https URL") }
        return trimmed
    }

    /// A list of short labels: each trimmed and non-empty, duplicates removed in order.
    public static func labels(_ values: [String], field: String, maxCount: Int = 100, maxLength: Int = 200)
        throws(DomainError) -> [String]
    {
        guard values.count <= maxCount else { throw .invalid(field, "must have at most \(maxCount) entries") }
        var seen = Set<String>()
        var result: [String] = []
        for (index, value) in values.enumerated() {
            let label = try text(value, field: "\(field)[\(index)]", max: maxLength)
            if seen.insert(label.lowercased()).inserted { result.append(label) }
        }
        return result
    }

    /// Lower-case letters, digits and inner hyphens; 2 to 63 characters.
    public static func slug(_ value: String, field: String) throws(DomainError) -> String {
        let allowed = Set("abcdefghijklmnopqrstuvwxyz0123456789-")
        guard (2...63).contains(value.utf8.count), value.allSatisfy(allowed.contains),
            !value.hasPrefix("-"), !value.hasSuffix("-")
        else { throw .invalid(field, "must be 2 to 63 lower-case letters, digits or inner hyphens") }
        return value
    }

    /// Money amounts: the columns hold 14 digits with 2 decimals.
    public static let amounts: ClosedRange<Decimal> = 0...1_000_000_000_000

    /// An amount of money within `amounts`, rounded to cents, or a `validation_failed` naming `field`.
    public static func optionalAmount(_ value: Decimal?, field: String) throws(DomainError) -> Decimal? {
        guard let value else { return nil }
        guard !value.isNaN, value.isFinite, amounts.contains(value) else {
            throw .invalid(field, "must be between 0 and 1,000,000,000,000")
        }
        var rounded = Decimal()
        var input = value
        NSDecimalRound(&rounded, &input, 2, .plain)
        return rounded
    }
}
