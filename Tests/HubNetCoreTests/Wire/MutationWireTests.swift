import Foundation
import HubNetCore
import HubNetTestSupport
import PropertyBased
import Testing

/// The sync wire form read strictly and safely: every mutation a device may send is either read or
/// refused with a code and the field at fault, never a crash.
@Suite("Mutation wire form")
struct MutationWireTests {
    static let decoder = JSONDecoder()

    /// A push of one item: its outcome as the server would read it.
    static func read(_ item: String) throws -> PushEnvelope.Item {
        let envelope = try decoder.decode(PushEnvelope.self, from: Data(#"{"mutations":[\#(item)]}"#.utf8))
        return try #require(envelope.items.first)
    }

    @Test("any mutation object of any name, with hostile values, is read or refused with unsupported or invalid_value naming a field")
    func hostileMutations() async {
        await propertyCheck(count: 400, input: Gen.uint64()) { seed in
            var input = HostileInput(seed: seed)
            let name = input.chance(85) ? input.pick(Mutation.Name.allCases).rawValue : input.pick(["lead.explode", "", "NOTE.ADD"])
            let fields = Mutation.Name(rawValue: name).map { Array(Mutation.fields(of: $0)) } ?? ["action", "body"]
            let object = input.object(
                keys: fields + ["acted_at", "version", "arguments"],
                fixed: ["id": "1", "name": HostileInput.quoteForTests(name), "lead_id": "\"\(UUID())\""])
            do {
                let item = try Self.read(object)
                #expect(item.id == 1)
                // What the device log keeps of the item, against the object as JSONSerialization reads it
                // (which refuses a lone surrogate that JSONDecoder takes; those objects are not compared).
                if let raw = (try? JSONSerialization.jsonObject(with: Data(object.utf8))) as? [String: Any] {
                    #expect(item.rawName == (raw["name"] as? String).map { String($0.prefix(64)) }, "\(object)")
                    #expect(item.rawLeadId == (raw["lead_id"] as? String).flatMap(UUID.init(uuidString:)), "\(object)")
                    if case .success = item.mutation {
                        let actedAt = raw["acted_at"].flatMap { $0 is NSNull ? nil : ($0 as? NSNumber)?.int64Value }
                        #expect(item.rawActedAt == actedAt, "\(object)")
                    }
                }
                switch item.mutation {
                case .success(let mutation):
                    // What was read goes back out as the same mutation.
                    let again = try Self.decoder.decode(Mutation.self, from: try JSONEncoder().encode(mutation))
                    #expect(again == mutation, "\(object)")
                    if let actedAt = mutation.actedAt { #expect(Timestamp.validMicros.contains(actedAt)) }
                case .failure(let refusal):
                    #expect(["unsupported", "invalid_value"].contains(refusal.code), "\(object) → \(refusal)")
                    #expect(refusal.field?.isEmpty == false, "\(object) → \(refusal)")
                }
            } catch {
                Issue.record("the envelope was refused for one mutation's content: \(error) in \(object)")
            }
        }
    }

    @Test("every intent goes out and back unchanged")
    func roundTrip() throws {
        let lead = Lead.ID()
        let intents: [LeadIntent] = [
            .act(LeadAction("decline", .init(reason: "out of area", listingId: Listing.ID(), opportunityId: Opportunity.ID()))),
            .act(LeadAction("accept")),
            .update(LeadUpdate(baseVersion: 3, changes: [.init(field: .city, from: "A", to: "B"), .init(field: .phone, from: nil, to: nil)])),
            .addNote(id: LeadNote.ID(), body: "hello"),
            .scheduleActivity(ActivitySchedule(kind: .meeting, title: "visit", dueAt: Date(micros: 1_733_390_000_000_000))),
            .completeActivity(LeadActivity.ID()), .cancelActivity(LeadActivity.ID()),
        ]
        for (index, intent) in intents.enumerated() {
            let mutation = Mutation(id: Int64(index + 1), leadId: lead, actedAt: 1_733_390_000_000_000, intent: intent)
            let json = try JSONEncoder().encode(mutation)
            #expect(try Self.decoder.decode(Mutation.self, from: json) == mutation)
            #expect(!String(decoding: json, as: UTF8.self).contains("leadId"))
            // In a push, the device log's copy of its name, lead and time.
            let item = try Self.read(String(decoding: json, as: UTF8.self))
            #expect(item.rawName == mutation.name.rawValue && item.rawLeadId == lead.rawValue)
            #expect(item.rawActedAt == 1_733_390_000_000_000)
        }
    }

    @Test("an envelope is refused whole only for itself: no mutations array, or an item without a whole-number id")
    func envelope() throws {
        #expect(throws: (any Error).self) { try Self.decoder.decode(PushEnvelope.self, from: Data(#"{"mutations":{}}"#.utf8)) }
        #expect(throws: DomainError.self) { try Self.decoder.decode(PushEnvelope.self, from: Data(#"{"mutations":[{"name":"note.add"}]}"#.utf8)) }
        #expect(throws: DomainError.self) { try Self.decoder.decode(PushEnvelope.self, from: Data(#"{"mutations":[7]}"#.utf8)) }
        let item = try Self.read(#"{"id":4,"name":"note.add"}"#)
        #expect(item.id == 4)
        guard case .failure(let refusal) = item.mutation else {
            Issue.record("a note without a lead was read")
            return
        }
        #expect(refusal.field == "lead_id")
    }
}

extension HostileInput {
    /// A JSON string literal of `text`, for building test bodies.
    static func quoteForTests(_ text: String) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: [text])) ?? Data("[\"\"]".utf8)
        return String(String(decoding: data, as: UTF8.self).dropFirst().dropLast())
    }
}
