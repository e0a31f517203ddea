import Foundation
import HubNetCore
import Testing

@Suite("Message templates with #tags")
struct MessageTemplateTests {
    @Test("tags are # followed by dotted lower-case words; other # signs are text")
    func tagSyntax() {
        #expect(MessageTemplate.tags(in: "Hi #lead.name, your #1 choice at #hub.name. #lead.") == ["lead.name", "hub.name"])
        #expect(MessageTemplate.tags(in: "#hashtag and # alone") == [])
        #expect(MessageTemplate.tags(in: "(#lead.created_at)") == ["lead.created_at"])
    }

    @Test("an unknown tag is refused when the template is saved, naming the tag")
    func unknownTag() {
        let template = MessageTemplate(name: "Accepted", channel: .email, subject: "Lead #lead.name", body: "Hello #lead.nmae")
        #expect { try template.validated() } throws: {
            ($0 as? DomainError)?.field == "body" && ($0 as? DomainError)?.message.contains("#lead.nmae") == true
        }
    }

    @Test("an email needs a subject; a webhook does not")
    func subjects() throws {
        #expect(throws: DomainError.self) { try MessageTemplate(name: "x", channel: .email, subject: " ", body: "b").validated() }
        _ = try MessageTemplate(name: "x", channel: .webhook, subject: "", body: "b").validated()
    }

    @Test("rendering replaces every tag with the record's value")
    func rendering() {
        let template = MessageTemplate(
            name: "Accepted", channel: .email, subject: "#lead.name was #lead.status",
            body: "#hub.name accepted #lead.name (#lead.city). #lead.region")
        let rendered = template.rendered(["lead.name": "Rosa", "lead.status": "Accepted", "hub.name": "Bay Hub", "lead.city": "Oakland"])
        #expect(rendered.subject == "Rosa was Accepted")
        #expect(rendered.body == "Bay Hub accepted Rosa (Oakland). ")
    }

    @Test("a lead's dates fill their tags as ISO 8601 in UTC, as ISO8601DateFormatter writes them")
    func leadDates() {
        for seconds in [0.0, 951_782_400, 1_796_578_500.75, 4_102_444_799] {
            let created = Date(timeIntervalSince1970: seconds)
            let completion = created.addingTimeInterval(86_400 * 45 + 1)
            let lead = Lead(
                id: Lead.ID(), tenantID: Tenant.ID(), templateKey: "partner_lead", source: .api, details: LeadDetails(name: "Rosa"),
                listingID: nil, assignedUnitID: nil, createdBy: nil,
                state: LeadState(status: "pending", createdAt: created, expectedCompletionAt: completion), version: 1)
            let values = MessageTemplate.values(for: lead, statusName: "Pending", hubName: "Bay Hub")
            #expect(values["lead.created_at"] == ISO8601DateFormatter().string(from: created))
            #expect(values["lead.expected_completion_at"] == ISO8601DateFormatter().string(from: completion))
        }
    }

    @Test("a value put in is never read again as a tag: a lead named #hub.name keeps its name")
    func valuesAreNotTags() {
        let template = MessageTemplate(name: "x", channel: .email, subject: "#lead.name", body: "#lead.name at #hub.name; #lead.city")
        let rendered = template.rendered(["lead.name": "#hub.name", "hub.name": "Bay Hub", "lead.city": "#lead.name #1"])
        #expect(rendered.subject == "#hub.name")
        #expect(rendered.body == "#hub.name at Bay Hub; #lead.name #1")
    }

    @Test("every descriptive field of a lead is a tag of its key: a template saved with #lead.origin and #lead.priority renders the lead's values, an unset one as nothing")
    func descriptiveFieldTags() throws {
        var details = LeadDetails(name: "Rosa", priority: "urgent")
        details.origin = "Trade fair"
        let lead = Lead(
            id: Lead.ID(), tenantID: Tenant.ID(), templateKey: "partner_lead", source: .api, details: details,
            listingID: nil, assignedUnitID: nil, createdBy: nil,
            state: LeadState(status: "pending", createdAt: Date(timeIntervalSince1970: 0)), version: 1)
        let template = try MessageTemplate(
            name: "Tagged", channel: .email, subject: "#lead.name via #lead.origin",
            body: LeadTextField.all.map { "\($0.key)=#lead.\($0.key)" }.joined(separator: ";")).validated()
        let rendered = template.rendered(MessageTemplate.values(for: lead, statusName: "Pending", hubName: "Bay Hub"))
        #expect(rendered.subject == "Rosa via Trade fair")
        let expected = LeadTextField.all.map { field in "\(field.key)=\(["priority": "urgent", "origin": "Trade fair"][field.key] ?? "")" }
        #expect(rendered.body == expected.joined(separator: ";"))
        #expect(MessageTemplate.knownTags["lead.origin"] == "the lead's origin")
        #expect(MessageTemplate.knownTags["lead.name"] == "the lead's contact name")
    }
}
