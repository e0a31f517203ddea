import Foundation
import HubNetCore
import HubNetTestSupport
import PropertyBased
import Testing

@Suite("Repeated JSON keys")
struct JSONDuplicateKeysTests {
    @Test("a body without repeated keys passes; the same body with one key repeated at any depth is caught with its path")
    func findsTheRepeat() async {
        await propertyCheck(count: 300, input: Gen.uint64()) { seed in
            var input = HostileInput(seed: seed)
            let inner = input.object(keys: ["x", "y", "z"], depth: 1)
            // JSONSerialization keeps one of each key: this is a body with no repeats.
            guard let clean = try? JSONSerialization.jsonObject(with: Data(#"{"a":1,"b":\#(inner),"c":[\#(inner)]}"#.utf8)),
                let cleanData = try? JSONSerialization.data(withJSONObject: clean)
            else { return }
            #expect(JSONDuplicateKeys.first(in: cleanData) == nil, "\(String(decoding: cleanData, as: UTF8.self))")
            let repeated = #"{"a":1,"b":{"q":1,"r":\#(input.value(depth: 1)),"q":2}}"#
            #expect(JSONDuplicateKeys.first(in: Data(repeated.utf8)) == "b.q")
        }
    }

    @Test("escaped and raw spellings of one key are the same key; arrays give their index")
    func spellings() {
        #expect(JSONDuplicateKeys.first(in: Data(#"{"r\u006fles":1,"roles":2}"#.utf8)) == "roles")
        #expect(JSONDuplicateKeys.first(in: Data(#"{"m":[{"id":1},{"id":1,"id":2}]}"#.utf8)) == "m[1].id")
        #expect(JSONDuplicateKeys.first(in: Data(#"{"é":1,"\u00e9":2}"#.utf8)) == "é")
        #expect(JSONDuplicateKeys.first(in: Data(#"{"😀":1,"\ud83d\ude00":2}"#.utf8)) == "😀")
        #expect(JSONDuplicateKeys.first(in: Data(#"{"a":"{\"a\":1,\"a\":2}"}"#.utf8)) == nil)
    }

    @Test("any bytes at all are scanned without a crash")
    func anyBytes() async {
        await propertyCheck(count: 500, input: Gen.uint64()) { seed in
            var input = HostileInput(seed: seed)
            var bytes = input.bytes(count: input.below(200))
            if input.chance(50) { bytes = Array(#"{"a":[{"b":"\"#.utf8) + bytes }
            _ = JSONDuplicateKeys.first(in: bytes)
        }
        // Nesting far deeper than any decoder accepts costs linear time, not a stack overflow.
        #expect(JSONDuplicateKeys.first(in: Array(repeating: UInt8(ascii: "["), count: 200_000)) == nil)
        let deep = String(repeating: #"{"a":"#, count: 50_000) + #"{"k":1,"k":2}"# + String(repeating: "}", count: 50_000)
        #expect(JSONDuplicateKeys.first(in: Array(deep.utf8))?.hasSuffix("a.k") == true)
    }
}
