import Foundation
import HubNetCore
import HubNetPostgres
import HubNetTestSupport
import Logging
import PostgresNIO
import Testing

@testable import HubNetServer

/// Credentials presented at the same moment are checked in one statement (`CredentialChecks`,
/// migration 0030), and each request learns what its credential would answer alone.
@Suite("Credential checks together")
struct CredentialCheckTests {
    /// An answer as text, to compare the batched check with the one alone.
    static func describe(_ answer: Result<AuthenticatedUser?, any Error>) -> String {
        switch answer {
        case .success(nil): "nobody"
        case .success(let user?):
            "user \(user.userID) of \(user.tenantID) (\(user.tenantKind)) roles \(user.roles.map(\.rawValue).sorted()) device \(user.deviceID.map { "\($0)" } ?? "-")"
        case .failure(let error as AccessEnded): "ended \(error.reason) at \(error.lastMutationID.map { "\($0)" } ?? "-")"
        case .failure(let error): "failed \(error)"
        }
    }

    struct Credentials {
        var users: [BearerToken] = []
        var devices: [BearerToken] = []
        /// What each of `users` and `devices` must answer, in order.
        var expected: [String] = []

        /// Each credential where the server takes it by its own kind (a device token among the API
        /// tokens is a device's credential there), with what it must answer.
        var byOwnKind: (users: [BearerToken], devices: [BearerToken], expected: [String]) {
            let all = users + devices
            let kept = all.indices.filter { $0 < users.count ? all[$0].kind == .user : all[$0].kind == .device }
            return (
                kept.filter { $0 < users.count }.map { all[$0] }, kept.filter { $0 >= users.count }.map { all[$0] },
                kept.map { expected[$0] }
            )
        }
    }

    /// Tokens of every standing: valid ones of two tenants, a revoked one, a deactivated user's,
    /// an unknown secret, a genuine secret under another tenant's id; devices valid, revoked and
    /// of the deactivated user.
    static func credentials(in app: TestApplication) async throws -> Credentials {
        let hub = try await app.fixtures.tenant(.hub, users: [[.advisor], [.advisor], [.advisor]])
        let partner = try await app.fixtures.tenant(.partnerCompany, users: [[.partnerUser]])
        let (ana, ben, leaver) = (hub.users[0], hub.users[1], hub.users[2])
        func device(_ user: UserFixture) async throws -> (token: BearerToken, id: String) {
            let registered = try await app.request(.post, "/v1/devices", token: user.token, json: #"{"name":"Tablet"}"#)
            let text = try #require(registered.json?["token"] as? String)
            let token = try #require(BearerToken(text))
            return (token, try #require((registered.json?["device"] as? [String: Any])?["id"] as? String))
        }
        let issued = try await app.request(.post, "/v1/users/\(ben.user.id)/tokens", token: ben.token, json: #"{"name":"old"}"#)
        let revokedSecret = try #require(issued.json?["secret"] as? String)
        let revoked = try #require(BearerToken(revokedSecret))
        let revokedID = try #require((issued.json?["token"] as? [String: Any])?["id"] as? String)
        #expect(try await app.request(.delete, "/v1/tokens/\(revokedID)", token: ben.token).status == .noContent)
        let anasDevice = try await device(ana)
        let revokedDevice = try await device(ben)
        #expect(try await app.request(.delete, "/v1/devices/\(revokedDevice.id)", token: ben.token).status == .noContent)
        let leaversDevice = try await device(leaver)
        #expect(try await app.request(.delete, "/v1/users/\(leaver.user.id)", token: hub.admin.token).status == .noContent)
        let anasToken = try #require(BearerToken(ana.token))
        var forged = anasToken
        forged.tenantID = partner.tenant.id

        func user(_ fixture: UserFixture, _ tenant: TenantFixture, device: String? = nil) -> String {
            "user \(fixture.user.id) of \(tenant.tenant.id) (\(tenant.tenant.kind)) roles \(fixture.user.roles.map(\.rawValue).sorted()) device \(device ?? "-")"
        }
        var credentials = Credentials()
        credentials.users = [
            anasToken, try #require(BearerToken(ben.token)), revoked, try #require(BearerToken(leaver.token)),
            BearerToken(kind: .user, tenantID: hub.tenant.id, secret: "not-a-token-of-anybody-at-all-000000000000"), forged,
            try #require(BearerToken(partner.users[0].token)), anasDevice.token, anasToken,
        ]
        credentials.expected = [
            user(ana, hub), user(ben, hub), "nobody", "ended userDeactivated at -", "nobody", "nobody", user(partner.users[0], partner),
            "nobody", user(ana, hub),
        ]
        credentials.devices = [anasDevice.token, revokedDevice.token, leaversDevice.token, anasToken, anasDevice.token]
        credentials.expected += [
            user(ana, hub, device: anasDevice.id), "ended deviceRevoked at 0", "ended userDeactivated at 0", "nobody",
            user(ana, hub, device: anasDevice.id),
        ]
        return credentials
    }

    @Test("one statement checks many credentials of every standing, and each answers exactly as it does alone")
    func batchAnswersAsAlone() async throws {
        try await withTestApplication { app in
            let credentials = try await Self.credentials(in: app)
            let database = app.fixtures.database
            let tokens = PostgresAPITokenRepository(logger: database.logger)
            let devices = PostgresDeviceRepository(logger: database.logger)
            let now = Date()
            var alone: [String] = []
            for token in credentials.users {
                alone.append(Self.describe(await Result { try await database.withSingleStatement { try await tokens.authenticate(token, now: now, on: $0) } }))
            }
            for token in credentials.devices {
                alone.append(Self.describe(await Result { try await database.withSingleStatement { try await devices.authenticate(token, now: now, on: $0) } }))
            }
            let counted = StatementCount()
            let together = try await StatementCount.$current.withValue(counted) {
                let users = try await database.withSingleStatement { try await tokens.authenticateMany(credentials.users, now: now, on: $0) }
                let devices = try await database.withSingleStatement { try await devices.authenticateMany(credentials.devices, now: now, on: $0) }
                return (users + devices).map(Self.describe)
            }
            #expect(alone == credentials.expected)
            #expect(together == credentials.expected)
            #expect(counted.value == 2, "one statement for each kind")
        }
    }

    @Test("credentials arriving while a check runs queue and are checked in one batch; each request gets its own answer")
    func arrivalsFormOneBatch() async throws {
        try await withTestApplication { app in
            let credentials = try await Self.credentials(in: app)
            let logger = {
                var logger = Logger(label: "hubnet.test.credentials")
                logger.logLevel = .warning
                return logger
            }()
            try await withPostgresClient(app.database.serverURL, logger: logger, maximumConnections: 4) { client in
                let database = Database(client: client, logger: logger)
                let checks = CredentialChecks(
                    database: database, tokens: PostgresAPITokenRepository(logger: logger), devices: PostgresDeviceRepository(logger: logger),
                    now: { Date() }, maximumBatch: 64, maximumRunning: 1)
                let (users, devices, expected) = credentials.byOwnKind
                let all = users + devices
                let answers = Answers()
                for (kind, table, tokens) in [(BearerToken.Kind.user, "api_tokens", users), (.device, "devices", devices)] {
                    let tenant = all[0].tenantID
                    let offset = kind == .user ? 0 : users.count
                    // A check blocked by a table lock holds the only running slot; the rest queue behind it.
                    let (release, releaser) = AsyncStream<Void>.makeStream()
                    let (locked, locker) = AsyncStream<Void>.makeStream()
                    try await withThrowingTaskGroup(of: Void.self) { holder in
                        holder.addTask {
                            // Ended either way, so that a failure to lock is reported, not waited for.
                            defer { locker.finish() }
                            try await app.fixtures.database.withTenant(tenant) { transaction in
                                _ = try await transaction.connection.rows("LOCK TABLE \(unescaped: table) IN ACCESS EXCLUSIVE MODE", logger: logger)
                                locker.yield()
                                for await _ in release { break }
                            }
                        }
                        var isLocked = false
                        for await _ in locked {
                            isLocked = true
                            break
                        }
                        guard isLocked else { return try await holder.waitForAll() }
                        await withTaskGroup(of: Void.self) { requests in
                            requests.addTask {
                                let answer = await Result { try await checks.check(tokens[0]) }
                                await answers.set(offset, Self.describe(answer))
                            }
                            // Bounded waits: a check that never queues fails the test instead of hanging it.
                            let deadline = ContinuousClock.now + .seconds(30)
                            while await checks.running(kind) < 1, ContinuousClock.now < deadline { await Task.yield() }
                            for index in tokens.indices.dropFirst() {
                                requests.addTask {
                                    let answer = await Result { try await checks.check(tokens[index]) }
                                    await answers.set(offset + index, Self.describe(answer))
                                }
                            }
                            while await checks.waiting(kind) < tokens.count - 1 {
                                guard ContinuousClock.now < deadline else {
                                    Issue.record("only \(await checks.waiting(kind)) of \(tokens.count - 1) credentials queued")
                                    break
                                }
                                try? await Task.sleep(for: .milliseconds(5))
                            }
                            releaser.yield()
                            await requests.waitForAll()
                        }
                        try await holder.waitForAll()
                    }
                }
                let answered = await answers.list(all.count)
                #expect(answered == expected)
                #expect(await checks.checkedTogether == all.count - 2, "all but the two blocked checks were checked together")
                #expect(await checks.largestBatch == users.count - 1)
            }
        }
    }

    @Test("with batches of one (HUBNET_CREDENTIAL_BATCH_SIZE=1) credentials presented at once are each checked on their own, with the same answers")
    func batchesOfOne() async throws {
        try await withTestApplication { app in
            let (users, devices, expected) = try await Self.credentials(in: app).byOwnKind
            let database = app.fixtures.database
            let checks = CredentialChecks(
                database: database, tokens: PostgresAPITokenRepository(logger: database.logger),
                devices: PostgresDeviceRepository(logger: database.logger), now: { Date() }, maximumBatch: 1)
            let all = users + devices
            let answers = Answers()
            await withTaskGroup(of: Void.self) { requests in
                for index in all.indices {
                    requests.addTask { await answers.set(index, Self.describe(await Result { try await checks.check(all[index]) })) }
                }
            }
            #expect(await answers.list(all.count) == expected)
            #expect(await checks.checkedTogether == 0)
            #expect(await checks.largestBatch == 0)
        }
    }

    /// Each request's answer, by its credential's position.
    actor Answers {
        private var answers: [Int: String] = [:]
        func set(_ position: Int, _ answer: String) { answers[position] = answer }
        func list(_ count: Int) -> [String] { (0..<count).map { answers[$0] ?? "no answer" } }
    }
}
