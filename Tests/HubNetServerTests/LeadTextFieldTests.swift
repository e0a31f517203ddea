import Foundation
import HTTPTypes
import HubNetCore
import HubNetServer
import HubNetSync
import HubNetTestSupport
import Testing

/// 003, "Lead Information": the descriptive fields of a lead. Each is described once in Core
/// (`LeadTextField.all`); these tests walk every field along every path that carries a lead, so a
/// field added there and to the schema is proved to travel without another file changing.
@Suite("Lead descriptive fields")
struct LeadTextFieldTests {
    /// A distinct value per field and path, so a field read from its neighbour's column shows.
    static func value(_ field: LeadTextField, _ path: String) -> String { "\(path) \(field.key)" }

    @Test("003 lead information: every descriptive field is taken on create, shown, edited by PATCH and cleared by a blank, imported from CSV, and carried to devices, whose offline edit of it syncs back")
    func everyFieldEveryPath() async throws {
        try await withTestApplication { app in
            let hub = try await app.fixtures.tenant(.hub, users: [[.moderator]])
            let token = hub.users[0].token
            let fields = LeadTextField.all
            // The API's wire name is the field's snake_case key, in the body beside the others.
            var create: [String: Any] = ["contact": ["name": "Ada Field", "email": "ada@fields.test"]]
            for field in fields { create[field.key] = Self.value(field, "created") }
            let created = try await app.request(
                .post, "/v1/leads", token: token, json: String(decoding: try JSONSerialization.data(withJSONObject: create), as: UTF8.self))
            #expect(created.status == .created, "\(created.text)")
            let id = try #require(created.json?["id"] as? String)
            let leadID = try #require(Lead.ID(string: id))
            let shown = try #require(try await app.request(.get, "/v1/leads/\(id)", token: token).json)
            for field in fields { #expect(shown[field.key] as? String == Self.value(field, "created"), "\(field)") }

            // PATCH: each field to a new value; then the first cleared by a blank, the others kept.
            var patch: [String: Any] = [:]
            for field in fields { patch[field.key] = Self.value(field, "patched") }
            let patched = try await app.request(
                .patch, "/v1/leads/\(id)", token: token, json: String(decoding: try JSONSerialization.data(withJSONObject: patch), as: UTF8.self))
            #expect(patched.status == .ok, "\(patched.text)")
            for field in fields { #expect(patched.json?[field.key] as? String == Self.value(field, "patched"), "\(field)") }
            let first = try #require(fields.first)
            let cleared = try await app.request(.patch, "/v1/leads/\(id)", token: token, json: #"{"\#(first.key)":""}"#)
            #expect(cleared.json?[first.key] == nil, "\(cleared.text)")
            for field in fields.dropFirst() { #expect(cleared.json?[field.key] as? String == Self.value(field, "patched"), "\(field)") }

            // A field over its limit is refused with a code naming it, and nothing changes.
            for field in fields {
                let long = try await app.request(
                    .patch, "/v1/leads/\(id)", token: token, json: #"{"\#(field.key)":"\#(String(repeating: "x", count: field.maximumLength + 1))"}"#)
                #expect(long.status == .unprocessableContent, "\(field)")
                #expect(long.errorField == field.key, "\(long.text)")
            }
            let unchanged = try #require(try await app.request(.get, "/v1/leads/\(id)", token: token).json)
            #expect(unchanged["version"] as? Int == cleared.json?["version"] as? Int)

            // The device's record holds each field under its key (read from the raw snapshot).
            let device = try await SyncTestDevice.register(app, as: hub.users[0])
            let snapshot = try #require(try await app.request(.get, "/v1/sync/snapshot?limit=100", token: device.token).json)
            let changes = try #require(snapshot["changes"] as? [[String: Any]])
            let record = try #require(changes.first { $0["id"] as? String == id }?["data"] as? [String: Any])
            for field in fields.dropFirst() { #expect(record[field.key] as? String == Self.value(field, "patched"), "\(field)") }
            #expect(record[first.key] == nil || record[first.key] is NSNull)

            // An SDK device edits every field offline; the push applies each, as the server then shows.
            let file = FileManager.default.temporaryDirectory.appendingPathComponent("fields-\(UUID()).sqlite").path
            defer { try? FileManager.default.removeItem(atPath: file) }
            let client = SyncClient(store: try LocalStore(path: file), transport: TestAppTransport(app: app, token: device.token))
            _ = try await client.sync()
            let held = try #require(try await client.lead(leadID))
            for field in fields.dropFirst() { #expect(held.texts[field] == Self.value(field, "patched"), "\(field)") }
            var edits: [LeadField: String?] = [:]
            for field in fields { edits[LeadField(field)] = Self.value(field, "offline") }
            _ = try await client.edit(leadID, edits)
            _ = try await client.sync()
            let synced = try #require(try await app.request(.get, "/v1/leads/\(id)", token: token).json)
            for field in fields { #expect(synced[field.key] as? String == Self.value(field, "offline"), "\(field)") }
            #expect(try await client.lead(leadID)?.texts == LeadTexts.filled { Self.value($0, "offline") })

            // The CSV import takes each field as a column of its key.
            let header = (["name", "email"] + fields.map(\.key)).joined(separator: ",")
            let row = (["Bea Import", "bea@fields.test"] + fields.map { Self.value($0, "imported") }).joined(separator: ",")
            var headers = HTTPFields()
            headers[.contentType] = "text/csv"
            let imported = try await app.request(.post, "/v1/leads/import", token: token, json: header + "\n" + row + "\n", headers: headers)
            #expect(imported.json?["imported"] as? Int == 1, "\(imported.text)")
            let leads = try #require(try await app.request(.get, "/v1/leads", token: token).json?["items"] as? [[String: Any]])
            let bea = try #require(leads.first { ($0["contact"] as? [String: Any])?["name"] as? String == "Bea Import" })
            for field in fields { #expect(bea[field.key] as? String == Self.value(field, "imported"), "\(field)") }
        }
    }

    @Test("003 lead source: how a lead was introduced (its origin) is kept apart from the channel it arrived through, and a device's record carries it only when set")
    func leadSourceOrigin() async throws {
        try await withTestApplication { app in
            let hub = try await app.fixtures.tenant(.hub, users: [[.moderator]])
            let token = hub.users[0].token
            let fair = try await app.request(
                .post, "/v1/leads", token: token,
                json: #"{"contact":{"name":"Fair Visitor","email":"fair@origin.test"},"source":"manual","origin":"Trade fair 2026"}"#)
            #expect(fair.json?["origin"] as? String == "Trade fair 2026", "\(fair.text)")
            #expect(fair.json?["source"] as? String == "manual")
            let fairID = try #require(fair.json?["id"] as? String)
            let plain = try #require(try await app.request(
                .post, "/v1/leads", token: token, json: #"{"contact":{"name":"Walk In","email":"walk@origin.test"}}"#).json)
            #expect(plain["origin"] == nil)
            let plainID = try #require(plain["id"] as? String)

            let device = try await SyncTestDevice.register(app, as: hub.users[0])
            func records() async throws -> [String: [String: Any]] {
                let snapshot = try #require(try await app.request(.get, "/v1/sync/snapshot?limit=100", token: device.token).json)
                let changes = try #require(snapshot["changes"] as? [[String: Any]])
                return Dictionary(uniqueKeysWithValues: changes.compactMap { change in
                    (change["id"] as? String).flatMap { id in (change["data"] as? [String: Any]).map { (id, $0) } }
                })
            }
            var held = try await records()
            #expect(held[fairID]?["origin"] as? String == "Trade fair 2026")
            let walkIn = try #require(held[plainID])
            #expect(!walkIn.keys.contains("origin"), "\(walkIn.keys.sorted())")

            // Set later by an edit: one version step, and the record carries it from then on.
            let version = try #require(plain["version"] as? Int)
            let edited = try await app.request(.patch, "/v1/leads/\(plainID)", token: token, json: #"{"origin":"Website"}"#)
            #expect(edited.json?["origin"] as? String == "Website", "\(edited.text)")
            #expect(edited.json?["version"] as? Int == version + 1)
            held = try await records()
            #expect(held[plainID]?["origin"] as? String == "Website")
            #expect(held[plainID]?["version"] as? Int == version + 1)
        }
    }

    @Test("each field's key is a plain snake_case name: it names a column in SQL, a CSV column and a JSON key on every wire")
    func keysArePlainNames() {
        #expect(Set(LeadTextField.all.map(\.key)).count == LeadTextField.all.count)
        for field in LeadTextField.all {
            #expect(field.key.wholeMatch(of: /[a-z][a-z0-9]*(_[a-z0-9]+)*/) != nil, "\(field.key)")
            #expect(LeadTextField.named(field.key) == field)
            #expect(LeadField(rawValue: field.key) == LeadField(field))
            #expect(field.maximumLength > 0)
        }
        #expect(LeadTextField.named("contact_name") == nil)
        #expect(LeadField(rawValue: "tenant_id") == nil)
    }
}

extension LeadTexts {
    /// Every field set to `value(field)`.
    static func filled(_ value: (LeadTextField) -> String) -> LeadTexts {
        var texts = LeadTexts()
        for field in LeadTextField.all { texts[field] = value(field) }
        return texts
    }
}
