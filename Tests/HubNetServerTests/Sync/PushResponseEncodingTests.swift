import Foundation
import HubNetCore
@testable import HubNetServer
import PropertyBased
import Testing

@Suite("A push's answer on the wire")
struct PushResponseEncodingTests {
    /// What the API's encoder (snake_case conversion, sorted keys) writes, for comparison.
    static let apiEncoder = JSONEncoder.hubnet

    @Test("a push's answer is encoded, without the key strategy, to the same bytes as the API's encoder writes")
    func sameBytesAsTheAPIEncoder() async throws {
        let fields = LeadField.allCases
        await propertyCheck(count: 200, input: Gen.int(in: 0...6).array(of: 0...12), Gen.int(in: 1...1_000_000)) { shapes, last in
            let outcomes = shapes.enumerated().map { index, shape in
                let conflicts = (0..<(shape % 3)).map { n in
                    FieldConflict(field: fields[(index + n) % fields.count], yours: shape == 4 ? nil : "yours \"\(n)\"\n", kept: "kept é \(n)")
                }
                return MutationOutcome(
                    id: Int64(index + 1), outcome: shape == 0 ? .rejected : shape == 1 ? .appliedWithConflicts : .applied,
                    code: shape.isMultiple(of: 2) ? "invalid_value" : nil, reason: shape > 3 ? "a \\ reason / \u{1}" : nil,
                    field: shape == 5 ? "changes[0].to" : nil, conflicts: conflicts, replayed: shape == 6)
            }
            let response = PushResponse(results: outcomes, lastMutationId: Int64(last))
            let wire = try PushResponse.wireEncoder.encode(response)
            let api = try Self.apiEncoder.encode(response)
            #expect(wire == api, "\(String(decoding: wire, as: UTF8.self))")
        }
    }
}
