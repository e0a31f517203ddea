import Foundation
import HubNetCore
import HubNetTestSupport
import PropertyBased
import Testing

@Suite("UUIDs as text")
struct UUIDTextTests {
    @Test("any UUID is written as Foundation writes it, lowercased, and reads back from it in any case")
    func roundTrip() async {
        await propertyCheck(count: 1_000, input: Gen.uint64()) { seed in
            var input = HostileInput(seed: seed)
            let bytes = input.bytes(count: 16)
            let uuid = UUID(
                uuid: (
                    bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7], bytes[8], bytes[9], bytes[10],
                    bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]
                ))
            let written = UUIDText.lowercase(uuid)
            #expect(written == uuid.uuidString.lowercased())
            // Mixed case, character by character.
            let mixed = String(written.map { input.chance(50) ? Character($0.uppercased()) : $0 })
            #expect(UUIDText.parse(mixed) == uuid, "\(mixed)")
            #expect(UUIDText.parse(Array(mixed.utf8)) == uuid)
        }
    }

    @Test("a UUID text with any one character changed, dropped or added is refused, or read as Foundation reads it")
    func mutated() async {
        await propertyCheck(count: 2_000, input: Gen.uint64()) { seed in
            var input = HostileInput(seed: seed)
            var text = Array(UUID().uuidString.utf8)
            let position = input.below(text.count + 1)
            switch input.below(3) {
            case 0 where position < text.count: text[position] = UInt8(truncatingIfNeeded: input.next() % 128)
            case 1 where position < text.count: text.remove(at: position)
            default: text.insert(input.pick(Array(" -0aF{}+x".utf8)), at: position)
            }
            let candidate = String(decoding: text, as: UTF8.self)
            // Never more lenient than Foundation, and never a different value.
            if let read = UUIDText.parse(candidate) {
                #expect(UUID(uuidString: candidate) == read, "\(candidate)")
            }
            // What is a canonical 8-4-4-4-12 hex text is read.
            let canonical = candidate.count == 36 && candidate.enumerated().allSatisfy { index, character in
                [8, 13, 18, 23].contains(index) ? character == "-" : character.isHexDigit
            }
            #expect((UUIDText.parse(candidate) != nil) == canonical, "\(candidate)")
        }
    }

    @Test("texts that are not the canonical form are refused")
    func refused() {
        for text in [
            "", "0", "00000000-0000-0000-0000-00000000000", "00000000-0000-0000-0000-0000000000000",
            "00000000000000000000000000000000", "{00000000-0000-0000-0000-000000000000}", " 0000000-0000-0000-0000-000000000000",
            "0000000g-0000-0000-0000-000000000000", "00000000-0000-0000-0000+000000000000", "00000000-0000-0000-0000-00000000000é",
        ] {
            #expect(UUIDText.parse(text) == nil, "\(text)")
        }
        #expect(UUIDText.parse("FFFFFFFF-ffff-FFFF-ffff-FFFFFFFFFFFF") == UUID(uuidString: "ffffffff-ffff-ffff-ffff-ffffffffffff"))
    }

    @Test("any bytes are written in hex as a formatted print writes them")
    func hex() async {
        await propertyCheck(count: 500, input: Gen.uint64()) { seed in
            var input = HostileInput(seed: seed)
            let bytes = input.bytes(count: input.below(65))
            #expect(Hex.lowercase(bytes) == bytes.map { String(format: "%02x", $0) }.joined())
        }
    }
}
