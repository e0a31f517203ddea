/// Finds which number of a JSON body a decoder could not take.
///
/// Foundation's `JSONDecoder` refuses a number its field cannot hold (`1.5` or
/// `99999999999999999999` for a whole number, `1e400` for any) as "not valid JSON", with no coding
/// path: the answer could not name the field. Given the bytes and the decode that failed, this tries
/// each number in turn with the literal replaced by `0`; the first whose replacement changes the
/// outcome is the one. It runs only after a decode failed, suspicious literals first (a fraction, an
/// exponent, 19 or more digits), and at most `limit` decodes, so a body of many numbers costs no
/// more than that.
public enum JSONNumbers {
    /// Every number literal and its path (`probability`, `mutations[2].order`), in the text's order.
    public static func all(in bytes: [UInt8]) -> [(path: String, literal: String, range: Range<Int>)] {
        var scanner = JSONPathScanner(bytes, collectingNumbers: true)
        _ = scanner.run()
        return (scanner.numbers ?? []).map { ($0.path, String(decoding: bytes[$0.range], as: UTF8.self), $0.range) }
    }

    /// The path and literal of the number that makes `decode` fail as `fails` judges, or `nil` when
    /// no single number does within `limit` tries.
    public static func culprit(
        in bytes: [UInt8], limit: Int = 32, fails: ([UInt8]) -> Bool
    ) -> (path: String, literal: String)? {
        let numbers = all(in: bytes)
        func suspicious(_ literal: String) -> Bool {
            literal.utf8.contains { $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "e") || $0 == UInt8(ascii: "E") }
                || literal.utf8.count >= 19
        }
        let ordered = numbers.filter { suspicious($0.literal) } + numbers.filter { !suspicious($0.literal) }
        for number in ordered.prefix(limit) {
            var replaced = bytes
            replaced.replaceSubrange(number.range, with: [UInt8(ascii: "0")])
            if !fails(replaced) { return (number.path, number.literal) }
        }
        return nil
    }
}
