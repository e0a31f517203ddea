import Foundation
import HubNetCore
import HubNetPostgres
import HubNetServer
import HubNetTestSupport
import HTTPTypes
import Testing

@Suite("Authentication and roles")
struct AuthTests {
    @Test("a missing or bad token is 401; the operator token cannot act inside a tenant")
    func tokens() async throws {
        try await withTestApplication { app in
            #expect(try await app.request(.get, "/v1/users").errorCode == "unauthenticated")
            #expect(try await app.request(.get, "/v1/users", token: "garbage").status == .unauthorized)
            let forged = "hnu_\(String(repeating: "0", count: 32))_\(String(repeating: "A", count: 43))"
            #expect(try await app.request(.get, "/v1/users", token: forged).status == .unauthorized)
            let asOperator = try await app.request(.get, "/v1/users", token: TestApplication.operatorToken)
            #expect(asOperator.status == .forbidden)
            #expect(asOperator.errorCode == "operator_not_allowed")
        }
    }

    @Test("a user is found by their email in their own tenant only, in any letter case, and a token issued to them works (as `hubnet user token --user <email>` does)")
    func userByEmail() async throws {
        try await withTestApplication { app in
            let hub = try await app.fixtures.tenant(.hub, users: [[.moderator]])
            let other = try await app.fixtures.tenant(.hub, users: [])
            let database = app.fixtures.database
            let users = PostgresUserRepository(logger: database.logger)
            let email = hub.users[0].user.email
            let secret = try await database.withTenant(hub.tenant.id) { transaction -> String? in
                let found = try await users.find(email: email.uppercased(), in: transaction)
                #expect(found?.id == hub.users[0].user.id)
                guard let found else { return nil }
                return try await PostgresAPITokenRepository(logger: database.logger).issue(
                    to: found.id, name: "cli", in: transaction)?.1
            }
            #expect(try await app.request(.get, "/v1/leads", token: try #require(secret)).status == .ok)
            let elsewhere = try await database.withTenant(other.tenant.id) { transaction in
                try await users.find(email: email, in: transaction)
            }
            #expect(elsewhere == nil)
        }
    }

    @Test("only the operator provisions tenants")
    func operatorProvisions() async throws {
        try await withTestApplication { app in
            let hub = try await app.fixtures.tenant(.hub)
            let response = try await app.request(
                .post, "/v1/tenants", token: hub.admin.token,
                json: #"{"kind":"hub","name":"x","slug":"xx","admin":{"email":"a@b.co","display_name":"A"}}"#)
            #expect(response.status == .forbidden)
            #expect(response.errorCode == "operator_only")
            #expect(try await app.request(.get, "/v1/tenants", token: hub.admin.token).status == .forbidden)
        }
    }

    @Test("a role that may not do a thing gets 403")
    func rolesAreEnforced() async throws {
        try await withTestApplication { app in
            let hub = try await app.fixtures.tenant(.hub, users: [[.viewer], [.moderator]])
            let viewer = hub.users[0].token
            let moderator = hub.users[1].token
            #expect(try await app.request(.post, "/v1/users", token: viewer, json: #"{"email":"x@y.co","display_name":"X","roles":["viewer"]}"#).status == .forbidden)
            #expect(try await app.request(.post, "/v1/units", token: moderator, json: #"{"name":"B2B"}"#).status == .forbidden)
            #expect(try await app.request(.post, "/v1/listings", token: viewer, json: #"{"name":"L","service_areas":["X"]}"#).status == .forbidden)
            #expect(try await app.request(.post, "/v1/listings", token: moderator, json: #"{"name":"L","service_areas":["X"]}"#).status == .created)
            // Reading is open to every role of the tenant.
            #expect(try await app.request(.get, "/v1/users", token: viewer).status == .ok)
        }
    }

    @Test("a partner company cannot publish listings")
    func partnersHaveNoListings() async throws {
        try await withTestApplication { app in
            let partner = try await app.fixtures.tenant(.partnerCompany)
            let response = try await app.request(.post, "/v1/listings", token: partner.admin.token, json: #"{"name":"L","service_areas":["X"]}"#)
            #expect(response.errorCode == "tenant_kind_not_allowed")
        }
    }

    @Test("a revoked token and a deactivated user's token stop working at once")
    func revocation() async throws {
        try await withTestApplication { app in
            let hub = try await app.fixtures.tenant(.hub, users: [[.advisor]])
            let advisor = hub.users[0]
            let issued = try await app.request(.post, "/v1/users/\(advisor.user.id)/tokens", token: advisor.token, json: #"{"name":"laptop"}"#)
            let secret = try #require(issued.json?["secret"] as? String)
            let tokenID = try #require((issued.json?["token"] as? [String: Any])?["id"] as? String)
            #expect(try await app.request(.get, "/v1/me", token: secret).status == .ok)
            #expect(try await app.request(.delete, "/v1/tokens/\(tokenID)", token: advisor.token).status == .noContent)
            #expect(try await app.request(.get, "/v1/me", token: secret).status == .unauthorized)
            #expect(try await app.request(.get, "/v1/me", token: advisor.token).status == .ok)
            #expect(try await app.request(.delete, "/v1/users/\(advisor.user.id)", token: hub.admin.token).status == .noContent)
            #expect(try await app.request(.get, "/v1/me", token: advisor.token).status == .unauthorized)
            let user = try await app.request(.get, "/v1/users/\(advisor.user.id)", token: hub.admin.token)
            #expect(user.json?["active"] as? Bool == false)
        }
    }

    @Test("a tenant keeps at least one active admin")
    func lastAdmin() async throws {
        try await withTestApplication { app in
            let hub = try await app.fixtures.tenant(.hub)
            let id = hub.admin.user.id
            #expect(try await app.request(.delete, "/v1/users/\(id)", token: hub.admin.token).errorCode == "last_admin")
            #expect(try await app.request(.patch, "/v1/users/\(id)", token: hub.admin.token, json: #"{"roles":["moderator"]}"#).errorCode == "last_admin")
            #expect(try await app.request(.get, "/v1/me", token: hub.admin.token).status == .ok)
        }
    }

    @Test("an advisor may rename themselves but not change their own roles")
    func selfService() async throws {
        try await withTestApplication { app in
            let hub = try await app.fixtures.tenant(.hub, users: [[.advisor]])
            let advisor = hub.users[0]
            let renamed = try await app.request(.patch, "/v1/users/\(advisor.user.id)", token: advisor.token, json: #"{"display_name":"Dana"}"#)
            #expect(renamed.json?["display_name"] as? String == "Dana")
            #expect(try await app.request(.patch, "/v1/users/\(advisor.user.id)", token: advisor.token, json: #"{"roles":["admin"]}"#).status == .forbidden)
        }
    }

    /// When the device list says a device was last seen, in microseconds since 1970.
    static func lastSeen(_ app: TestApplication, token: String) async throws -> Int64? {
        let list = try #require(try await app.request(.get, "/v1/devices", token: token).json?["items"] as? [[String: Any]])
        let device = try #require(list.first)
        return (device["last_seen_at"] as? String).flatMap(Timestamp.micros(rfc3339:))
    }

    @Test("a device is noted as seen by the server's clock, at most once a minute; a user token's use is noted; a credential is read in one statement")
    func lastUse() async throws {
        let clock = TestClock(frozen: true)
        try await withTestApplication(configure: {
            $0.testClock = clock
            $0.timerInterval = nil
            $0.deliveryInterval = nil
        }) { app in
            let operatorToken = TestApplication.operatorToken
            _ = try await app.request(.post, "/v1/test-clock/advance", token: operatorToken, json: #"{"to":"2030-01-01T00:00:00Z"}"#)
            let start: Int64 = 1_893_456_000_000_000
            let hub = try await app.fixtures.tenant(.hub, users: [[.moderator]])
            let user = hub.users[0]
            let registered = try await app.request(.post, "/v1/devices", token: user.token, json: #"{"name":"Tablet"}"#)
            let device = try #require(registered.json?["token"] as? String, "\(registered.text)")
            #expect(try await Self.lastSeen(app, token: user.token) == nil, "not seen before its first request")

            #expect(try await app.request(.get, "/v1/me", token: device).status == .ok)
            #expect(try await Self.lastSeen(app, token: user.token) == start)
            _ = try await app.request(.post, "/v1/test-clock/advance", token: operatorToken, json: #"{"seconds":59}"#)
            #expect(try await app.request(.get, "/v1/me", token: device).status == .ok)
            #expect(try await Self.lastSeen(app, token: user.token) == start, "within the minute: not noted again")
            _ = try await app.request(.post, "/v1/test-clock/advance", token: operatorToken, json: #"{"seconds":2}"#)
            let me = try await app.request(.get, "/v1/me", token: device)
            #expect(me.status == .ok)
            #expect(try await Self.lastSeen(app, token: user.token) == start + 61_000_000, "a minute later: noted at the server's time")

            // One statement for the credential, four for the read (its transaction): the credential
            // opens no transaction of its own.
            let statements = try SyncBatchTests.statements(me)
            #expect(statements <= 5, "GET /v1/me ran \(statements) statements")

            let tokens = try #require(
                try await app.request(.get, "/v1/users/\(user.user.id)/tokens", token: user.token).json?["items"] as? [[String: Any]])
            #expect(tokens.contains { $0["last_used_at"] is String }, "the user token's use is noted: \(tokens)")
        }
    }
}
