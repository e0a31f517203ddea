/// Finds which number of a JSON body a decoder could not take.
///
/// Foundation's `JSONDecoder` refuses a number its field cannot hold (`1.5` or
/// `99999999999999999999` for a whole number, `1e400` for any) as "not valid JSON", with no coding
/// path: the answer could not name the field. Given the bytes and the decode that failed, this tries
/// each number in turn with the literal replaced by `0`; the first whose replacement changes the
/// outcome is the one. It runs only after a decode failed, suspicious literals first (a fraction, an
/// exponent, 19 or more digits), at most `limit` decodes, and builds the paths of at most `limit`
/// numbers of each kind, so a body of many (or deeply nested) numbers costs no more than that.
public enum JSONNumbers {
    /// Every number literal and its path (`probability`, `mutations[2].order`), in the text's order;
    /// at most `limit` suspicious ones and `limit` others.
    public static func all(in bytes: [UInt8], limit: Int = .max) -> [(path: String, literal: String, range: Range<Int>)] {
        noted(in: bytes, limit: limit).map { ($0.path, String(decoding: bytes[$0.range], as: UTF8.self), $0.range) }
    }

    private static func noted(in bytes: [UInt8], limit: Int) -> [(path: String, range: Range<Int>, suspicious: Bool)] {
        var scanner = JSONPathScanner(bytes, collectingNumbers: true, numberLimit: limit)
        _ = scanner.run()
        return scanner.numbers ?? []
    }

    /// A literal a decoder may refuse: a fraction, an exponent, or 19 characters or more (past
    /// what a 64-bit integer holds).
    static func isSuspicious(_ literal: ArraySlice<UInt8>) -> Bool {
        literal.count >= 19 || literal.contains { $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "e") || $0 == UInt8(ascii: "E") }
    }

    /// The path and literal of the number that makes `decode` fail as `fails` judges, or `nil` when
    /// no single number does within `limit` tries.
    public static func culprit(
        in bytes: [UInt8], limit: Int = 32, fails: ([UInt8]) -> Bool
    ) -> (path: String, literal: String)? {
        let numbers = noted(in: bytes, limit: limit)
        let ordered = numbers.filter(\.suspicious) + numbers.filter { !$0.suspicious }
        for number in ordered.prefix(limit) {
            var replaced = bytes
            replaced.replaceSubrange(number.range, with: [UInt8(ascii: "0")])
            if !fails(replaced) { return (number.path, String(decoding: bytes[number.range], as: UTF8.self)) }
        }
        return nil
    }
}
