import Foundation
import HubNetCore
import HubNetTestSupport
import HummingbirdTesting
import Testing

@Suite("Devices")
struct DeviceTests {
    @Test("a user registers a device and its token works; users and admins list and revoke; a revoked token stops at once")
    func lifecycle() async throws {
        try await withTestApplication { app in
            let hub = try await app.fixtures.tenant(.hub, users: [[.advisor], [.advisor]])
            let advisor = hub.users[0]
            let registered = try await app.request(.post, "/v1/devices", token: advisor.token, json: #"{"name":"Field tablet"}"#)
            #expect(registered.status == .created)
            let token = try #require(registered.json?["token"] as? String)
            #expect(token.hasPrefix("hnd_"))
            let id = try #require((registered.json?["device"] as? [String: Any])?["id"] as? String)
            #expect((try await app.request(.get, "/v1/me", token: token)).json?["id"] as? String == advisor.user.id.description)

            // Users see their own devices, admins every device; another user may not revoke it.
            #expect(((try await app.request(.get, "/v1/devices", token: hub.users[1].token)).json?["items"] as? [Any])?.isEmpty == true)
            #expect(((try await app.request(.get, "/v1/devices", token: hub.admin.token)).json?["items"] as? [Any])?.count == 1)
            #expect(try await app.request(.delete, "/v1/devices/\(id)", token: hub.users[1].token).status == .forbidden)
            let other = try await app.fixtures.tenant(.hub)
            #expect(try await app.request(.delete, "/v1/devices/\(id)", token: other.admin.token).status == .notFound)

            #expect(try await app.request(.delete, "/v1/devices/\(id)", token: hub.admin.token).status == .noContent)
            #expect(try await app.request(.get, "/v1/me", token: token).status == .unauthorized)
            #expect(try await app.request(.get, "/v1/me", token: advisor.token).status == .ok)
            let listed = try #require(((try await app.request(.get, "/v1/devices", token: advisor.token)).json?["items"] as? [[String: Any]])?.first)
            #expect(listed["revoked_at"] != nil && !(listed["revoked_at"] is NSNull))
        }
    }

    @Test("deactivating a user stops their devices too")
    func deactivation() async throws {
        try await withTestApplication { app in
            let hub = try await app.fixtures.tenant(.hub, users: [[.advisor]])
            let token = try #require((try await app.request(.post, "/v1/devices", token: hub.users[0].token, json: #"{"name":"Phone"}"#)).json?["token"] as? String)
            #expect(try await app.request(.delete, "/v1/users/\(hub.users[0].user.id)", token: hub.admin.token).status == .noContent)
            #expect(try await app.request(.get, "/v1/me", token: token).status == .unauthorized)
        }
    }
}
