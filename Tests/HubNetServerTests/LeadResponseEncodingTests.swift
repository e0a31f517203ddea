import Foundation
import HubNetCore
import HubNetTestSupport
@testable import HubNetServer
import PropertyBased
import Testing

/// Leads name their snake_case keys (`SnakeCaseKeyed`) and are encoded without the API's key
/// strategy; what they read as on the wire must not change.
@Suite("A lead on the wire")
struct LeadResponseEncodingTests {
    /// Every workflow's statuses, so the names, life cycles, stages and schedules vary.
    static let templates = BuiltInTemplates.all
    /// Texts JSON escapes in every way: quotes, backslashes, slashes, controls, non-ASCII.
    static let texts = [
        "", "x", "Rosa Diaz", "a \"quoted\" name", "back\\slash", "a/b", "tab\there", "line\nbreak", "\u{1}\u{1F}", "emoji 🧁",
        "e\u{301}", "<script>alert(1)</script>", "\u{2028}\u{2029}", "日本語", "'; DROP TABLE leads; --",
    ]

    static func lead(_ seed: UInt64) -> (Lead, WorkflowTemplate?, [WorkflowTemplate.Action]?) {
        var input = HostileInput(seed: seed)
        let template = input.chance(85) ? input.pick(templates) : nil
        let status = template.map { input.pick($0.statuses.map(\.key)) } ?? "unknown_status"
        let base = Date(timeIntervalSince1970: Double(input.below(4_000_000_000)) + Double(input.below(1_000)) / 1_000)
        func date() -> Date? { input.chance(50) ? base.addingTimeInterval(Double(input.below(90 * 86_400))) : nil }
        func word() -> String { input.pick(texts) }
        func text() -> String? { input.chance(60) ? word() : nil }
        var details = LeadDetails(
            name: word(), email: text(), phone: text(), city: text(), region: text(), request: text(),
            type: text(), category: text(), priority: text(), importance: text(),
            probability: input.chance(50) ? input.below(101) : nil,
            targetAmount: input.chance(50) ? Decimal(input.below(10_000_000)) / 100 : nil,
            products: (0..<input.below(3)).map { _ in ProductInterest(name: word(), notes: text()) },
            competitors: (0..<input.below(3)).map { _ in word() }, team: (0..<input.below(3)).map { _ in User.ID() })
        details.origin = text()
        let state = LeadState(
            status: status, createdAt: base, lastActionAt: date(), acceptedAt: date(), declinedAt: date(), completedAt: date(),
            expiresAt: date(), expectedCompletionAt: date(), opportunityLinked: input.chance(30), openActivities: input.below(4),
            assignedUserID: input.chance(50) ? User.ID() : nil, archived: input.chance(10), inCRM: input.chance(10))
        let lead = Lead(
            id: Lead.ID(), tenantID: Tenant.ID(), templateKey: template?.key ?? "gone", source: input.pick(LeadSource.allCases),
            details: details, listingID: input.chance(30) ? Listing.ID() : nil, assignedUnitID: input.chance(30) ? TenantUnit.ID() : nil,
            createdBy: input.chance(70) ? User.ID() : nil, state: state, version: 1 + input.below(50),
            identityWithheld: input.chance(20), erasedAt: input.chance(5) ? date() : nil)
        let actions = template.flatMap { input.chance(50) ? Array($0.actions.prefix(input.below(4))) : nil }
        return (lead, template, actions)
    }

    @Test("a lead, and a page of them, encode without the key strategy to the same bytes as the API's encoder writes")
    func sameBytesAsTheAPIEncoder() async throws {
        await propertyCheck(count: 300, input: Gen.uint64(), Gen.int(in: 0...4)) { seed, count in
            let now = Date(timeIntervalSince1970: 2_000_000_000)
            let (lead, template, actions) = Self.lead(seed)
            let response = LeadResponse(lead, template: template, now: now, actions: actions)
            let wire = try JSONEncoder.snakeCaseKeyed.encode(response)
            #expect(wire == (try JSONEncoder.hubnet.encode(response)), "\(String(decoding: wire, as: UTF8.self))")
            let page = PageResponse(Page(items: (0..<count).map { Self.lead(seed &+ UInt64($0)).0 }, nextCursor: nil)) {
                LeadResponse($0, template: template, now: now)
            }
            #expect(try JSONEncoder.snakeCaseKeyed.encode(page) == (try JSONEncoder.hubnet.encode(page)))
        }
    }

    @Test("its keys are the API's: snake_case, every field of the lead and its descriptive texts")
    func keysOnTheWire() throws {
        let (lead, template, _) = Self.lead(7)
        var full = lead
        for field in LeadTextField.all { full.details.texts[field] = "x" }
        let response = LeadResponse(full, template: template ?? BuiltInTemplates.partnerLead, now: Date(), actions: [])
        let object = try #require(try JSONSerialization.jsonObject(with: JSONEncoder.snakeCaseKeyed.encode(response)) as? [String: Any])
        for key in ["status_name", "life_cycle", "start_date", "created_at", "open_activities", "identity_withheld", "in_crm",
            "in_lead_table", "opportunity_linked", "available_actions", "contact", "badges", "version"]
            + LeadTextField.all.map(\.key)
        {
            #expect(object[key] != nil, "\(key) missing from \(object.keys.sorted())")
        }
        #expect(object.keys.allSatisfy { $0 == $0.lowercased() }, "\(object.keys.sorted())")
    }
}
