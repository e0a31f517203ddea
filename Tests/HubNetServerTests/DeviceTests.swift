import Foundation
import HubNetCore
import HubNetPostgres
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

    @Test("a revoked device, a revoked token, a deactivated user and a token's last use are stamped by the server's clock (a virtual one here), not the database's")
    func stampedByTheServersClock() async throws {
        let clock = VirtualClock()
        try await withTestApplication(configure: { $0.now = clock.function }) { app in
            let hub = try await app.fixtures.tenant(.hub, users: [[.advisor], [.advisor]])
            let advisor = hub.users[0]
            let device = try #require(
                ((try await app.request(.post, "/v1/devices", token: advisor.token, json: #"{"name":"Tablet"}"#)).json?["device"]
                    as? [String: Any])?["id"] as? String)
            let issued = try await app.request(.post, "/v1/users/\(advisor.user.id)/tokens", token: advisor.token, json: #"{"name":"script"}"#)
            let token = try #require((issued.json?["token"] as? [String: Any])?["id"] as? String ?? issued.json?["id"] as? String)
            // The virtual clock is years from the wall clock: a stamp by PostgreSQL's now() could not land here.
            clock.advance(by: 3 * 86_400)
            let revokedAt = clock.now
            #expect(try await app.request(.delete, "/v1/devices/\(device)", token: advisor.token).status == .noContent)
            #expect(try await app.request(.delete, "/v1/tokens/\(token)", token: advisor.token).status == .noContent)
            clock.advance(by: 3_600)
            let deactivatedAt = clock.now
            let leaver = hub.users[1]
            let leaversDevice = try #require(
                ((try await app.request(.post, "/v1/devices", token: leaver.token, json: #"{"name":"Phone"}"#)).json?["device"]
                    as? [String: Any])?["id"] as? String)
            #expect(try await app.request(.delete, "/v1/users/\(leaver.user.id)", token: hub.admin.token).status == .noContent)

            func instant(_ value: Any?) throws -> Date {
                let text = try #require(value as? String, "\(String(describing: value))")
                return try #require(ISO8601DateFormatter().date(from: text), "\(text)")
            }
            let devices = try #require((try await app.request(.get, "/v1/devices", token: hub.admin.token)).json?["items"] as? [[String: Any]])
            let revokedDevice = try #require(devices.first { $0["id"] as? String == device })
            #expect(abs(try instant(revokedDevice["revoked_at"]).timeIntervalSince(revokedAt)) < 0.001)
            let leaversRevoked = try #require(devices.first { $0["id"] as? String == leaversDevice })
            #expect(abs(try instant(leaversRevoked["revoked_at"]).timeIntervalSince(deactivatedAt)) < 0.001)
            let tokens = try #require((try await app.request(.get, "/v1/users/\(advisor.user.id)/tokens", token: advisor.token)).json?["items"] as? [[String: Any]])
            let revokedToken = try #require(tokens.first { $0["id"] as? String == token })
            #expect(abs(try instant(revokedToken["revoked_at"]).timeIntervalSince(revokedAt)) < 0.001)
            // The advisor's own token was last used for this very listing, an hour after its use before: noted on the virtual clock.
            let inUse = try #require(tokens.first { $0["id"] as? String != token }, "\(tokens)")
            #expect(abs(try instant(inUse["last_used_at"]).timeIntervalSince(deactivatedAt)) < 0.001, "\(inUse)")
            let user = try #require((try await app.request(.get, "/v1/users/\(leaver.user.id)", token: hub.admin.token)).json)
            #expect(abs(try instant(user["deactivated_at"]).timeIntervalSince(deactivatedAt)) < 0.001)
        }
    }

    @Test("a credential's use is noted only when its row is free: while a push holds the device's row (or another request its token's), authentication answers at once without noting; the next one notes it")
    func useNotedWithoutWaiting() async throws {
        let clock = VirtualClock()
        try await withTestApplication(configure: { $0.now = clock.function }) { app in
            let hub = try await app.fixtures.tenant(.hub, users: [[.advisor]])
            let advisor = hub.users[0]
            let registered = try await app.request(.post, "/v1/devices", token: advisor.token, json: #"{"name":"Tablet"}"#)
            let deviceText = try #require(registered.json?["token"] as? String)
            let deviceToken = try #require(BearerToken(deviceText))
            let deviceID = try #require((registered.json?["device"] as? [String: Any])?["id"] as? String)
            let device = try #require(Device.ID(string: deviceID))
            let userToken = try #require(BearerToken(advisor.token))
            let database = app.fixtures.database
            let devices = PostgresDeviceRepository(logger: database.logger)
            let tokens = PostgresAPITokenRepository(logger: database.logger)
            func lastUses() async throws -> (device: Date?, token: Date?) {
                try await database.withTenant(hub.tenant.id) { transaction in
                    let seen = try await transaction.connection.rows(
                        "SELECT last_seen_at FROM devices WHERE id = \(device)", logger: database.logger).decode(Date?.self)
                    let used = try await transaction.connection.rows(
                        "SELECT max(last_used_at) FROM api_tokens WHERE user_id = \(advisor.user.id)", logger: database.logger
                    ).decode(Date?.self)
                    return (seen.first ?? nil, used.first ?? nil)
                }
            }
            // An hour on, both uses are stale and would be noted.
            clock.advance(by: 3_600)
            let before = try await lastUses()
            try await database.withTenant(hub.tenant.id) { transaction in
                // The rows held as a push holds its device's (and a concurrent request a token's).
                _ = try await transaction.connection.rows("SELECT id FROM devices WHERE id = \(device) FOR UPDATE", logger: database.logger)
                _ = try await transaction.connection.rows(
                    "SELECT id FROM api_tokens WHERE user_id = \(advisor.user.id) FOR UPDATE", logger: database.logger)
                // A short lock timeout: the statement 0016 made waited for it and failed.
                let byDevice = try await database.withSingleStatement {
                    try await devices.authenticate(deviceToken, now: clock.now, lockTimeout: .milliseconds(100), on: $0)
                }
                #expect(byDevice?.deviceID == device && byDevice?.userID == advisor.user.id)
                let byToken = try await database.withSingleStatement {
                    try await tokens.authenticate(userToken, now: clock.now, lockTimeout: .milliseconds(100), on: $0)
                }
                #expect(byToken?.userID == advisor.user.id)
            }
            let meanwhile = try await lastUses()
            #expect(meanwhile.device == before.device && meanwhile.token == before.token, "not noted while the rows were held")
            // Free again: the next authentication notes both, by the server's clock.
            _ = try await database.withSingleStatement {
                try await devices.authenticate(deviceToken, now: clock.now, lockTimeout: .milliseconds(100), on: $0)
            }
            _ = try await database.withSingleStatement {
                try await tokens.authenticate(userToken, now: clock.now, lockTimeout: .milliseconds(100), on: $0)
            }
            let after = try await lastUses()
            let seen = try #require(after.device)
            let used = try #require(after.token)
            #expect(abs(seen.timeIntervalSince(clock.now)) < 0.001 && abs(used.timeIntervalSince(clock.now)) < 0.001)
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
