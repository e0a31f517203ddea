import Foundation
import HubNetCore
import HubNetTestSupport
import PropertyBased
import Synchronization
import Testing

/// The SDK's reader of pull and snapshot pages, checked against Foundation's JSON parser.
@Suite("Sync pages read without decoding their records")
struct RawSyncPageTests {
    /// Whitespace JSON allows between tokens, sometimes none.
    static func gap(_ input: inout HostileInput) -> String { input.pick(["", "", " ", "\n", "\t ", "\r\n  "]) }

    @Test("any page of the documented shape (keys in any order, any whitespace, nasty values) reads as Foundation reads it, and its keys before the changes read alone say the same")
    func agreesWithFoundation() async {
        let compared = Mutex(0)
        await propertyCheck(count: 400, input: Gen.uint64()) { seed in
            var input = HostileInput(seed: seed)
            var expected: [(SyncEntity, SyncOperation, UUID, UUID?, Int, String?)] = []
            var changes: [String] = []
            for _ in 0..<input.below(6) {
                let entity = input.pick([SyncEntity.lead, .note, .activity, .referral])
                let op = input.pick([SyncOperation.upsert, .upsert, .drop, .delete])
                let (id, lead) = (UUID(), input.chance(70) ? UUID() : nil)
                let version = input.below(1_000_000)
                var members = [
                    "\"entity\":\(Self.gap(&input))\"\(entity.rawValue)\"", "\"op\":\"\(op.rawValue)\"",
                    "\"id\":\(Self.gap(&input))\"\(id.uuidString.lowercased())\"",
                ]
                if let lead { members.append("\"lead_id\":\"\(lead.uuidString)\"") }
                var data: String?
                if op == .upsert {
                    let payload = input.object(keys: ["name", "body", "city", "team"], depth: 2, fixed: ["version": "\(version)"])
                    data = payload
                    members.append("\"data\":\(Self.gap(&input))\(payload)")
                } else if input.chance(50) {
                    members.append("\"data\":null")
                }
                if input.chance(20) { members.append("\"later\":\(input.value(depth: 2))") }
                changes.append("{" + members.shuffled(using: &input).joined(separator: ",\(Self.gap(&input))") + "}")
                expected.append((entity, op, id, lead, op == .upsert ? version : 0, data))
            }
            let cursor = "v1.\(UUID().uuidString.lowercased()).\(input.below(1_000))"
            let top = [
                "\"cursor\":\"\(cursor)\"", "\"has_more\":\(input.chance(50))", "\"last_mutation_id\":\(input.below(99))",
                "\"changes\":[\(changes.joined(separator: ",\(Self.gap(&input))"))]", "\"reset\":null",
            ].shuffled(using: &input)
            let body = Self.gap(&input) + "{" + top.joined(separator: ",") + "}" + Self.gap(&input)
            // Only bodies Foundation accepts are this property's business (hostile strings may not be).
            guard let reference = try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any],
                let referenceChanges = reference["changes"] as? [[String: Any]]
            else { return }
            compared.withLock { $0 += 1 }
            let page: RawSyncPage
            do { page = try RawSyncPage.parse(Array(body.utf8)) } catch {
                Issue.record("\(error) in \(body.prefix(300))")
                return
            }
            #expect(page.cursor == cursor)
            #expect(page.hasMore == reference["has_more"] as? Bool)
            // The keys before the changes, read on their own, say what the page says; those after are not read.
            let before = top.prefix { !$0.hasPrefix("\"changes\"") }
            do {
                let header = try RawSyncPage.header(Data(body.utf8))
                #expect(header.cursor == (before.contains { $0.hasPrefix("\"cursor\"") } ? cursor : nil))
                #expect(header.hasMore == (before.contains { $0.hasPrefix("\"has_more\"") } ? page.hasMore : nil))
                #expect(header.reset == nil && header.next == nil)
            } catch {
                Issue.record("header: \(error) in \(body.prefix(300))")
            }
            #expect(page.lastMutationId == (reference["last_mutation_id"] as? NSNumber)?.int64Value)
            #expect(page.changes.count == expected.count)
            for (change, (want, referenceChange)) in zip(page.changes, zip(expected, referenceChanges)) {
                #expect(change.entity == want.0 && change.op == want.1 && change.id == want.2 && change.leadId == want.3)
                #expect(change.version == want.4)
                if let data = change.data {
                    // The kept bytes are the record: Foundation reads them as it read the record in the page.
                    let kept = try? JSONSerialization.jsonObject(with: Data(data)) as? NSDictionary
                    #expect(kept != nil && kept == referenceChange["data"] as? NSDictionary)
                } else {
                    #expect(!(referenceChange["data"] is [String: Any]))
                }
            }
        }
        // Most generated pages are ones Foundation reads, so the comparison is not vacuous.
        #expect(compared.withLock { $0 } > 200)
    }

    @Test("escapes in strings read as JSON defines them")
    func escapes() throws {
        let body = #"{"cursor":"v1.\u0061\/b\n\ud83e\uddc1","next":null,"has_more":false,"changes":[]}"#
        let page = try RawSyncPage.parse(Array(body.utf8))
        let reference = try #require(try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])
        #expect(page.cursor == reference["cursor"] as? String)
        #expect(page.cursor == "v1.a/b\n🧁")
        #expect(page.next == nil)
    }

    @Test("any bytes, and any cut of a valid page, read or are refused as malformed, the page and its first keys alike; nesting is bounded without recursion")
    func hostileBytes() async {
        let valid = Array(
            #"{"cursor":"v1.x.1","has_more":true,"changes":[{"entity":"note","op":"upsert","id":"6f1b7c2e-5d6f-4a4b-9c1d-2e3f4a5b6c7d","data":{"version":3,"body":"b\"x","n":[1,{"a":null}]}}]}"#
                .utf8)
        await propertyCheck(count: 600, input: Gen.uint64()) { seed in
            var input = HostileInput(seed: seed)
            var bytes = input.chance(50) ? Array(valid.prefix(input.below(valid.count + 1))) : input.bytes(count: input.below(300))
            if input.chance(30), !bytes.isEmpty { bytes[input.below(bytes.count)] = UInt8(truncatingIfNeeded: input.next()) }
            do {
                _ = try RawSyncPage.parse(bytes)
            } catch let error as RawSyncPage.Malformed {
                #expect(error.offset >= 0 && error.offset <= bytes.count)
            } catch {
                Issue.record("not a Malformed: \(error)")
            }
            do {
                _ = try RawSyncPage.header(Data(bytes))
            } catch let error as RawSyncPage.Malformed {
                #expect(error.offset >= 0 && error.offset <= bytes.count)
            } catch {
                Issue.record("header: not a Malformed: \(error)")
            }
        }
        #expect((try? RawSyncPage.parse(valid))?.changes.first?.version == 3)
        let deep = #"{"changes":[{"entity":"note","op":"upsert","id":"6f1b7c2e-5d6f-4a4b-9c1d-2e3f4a5b6c7d","data":{"x":"#
            + String(repeating: "[", count: 200_000)
        #expect(throws: RawSyncPage.Malformed.self) { try RawSyncPage.parse(Array(deep.utf8)) }
    }
}
