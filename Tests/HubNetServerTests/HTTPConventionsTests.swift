import Foundation
import HTTPTypes
import HubNetCore
import HubNetTestSupport
import HummingbirdTesting
import NIOCore
import Testing

/// What every client may rely on from the HTTP layer, whatever the endpoint.
@Suite("HTTP conventions")
struct HTTPConventionsTests {
    @Test("a + in a query string is a space, as forms send it; %2B is a plus")
    func plusInQuery() async throws {
        try await withTestApplication { app in
            let hub = try await app.fixtures.tenant(.hub)
            let token = hub.admin.token
            _ = try await app.createLead(token: token, name: "Spaced", extra: #","type":"walk in""#)
            _ = try await app.createLead(token: token, name: "Plussed", extra: #","type":"walk+in""#)
            let spaced = try await app.request(.get, "/v1/leads?type=walk+in", token: token)
            #expect((spaced.json?["items"] as? [[String: Any]])?.compactMap { ($0["contact"] as? [String: Any])?["name"] as? String } == ["Spaced"])
            let plussed = try await app.request(.get, "/v1/leads?type=walk%2Bin", token: token)
            #expect((plussed.json?["items"] as? [[String: Any]])?.compactMap { ($0["contact"] as? [String: Any])?["name"] as? String } == ["Plussed"])
        }
    }

    @Test("an action posted with an empty body is an action without inputs")
    func emptyActionBody() async throws {
        try await withTestApplication { app in
            let hub = try await app.fixtures.tenant(.hub, users: [[.moderator]])
            let lead = try await app.createLead(token: hub.users[0].token)
            let accepted = try await app.client.execute(
                uri: "/v1/leads/\(lead)/actions/accept", method: .post, headers: [.authorization: "Bearer \(hub.users[0].token)"], body: nil)
            #expect(accepted.status == .ok)
            #expect((try? JSONSerialization.jsonObject(with: Data(buffer: accepted.body)) as? [String: Any])?["status"] as? String == "accepted")
        }
    }

    @Test("HEAD answers for health and readiness, and a known path with another method is 405 with Allow")
    func headAndMethodNotAllowed() async throws {
        try await withTestApplication { app in
            let hub = try await app.fixtures.tenant(.hub)
            #expect(try await app.request(.head, "/healthz").status == .ok)
            #expect(try await app.request(.head, "/readyz").status == .ok)
            let wrong = try await app.request(.put, "/v1/leads", token: hub.admin.token, json: "{}")
            #expect(wrong.status == .methodNotAllowed)
            #expect(wrong.errorCode == "method_not_allowed")
            #expect(wrong.headers[.allow] == "GET, POST")
            let parameterised = try await app.request(.put, "/v1/leads/\(UUID())", token: hub.admin.token, json: "{}")
            #expect(parameterised.status == .methodNotAllowed)
            #expect(parameterised.headers[.allow] == "DELETE, GET, PATCH")
            #expect(try await app.request(.get, "/v1/nowhere", token: hub.admin.token).status == .notFound)
        }
    }

    @Test("a body that says two things (a repeated key) is refused, not half read")
    func duplicateKeys() async throws {
        try await withTestApplication { app in
            let hub = try await app.fixtures.tenant(.hub)
            let twice = #"{"email":"two@x.test","display_name":"Two","roles":["viewer"],"roles":["admin"]}"#
            let response = try await app.request(.post, "/v1/users", token: hub.admin.token, json: twice)
            #expect(response.status == .badRequest)
            #expect(response.errorCode == "duplicate_key")
            #expect((response.json?["error"] as? [String: Any])?["field"] as? String == "roles")
            let escaped = #"{"email":"two@x.test","display_name":"Two","roles":["viewer"],"r\u006fles":["admin"]}"#
            #expect(try await app.request(.post, "/v1/users", token: hub.admin.token, json: escaped).errorCode == "duplicate_key")
            let users = try await app.request(.get, "/v1/users", token: hub.admin.token)
            #expect((users.json?["items"] as? [Any])?.count == 1)
        }
    }

    @Test(
        "a body without a JSON media type is 415; application/json with parameters and +json types are JSON",
        arguments: [
            (nil, 415), ("text/plain", 415), ("application/jsonx", 415), ("text/json", 415), ("application/json; charset=utf-8", 201),
            ("application/merge-patch+json", 201), ("APPLICATION/JSON", 201),
        ] as [(String?, Int)])
    func mediaTypes(contentType: String?, status: Int) async throws {
        try await withTestApplication { app in
            let hub = try await app.fixtures.tenant(.hub)
            var headers = HTTPFields()
            headers[.authorization] = "Bearer \(hub.admin.token)"
            if let contentType { headers[.contentType] = contentType }
            let response = try await app.client.execute(
                uri: "/v1/units", method: .post, headers: headers, body: ByteBuffer(string: #"{"name":"Unit \#(UUID())"}"#))
            #expect(Int(response.status.code) == status, "\(contentType ?? "none")")
        }
    }

    @Test("a chunked body over the limit is 413 like an announced one")
    func chunkedTooLarge() async throws {
        try await withTestApplication(configure: { $0.maximumBodyBytes = 4096 }) { app in
            let hub = try await app.fixtures.tenant(.hub)
            var headers = HTTPFields()
            headers[.authorization] = "Bearer \(hub.admin.token)"
            headers[.contentType] = "application/json"
            headers[.transferEncoding] = "chunked"
            let huge = #"{"name":""# + String(repeating: "x", count: 10_000) + #""}"#
            let response = try await app.client.execute(uri: "/v1/units", method: .post, headers: headers, body: ByteBuffer(string: huge))
            #expect(response.status == .contentTooLarge)
        }
    }
}
