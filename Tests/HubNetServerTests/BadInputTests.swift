import Foundation
import HTTPTypes
import HubNetCore
import HubNetTestSupport
import Testing

/// Malformed, oversized and invalid requests get a typed 4xx, never a 500 or a partial write.
@Suite("Bad input")
struct BadInputTests {
    /// Every endpoint that reads a JSON body, with the token that may call it.
    static func bodyEndpoints(_ hub: TenantFixture) -> [(HTTPRequest.Method, String, String)] {
        let admin = hub.admin.token
        let user = hub.admin.user.id
        let listing = hub.listings[0].id
        return [
            (.post, "/v1/tenants", TestApplication.operatorToken), (.post, "/v1/users", admin),
            (.patch, "/v1/users/\(user)", admin), (.post, "/v1/users/\(user)/tokens", admin),
            (.post, "/v1/units", admin), (.post, "/v1/listings", admin), (.patch, "/v1/listings/\(listing)", admin),
            (.post, "/v1/listings/import", admin),
        ]
    }

    @Test("a number its field cannot hold (a fraction, too large, beyond any double) is 422 naming the field, and nothing is stored")
    func numbersAFieldCannotHold() async throws {
        try await withTestApplication { app in
            let hub = try await app.fixtures.tenant(.hub, users: [[.moderator]])
            let token = hub.users[0].token
            for literal in ["1.5", "99999999999999999999", "1e400", "-1e400"] {
                let body = #"{"contact":{"name":"Rosa","email":"rosa@x.test"},"probability":\#(literal),"target_amount":12.5}"#
                let response = try await app.request(.post, "/v1/leads", token: token, json: body)
                #expect(response.status == .unprocessableContent, "\(literal): \(response.text)")
                #expect(response.errorCode == "validation_failed", "\(literal)")
                #expect(response.errorField == "probability", "\(literal): \(response.text)")
            }
            let lead = try await app.createLead(token: token)
            let patch = try await app.request(.patch, "/v1/leads/\(lead)", token: token, json: #"{"version":1.5,"city":"Berkeley"}"#)
            #expect(patch.status == .unprocessableContent, "\(patch.text)")
            #expect(patch.errorField == "version", "\(patch.text)")
            #expect((try await app.request(.get, "/v1/leads/\(lead)", token: token)).json?["version"] as? Int == 1)
            // Not JSON at all is still that.
            let broken = try await app.request(.post, "/v1/leads", token: token, json: #"{"probability": 1.5"#)
            #expect(broken.errorCode == "malformed_json")
            #expect(((try await app.request(.get, "/v1/leads", token: token)).json?["items"] as? [Any])?.count == 1)
        }
    }

    @Test("malformed JSON is 400 malformed_json on every endpoint that reads a body")
    func malformed() async throws {
        try await withTestApplication { app in
            let hub = try await app.fixtures.tenant(.hub, listings: [ListingDraft(name: "L", serviceAreas: ["X"])])
            for (method, path, token) in Self.bodyEndpoints(hub) {
                for body in ["{", "", "[1,", "nul"] {
                    let response = try await app.request(method, path, token: token, json: body)
                    #expect(response.status == .badRequest, "\(method) \(path) \(body)")
                    #expect(response.errorCode == "malformed_json", "\(method) \(path)")
                }
            }
        }
    }

    @Test("a body over the limit is 413 payload_too_large on every endpoint that reads a body")
    func oversized() async throws {
        try await withTestApplication(configure: { $0.maximumBodyBytes = 4096 }) { app in
            let hub = try await app.fixtures.tenant(.hub, listings: [ListingDraft(name: "L", serviceAreas: ["X"])])
            let huge = #"{"name":""# + String(repeating: "x", count: 10_000) + #""}"#
            for (method, path, token) in Self.bodyEndpoints(hub) {
                let response = try await app.request(method, path, token: token, json: huge)
                #expect(response.status == .contentTooLarge, "\(method) \(path)")
                #expect(response.errorCode == "payload_too_large", "\(method) \(path)")
            }
        }
    }

    @Test("a body that is not JSON is 415")
    func wrongMediaType() async throws {
        try await withTestApplication { app in
            let hub = try await app.fixtures.tenant(.hub)
            var headers = HTTPFields()
            headers[.contentType] = "text/plain"
            let response = try await app.request(.post, "/v1/units", token: hub.admin.token, json: "name=x", headers: headers)
            #expect(response.status == .unsupportedMediaType)
            #expect(response.errorCode == "unsupported_media_type")
        }
    }

    @Test(
        "invalid input is 422 validation_failed naming the field",
        arguments: [
            ("/v1/users", #"{"email":"nope","display_name":"X","roles":["viewer"]}"#, "email"),
            ("/v1/users", #"{"email":"x@y.co","display_name":"X","roles":["wizard"]}"#, "roles[0]"),
            ("/v1/users", #"{"email":"x@y.co","display_name":"X","roles":["partner_user"]}"#, "roles"),
            ("/v1/users", #"{"email":"x@y.co","roles":["viewer"]}"#, "display_name"),
            ("/v1/users", #"{"email":42,"display_name":"X","roles":["viewer"]}"#, "email"),
            ("/v1/units", #"{"name":"   "}"#, "name"),
            ("/v1/listings", #"{"name":"L","service_areas":[]}"#, "service_areas"),
            ("/v1/listings", #"{"name":"L","service_areas":["X"],"contact":{"url":"ftp://x"}}"#, "contact.url"),
            ("/v1/listings", #"{"name":"L","service_areas":["X"],"accepting_referrals":"yes"}"#, "accepting_referrals"),
            ("/v1/listings/import", #"{"services":[{"name":"ok","service_areas":[{"name":"X"}]},{"name":""}]}"#, "services[1].name"),
        ])
    func invalid(path: String, body: String, field: String) async throws {
        try await withTestApplication { app in
            let hub = try await app.fixtures.tenant(.hub)
            let response = try await app.request(.post, path, token: hub.admin.token, json: body)
            #expect(response.status == .unprocessableContent)
            #expect(response.errorCode == "validation_failed")
            #expect((response.json?["error"] as? [String: Any])?["field"] as? String == field)
            // Nothing was written: an all-or-nothing import leaves no listing behind.
            let listings = try await app.request(.get, "/v1/listings", token: hub.admin.token)
            #expect((listings.json?["items"] as? [Any])?.isEmpty == true)
        }
    }

    @Test("bad query parameters and ids are typed answers, and unknown routes are JSON 404s")
    func queriesAndRoutes() async throws {
        try await withTestApplication { app in
            let hub = try await app.fixtures.tenant(.hub)
            #expect(try await app.request(.get, "/v1/users?limit=0", token: hub.admin.token).errorCode == "validation_failed")
            #expect(try await app.request(.get, "/v1/users?cursor=forged", token: hub.admin.token).errorCode == "validation_failed")
            #expect(try await app.request(.get, "/v1/directory/listings?accepting_referrals=maybe").status == .unprocessableContent)
            #expect(try await app.request(.get, "/v1/users/not-a-uuid", token: hub.admin.token).errorCode == "not_found")
            let unknown = try await app.request(.get, "/v1/nowhere", token: hub.admin.token)
            #expect(unknown.status == .notFound)
            #expect(unknown.errorCode == "not_found")
        }
    }

    @Test("duplicates are 409 with a stable code")
    func conflicts() async throws {
        try await withTestApplication { app in
            let hub = try await app.fixtures.tenant(.hub)
            let user = #"{"email":"dup@x.co","display_name":"D","roles":["viewer"]}"#
            #expect(try await app.request(.post, "/v1/users", token: hub.admin.token, json: user).status == .created)
            #expect(try await app.request(.post, "/v1/users", token: hub.admin.token, json: user).errorCode == "email_taken")
            let tenant = #"{"kind":"hub","name":"X","slug":"\#(hub.tenant.slug)","admin":{"email":"a@b.co","display_name":"A"}}"#
            #expect(try await app.request(.post, "/v1/tenants", token: TestApplication.operatorToken, json: tenant).errorCode == "slug_taken")
            #expect(try await app.request(.post, "/v1/units", token: hub.admin.token, json: #"{"name":"B2B"}"#).status == .created)
            #expect(try await app.request(.post, "/v1/units", token: hub.admin.token, json: #"{"name":"B2B"}"#).errorCode == "unit_name_taken")
        }
    }
}
