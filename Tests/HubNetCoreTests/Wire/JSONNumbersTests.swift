import Foundation
import HubNetCore
import HubNetTestSupport
import PropertyBased
import Testing

@Suite("Numbers in a JSON body")
struct JSONNumbersTests {
    /// A random document of objects, arrays, strings (with digits and quotes in them) and numbers,
    /// and the path of every number in it, walked here independently of the scanner.
    static func document(_ input: inout HostileInput, depth: Int, path: String, numbers: inout [(String, Double)]) -> Any {
        func join(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }
        switch depth == 0 ? input.below(2) : input.below(4) {
        case 0:
            let value = input.chance(50) ? Double(input.below(2_000_000)) - 1_000_000 : Double(input.below(100_000)) / 64
            numbers.append((path, value))
            return value
        case 1:
            return input.pick(["12", "\"3\"", "a,4:", "{\"5\":6}", "-7e8"])
        case 2:
            var object: [String: Any] = [:]
            // Sorted keys when serialized: walk them in that order.
            for key in ["a", "b", "c", "d"].filter({ _ in input.chance(70) }) {
                object[key] = document(&input, depth: depth - 1, path: join(key), numbers: &numbers)
            }
            return object
        default:
            return (0..<input.below(4)).map { index in document(&input, depth: depth - 1, path: "\(path)[\(index)]", numbers: &numbers) }
        }
    }

    @Test("every number of any document is found with its path and literal, in the text's order")
    func everyNumberWithItsPath() async {
        await propertyCheck(count: 300, input: Gen.uint64()) { seed in
            var input = HostileInput(seed: seed)
            var expected: [(String, Double)] = []
            let root: [String: Any] = ["root": Self.document(&input, depth: 4, path: "root", numbers: &expected)]
            guard let data = try? JSONSerialization.data(withJSONObject: root, options: [.sortedKeys]) else { return }
            let found = JSONNumbers.all(in: Array(data))
            let text = String(decoding: data, as: UTF8.self)
            #expect(found.map(\.path) == expected.map(\.0), "\(text)")
            #expect(found.map { Double($0.literal) } == expected.map(\.1), "\(text)")
        }
    }

    struct Body: Decodable {
        struct Item: Decodable { var n: Int }
        var a: Double
        var items: [Item]
    }

    @Test("the number a decoder could not take is named, whichever it is; a body without one names none")
    func culpritNamed() throws {
        func fails(_ bytes: [UInt8]) -> Bool {
            do {
                _ = try JSONDecoder().decode(Body.self, from: Data(bytes))
                return false
            } catch DecodingError.dataCorrupted(let context) where context.codingPath.isEmpty {
                return true
            } catch {
                return false
            }
        }
        for (body, path, literal) in [
            (#"{"a": 2.5, "items": [{"n": 1}, {"n": 1.5}]}"#, "items[1].n", "1.5"),
            (#"{"a": 1e400, "items": [{"n": 1}]}"#, "a", "1e400"),
            (#"{"a": 1, "items": [{"n": 99999999999999999999}]}"#, "items[0].n", "99999999999999999999"),
            (#"{"items": [{"n": -9223372036854775809}], "a": 0.5}"#, "items[0].n", "-9223372036854775809"),
        ] {
            let bytes = Array(body.utf8)
            #expect(fails(bytes), "\(body)")
            let culprit = try #require(JSONNumbers.culprit(in: bytes, fails: fails), "\(body)")
            #expect(culprit.path == path)
            #expect(culprit.literal == literal)
        }
        // Not JSON at all: no number is to blame.
        #expect(JSONNumbers.culprit(in: Array(#"{"a": 1, "items": [{"n": 1}"#.utf8), fails: fails) == nil)
    }

    @Test("a body of thousands of deeply nested numbers gives at most the limit of each kind, suspicious or not, in the text's order")
    func boundedPaths() {
        let depth = 4_000
        let text = String(repeating: "[1.5,7,", count: depth) + "0" + String(repeating: "]", count: depth)
        let found = JSONNumbers.all(in: Array(text.utf8), limit: 8)
        #expect(found.map(\.literal) == Array(repeating: ["1.5", "7"], count: 8).flatMap { $0 })
        #expect(found.first?.path == "[0]")
        #expect(found.last?.path == String(repeating: "[2]", count: 7) + "[1]")
        #expect(JSONNumbers.all(in: Array(text.utf8)).count == 2 * depth + 1)
    }

    @Test("any bytes at all are scanned without a crash, and the tries stop at the limit")
    func anyBytes() async {
        await propertyCheck(count: 300, input: Gen.uint64()) { seed in
            var input = HostileInput(seed: seed)
            let bytes = Array("[".utf8) + input.bytes(count: input.below(300)) + Array("1.5,2e9]".utf8)
            var tries = 0
            _ = JSONNumbers.culprit(in: bytes, limit: 5) { _ in
                tries += 1
                return true
            }
            #expect(tries <= 5)
        }
    }
}
