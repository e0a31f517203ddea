import Foundation
@testable import HubNetSimulator
import Testing

@Suite("Scenario variations (--vary)")
struct ScenarioVaryTests {
    @Test("--vary sets top-level and nested keys from JSON or text and leaves the rest alone")
    func setsKeys() throws {
        let base = Scenario.standard
        let varied = try base.varied(["partner_expiry_days=10", "partner_odds.accept=0.4", "hub_import_templates=[\"life_cycle\"]", "name=ten days"])
        #expect(varied.partnerExpiryDays == 10)
        #expect(varied.partnerOdds.accept == 0.4)
        #expect(varied.hubImportTemplates == ["life_cycle"])
        #expect(varied.name == "ten days")
        var expected = base
        expected.partnerExpiryDays = 10
        expected.partnerOdds.accept = 0.4
        expected.hubImportTemplates = ["life_cycle"]
        expected.name = "ten days"
        #expect(varied == expected)
    }

    @Test("--vary refuses an unknown key, a missing '=', a nested key under a plain value, and odds that no longer fit")
    func refusesMistakes() {
        #expect(throws: ScenarioError.self) { try Scenario.standard.varied(["lead_per_day=3"]) }
        #expect(throws: ScenarioError.self) { try Scenario.standard.varied(["partner_odds.acept=0.3"]) }
        #expect(throws: ScenarioError.self) { try Scenario.standard.varied(["days"]) }
        #expect(throws: ScenarioError.self) { try Scenario.standard.varied(["days.count=3"]) }
        #expect(throws: ScenarioError.self) { try Scenario.standard.varied(["partner_odds.accept=0.9"]) }
        #expect(throws: (any Error).self) { try Scenario.standard.varied(["days=many"]) }
    }
}
