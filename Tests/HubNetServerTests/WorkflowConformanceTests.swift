import Foundation
import HTTPTypes
import HubNetCore
import HubNetTestSupport
import HummingbirdTesting
import Testing

/// Every seed rule is tested by name against the engine (HubNetCoreTests/Workflow); these tests
/// replay scripted walks through each template over HTTP and check, at every step, that the API
/// answers exactly as the engine does: the same outcome or refusal code, the same status, the same
/// buttons. So each rule holds through the HTTP API against PostgreSQL too.
@Suite("The HTTP API follows the workflow engine")
struct WorkflowConformanceTests {
    struct Step: Sendable {
        var action: String
        var json: String = "{}"
        var input = ActionInput()
    }

    static let listing = Step(action: "refer_external", json: "LISTING", input: ActionInput(referralKind: .listing))
    static let advisor = Step(action: "refer_internal", json: "ADVISOR", input: ActionInput(referralKind: .advisor))

    static let walks: [(String, [[Step]])] = [
        ("hub_moderation", [
            [Step(action: "contact"), listing, Step(action: "decline"), Step(action: "accept"), advisor, Step(action: "contact"), Step(action: "decline")],
            [Step(action: "decline"), Step(action: "contact"), Step(action: "accept")],
            [advisor, Step(action: "accept"), listing],
        ]),
        ("partner_lead", [
            [Step(action: "convert", json: #"{"create_opportunity":true}"#, input: ActionInput(opportunity: true)),
             Step(action: "decline"), Step(action: "decline", json: #"{"reason":"no fit"}"#, input: ActionInput(reason: "no fit")),
             Step(action: "accept")],
            [Step(action: "accept"), Step(action: "convert"), Step(action: "expire"),
             Step(action: "convert", json: #"{"create_opportunity":true}"#, input: ActionInput(opportunity: true))],
            [Step(action: "accept"), Step(action: "close_not_converted"), Step(action: "accept")],
        ]),
        ("staged_pipeline", [
            [Step(action: "move_to_previous_stage"), Step(action: "move_to_next_stage"), Step(action: "move_to_next_stage"),
             Step(action: "set_status", json: #"{"status":"contract_signed"}"#, input: ActionInput(status: "contract_signed")),
             Step(action: "execute"), Step(action: "move_to_next_stage")],
            [Step(action: "set_status", json: #"{"status":"executed"}"#, input: ActionInput(status: "executed")), Step(action: "drop"),
             Step(action: "drop", json: #"{"reason":"budget"}"#, input: ActionInput(reason: "budget"))],
        ]),
        ("life_cycle", [
            [Step(action: "win"), Step(action: "accept"), Step(action: "accept"), Step(action: "start_progress"), Step(action: "lose"),
             Step(action: "lose", json: #"{"reason":"price"}"#, input: ActionInput(reason: "price")), Step(action: "cancel")],
            [Step(action: "start_progress"), Step(action: "win")],
            [Step(action: "cancel"), Step(action: "start_progress")],
        ]),
        ("status_path", [
            [Step(action: "wait_for_information"), Step(action: "start_working"), Step(action: "start_working"), Step(action: "close_treated"),
             Step(action: "close_abandoned")],
            [Step(action: "close_passed_to_distribution")], [Step(action: "close_converted")],
        ]),
    ]

    @Test("each step of each walk gives the engine's outcome, status and buttons", arguments: walks.map(\.0))
    func conformance(template key: String) async throws {
        let walks = try #require(Self.walks.first { $0.0 == key }?.1)
        let template = try #require(BuiltInTemplates.named(key))
        try await withTestApplication { app in
            let isHub = key == "hub_moderation"
            let tenant = try await app.fixtures.tenant(
                isHub ? .hub : .partnerCompany, users: [isHub ? [.moderator] : [.partnerUser], isHub ? [.advisor] : [.partnerUser]])
            // External referrals go to another hub's listing.
            let elsewhere = try await app.fixtures.tenant(.hub, listings: [ListingDraft(name: "Elsewhere", serviceAreas: ["X"])])
            let caller = tenant.users[0]
            let actor = WorkflowActor(userID: caller.user.id, roles: caller.user.roles, side: .owner)
            for (number, walk) in walks.enumerated() {
                let created = try await app.request(
                    .post, "/v1/leads", token: caller.token,
                    json: #"{"template":"\#(key)","contact":{"name":"Walk \#(number)","email":"w\#(number)@x.test"}}"#)
                let id = try #require(created.json?["id"] as? String)
                var state = LeadState.new(template, createdAt: Date())
                for step in walk {
                    let json = step.json
                        .replacingOccurrences(of: "LISTING", with: #"{"listing_id":"\#(elsewhere.listings[0].id)"}"#)
                        .replacingOccurrences(of: "ADVISOR", with: #"{"advisor_id":"\#(tenant.users[1].user.id)"}"#)
                    let response = try await app.request(.post, "/v1/leads/\(id)/actions/\(step.action)", token: caller.token, json: json)
                    let label = "\(key) walk \(number) \(step.action) from \(state.status)"
                    do {
                        let decision = try WorkflowEngine.decide(template, lead: state, actor: actor, action: step.action, input: step.input, now: Date())
                        state = decision.state
                        #expect(response.status == .ok, "\(label): \(response.text)")
                        #expect(response.json?["status"] as? String == decision.to, "\(label)")
                        let expected = WorkflowEngine.availableActions(template, lead: state, actor: actor, now: Date()).map(\.key)
                        let shown = (response.json?["available_actions"] as? [[String: Any]] ?? []).compactMap { $0["key"] as? String }
                        #expect(shown == expected, "\(label)")
                    } catch let refusal as WorkflowRefusal {
                        #expect(response.errorCode == refusal.code.rawValue, "\(label): \(response.text)")
                        let unchanged = try await app.request(.get, "/v1/leads/\(id)", token: caller.token)
                        #expect(unchanged.json?["status"] as? String == state.status, "\(label) changed the lead")
                    }
                }
            }
        }
    }
}
