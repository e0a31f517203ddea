import Foundation

/// Values a careless or hostile client sends, drawn from a seed so a failing case can be replayed:
/// numbers at and past every integer and date boundary, strings with control characters, invalid
/// escapes and one letter carrying thousands of combining marks, nulls, wrong types, deep nesting.
/// The fuzz and property tests of every decoder of outside input draw from here.
public struct HostileInput: Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed &+ 0x9E37_79B9_7F4A_7C15 }

    /// SplitMix64.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    public mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(max(bound, 1))) }
    public mutating func chance(_ percent: Int) -> Bool { below(100) < percent }
    public mutating func pick<T>(_ values: [T]) -> T { values[below(values.count)] }

    /// A JSON number literal, often at a boundary.
    public mutating func number() -> String {
        pick([
            "0", "-1", "1", "2147483647", "2147483648", "-2147483649", "9223372036854775807", "9223372036854775808",
            "-9223372036854775808", "-9223372036854775809", "1e300", "-1e300", "1.5", "0.000001", "1e-400", "18446744073709551616",
            "253402300800000000", "-62135596800000001", "1733390000000000", "\(Int64(bitPattern: next()))", "\(below(1000))",
        ])
    }

    /// A JSON string literal, often nasty.
    public mutating func string() -> String {
        let raw: String = pick([
            "", " ", "x", "accept", "note.add", "lead.update", "activity.schedule", "call", "meeting", "city", "probability",
            "a@b.co", "not-an-email", "00000000-0000-0000-0000-000000000000", UUID().uuidString, "2026-05-01T09:00:00Z",
            "0000-01-01T00:00:00Z", "99999-01-01T00:00:00Z", "tomorrow", "<script>alert(1)</script>", "'; DROP TABLE leads; --",
            "e" + String(repeating: "\u{0301}", count: 20_000), String(repeating: "y", count: 70_000), "\u{0000}nul", "tab\there",
            "emoji 🧁", "\u{202E}rtl", "+33 1 23 45 67 89", "555-0100", "-1", "NaN", "Infinity", "true", "null",
        ])
        return Self.quote(raw)
    }

    /// Any JSON value, up to `depth` levels deep.
    public mutating func value(depth: Int = 2) -> String {
        switch below(depth > 0 ? 7 : 5) {
        case 0: return number()
        case 1, 2: return string()
        case 3: return pick(["null", "true", "false"])
        case 4: return pick(["[]", "{}", "\"\\ud800\"", "\"\\u0000\""])
        case 5: return "[" + (0..<below(4)).map { _ in value(depth: depth - 1) }.joined(separator: ",") + "]"
        default: return object(keys: ["a", "b", "name", "id", "field", "to"], depth: depth - 1)
        }
    }

    /// A JSON object with some of `keys` (sometimes one twice, sometimes a stranger) and hostile values.
    public mutating func object(keys: [String], depth: Int = 2, fixed: [String: String] = [:]) -> String {
        var members = fixed.map { "\(Self.quote($0.key)):\($0.value)" }
        for key in keys where chance(60) { members.append("\(Self.quote(key)):\(value(depth: depth))") }
        if chance(10) { members.append("\(Self.quote(pick(["extra", "leadId", "recordId", "dueAt"]))):\(value(depth: 0))") }
        return "{" + members.shuffled(using: &self).joined(separator: ",") + "}"
    }

    /// Bytes that may not be UTF-8 at all.
    public mutating func bytes(count: Int) -> [UInt8] { (0..<count).map { _ in UInt8(truncatingIfNeeded: next()) } }

    static func quote(_ text: String) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: [text], options: [.fragmentsAllowed])) ?? Data("[\"\"]".utf8)
        return String(String(decoding: data, as: UTF8.self).dropFirst().dropLast())
    }
}

extension HostileInput: RandomNumberGenerator {}
