import Foundation
import HubNetCore
import HubNetTestSupport
import HTTPTypes
import Testing

/// Two tenants provisioned through the API; neither can reach the other's records.
@Suite("Tenant isolation")
struct TenantIsolationTests {
    @Test("neither tenant can read, list, change or delete the other's users, listings or tokens")
    func isolation() async throws {
        try await withTestApplication { app in
            func provision(_ slug: String) async throws -> (tenant: String, token: String, admin: String) {
                let response = try await app.request(
                    .post, "/v1/tenants", token: TestApplication.operatorToken,
                    json: #"{"kind":"hub","name":"\#(slug)","slug":"\#(slug)","admin":{"email":"admin@\#(slug).test","display_name":"Admin"}}"#)
                #expect(response.status == .created)
                let json = try #require(response.json)
                let tenant = try #require((json["tenant"] as? [String: Any])?["id"] as? String)
                let admin = try #require((json["admin"] as? [String: Any])?["id"] as? String)
                return (tenant, try #require(json["admin_token"] as? String), admin)
            }
            let a = try await provision("hub-a")
            let b = try await provision("hub-b")

            let listing = try await app.request(.post, "/v1/listings", token: a.token, json: #"{"name":"A advising","service_areas":["Alameda"]}"#)
            let listingID = try #require(listing.json?["id"] as? String)
            let issued = try await app.request(.post, "/v1/users/\(a.admin)/tokens", token: a.token, json: #"{"name":"ci"}"#)
            let tokenID = try #require((issued.json?["token"] as? [String: Any])?["id"] as? String)
            let lead = try await app.request(.post, "/v1/leads", token: a.token, json: #"{"contact":{"name":"L","email":"l@a.test"}}"#)
            let leadID = try #require(lead.json?["id"] as? String)

            // B asks for A's records: each answer is exactly the one for a record that does not exist.
            let missing = UUID().uuidString.lowercased()
            for (method, path, body) in [
                (.get, "/v1/users/\(a.admin)", nil), (.patch, "/v1/users/\(a.admin)", #"{"display_name":"x"}"#),
                (.delete, "/v1/users/\(a.admin)", nil), (.get, "/v1/listings/\(listingID)", nil),
                (.patch, "/v1/listings/\(listingID)", #"{"name":"x"}"#), (.delete, "/v1/listings/\(listingID)", nil),
                (.delete, "/v1/tokens/\(tokenID)", nil), (.get, "/v1/tenants/\(a.tenant)", nil),
                (.post, "/v1/users/\(a.admin)/tokens", #"{"name":"steal"}"#),
                // Lists under a parent of the other tenant answer as a missing parent, not an empty list.
                (.get, "/v1/users/\(a.admin)/tokens", nil), (.get, "/v1/leads/\(leadID)/notes", nil),
                (.get, "/v1/leads/\(leadID)/activities", nil), (.get, "/v1/leads/\(leadID)/history", nil),
                (.get, "/v1/leads/\(leadID)/related", nil), (.get, "/v1/leads/\(leadID)/routing-suggestions", nil),
                (.get, "/v1/leads/\(leadID)", nil), (.post, "/v1/leads/\(leadID)/notes", #"{"body":"x"}"#),
            ] as [(HTTPRequest.Method, String, String?)] {
                let foreign = try await app.request(method, path, token: b.token, json: body)
                let absent = try await app.request(
                    method, path.replacingOccurrences(of: a.admin, with: missing).replacingOccurrences(of: listingID, with: missing)
                        .replacingOccurrences(of: tokenID, with: missing).replacingOccurrences(of: a.tenant, with: missing)
                        .replacingOccurrences(of: leadID, with: missing),
                    token: b.token, json: body)
                #expect(foreign.status == .notFound, "\(method) \(path)")
                #expect(foreign.text == absent.text, "\(method) \(path) answers differently from a missing record")
            }
            // Lists show only the caller's own records.
            let users = try await app.request(.get, "/v1/users", token: b.token)
            #expect((users.json?["items"] as? [[String: Any]])?.compactMap { $0["tenant_id"] as? String } == [b.tenant])
            let listings = try await app.request(.get, "/v1/listings", token: b.token)
            #expect((listings.json?["items"] as? [Any])?.isEmpty == true)

            // A's records are untouched, and A's token still works.
            let still = try await app.request(.get, "/v1/listings/\(listingID)", token: a.token)
            #expect(still.status == .ok)
            #expect(still.json?["name"] as? String == "A advising")
            let me = try await app.request(.get, "/v1/me", token: a.token)
            #expect(me.json?["display_name"] as? String == "Admin")
            let tokens = try await app.request(.get, "/v1/users/\(a.admin)/tokens", token: a.token)
            #expect((tokens.json?["items"] as? [[String: Any]])?.allSatisfy { $0["revoked_at"] == nil || $0["revoked_at"] is NSNull } == true)
        }
    }
}
