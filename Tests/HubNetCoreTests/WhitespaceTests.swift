import Foundation
import HubNetCore
import PropertyBased
import Testing

/// HubNet trims field values in Swift (`trimmingWhitespace`, `trimmingWhitespaceAndNewlines`);
/// what it keeps must be exactly what Foundation's `trimmingCharacters(in:)` keeps.
@Suite("Trimming whitespace")
struct WhitespaceTests {
    @Test("the two sets hold the same scalars as Foundation's whitespaces and whitespacesAndNewlines, over all of Unicode")
    func setsMatchFoundation() {
        var whitespace = 0
        var withNewlines = 0
        // Every scalar there is (surrogates are not scalars).
        for scalar in (0...0x10FFFF).lazy.compactMap(Unicode.Scalar.init(_:)) {
            #expect(Unicode.Scalar.inWhitespaces(scalar) == CharacterSet.whitespaces.contains(scalar), "U+\(String(scalar.value, radix: 16))")
            #expect(
                Unicode.Scalar.inWhitespacesAndNewlines(scalar) == CharacterSet.whitespacesAndNewlines.contains(scalar),
                "U+\(String(scalar.value, radix: 16))")
            if Unicode.Scalar.inWhitespaces(scalar) { whitespace += 1 }
            if Unicode.Scalar.inWhitespacesAndNewlines(scalar) { withNewlines += 1 }
        }
        // Unicode's Zs has 17 scalars, with the tab and Foundation's zero-width space 19;
        // White_Space has 25, with the zero-width space 26.
        #expect(whitespace == 19)
        #expect(withNewlines == 26)
    }

    /// Spaces of every kind, newlines, a combining mark (trimming works on scalars, so a leading
    /// space before a mark goes and the mark stays), a zero-width space (whitespace to Foundation, not to Unicode), a zero-width no-break space (to neither), letters
    /// and an emoji.
    static let pool: [Unicode.Scalar] = [
        " ", "\t", "\n", "\r", "\u{0B}", "\u{0C}", "\u{85}", "\u{A0}", "\u{1680}", "\u{2003}", "\u{2028}", "\u{2029}", "\u{202F}",
        "\u{3000}", "\u{301}", "\u{200B}", "\u{FEFF}", "a", "Z", "é", "ß", "中", "\u{1F600}", "@", "\u{0}",
    ]

    @Test("any string trims to what Foundation trims it to, with and without newlines")
    func stringsTrimAsFoundation() async {
        await propertyCheck(count: 2_000, input: Gen.int(in: 0...(Self.pool.count - 1)).array(of: 0...10)) { picks in
            var text = String.UnicodeScalarView()
            text.append(contentsOf: picks.map { Self.pool[$0] })
            let string = String(text)
            #expect(string.trimmingWhitespace() == string.trimmingCharacters(in: .whitespaces))
            #expect(string.trimmingWhitespaceAndNewlines() == string.trimmingCharacters(in: .whitespacesAndNewlines))
            #expect(string.trimmingWhitespace().unicodeScalars.elementsEqual(string.trimmingCharacters(in: .whitespaces).unicodeScalars))
            #expect(
                string.trimmingWhitespaceAndNewlines().unicodeScalars.elementsEqual(
                    string.trimmingCharacters(in: .whitespacesAndNewlines).unicodeScalars))
        }
    }

    @Test("a value is trimmed, blank is empty, inner spaces stay")
    func examples() {
        #expect(" \u{A0}Ana María\t\n".trimmingWhitespaceAndNewlines() == "Ana María")
        #expect(" \u{A0}Ana María\t\n".trimmingWhitespace() == "Ana María\t\n")
        #expect("\u{2028} \u{3000}".trimmingWhitespaceAndNewlines() == "")
        #expect("x".trimmingWhitespace() == "x")
        #expect("".trimmingWhitespaceAndNewlines() == "")
    }
}
