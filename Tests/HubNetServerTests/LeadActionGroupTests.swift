import Foundation
import HubNetCore
import HubNetPostgres
import HubNetTestSupport
import HummingbirdTesting
import Logging
import PostgresNIO
import Synchronization
import Testing

@testable import HubNetServer

/// Lead actions taken at the same moment in one tenant are stored in one transaction
/// (`LeadActionGroups`), and each caller gets what it would get alone.
///
/// To form a group for sure, a test holds one lead's row lock from a transaction of its own: the
/// action on that lead takes the only running slot and waits, the actions sent meanwhile queue, and
/// when the lock goes they form the next group, all of them.
@Suite("Lead action groups")
struct LeadActionGroupTests {
    struct Setup {
        let app: TestApplication
        let hub: TenantFixture
        let database: Database
        let groups: LeadActionGroups

        func caller(_ index: Int) -> AuthenticatedUser {
            let user = hub.users[index].user
            return AuthenticatedUser(userID: user.id, tenantID: hub.tenant.id, tenantKind: .hub, roles: user.roles)
        }
    }

    static func withGroups(users: [Set<Role>], _ body: @escaping @Sendable (Setup) async throws -> Void) async throws {
        try await withTestApplication { app in
            let hub = try await app.fixtures.tenant(.hub, users: users)
            var logger = Logger(label: "hubnet.test.groups")
            logger.logLevel = .warning
            try await withPostgresClient(app.database.serverURL, logger: logger, maximumConnections: 8) { client in
                let database = Database(client: client, logger: logger)
                let groups = LeadActionGroups(
                    commands: LeadCommands(database: database, links: ServerConfiguration(databasePoolSize: 1).emailLinks),
                    database: database, now: { Date() }, maximumGroup: 64, maximumRunning: 1)
                try await body(Setup(app: app, hub: hub, database: database, groups: groups))
            }
        }
    }

    /// Runs `send` while `held` is locked by another transaction: the action `blocked` (on `held`)
    /// takes the running slot and waits; `send` starts `queued` actions, which wait for the lock to
    /// go and then form one group.
    static func whileHolding(
        _ held: Lead.ID, in setup: Setup, blocked: @escaping @Sendable () async -> Void, queued: Int,
        send: @escaping @Sendable (inout TaskGroup<Void>) -> Void
    ) async throws {
        let (release, releaser) = AsyncStream<Void>.makeStream()
        let (locked, locker) = AsyncStream<Void>.makeStream()
        try await withThrowingTaskGroup(of: Void.self) { holder in
            holder.addTask {
                try await setup.database.withTenant(setup.hub.tenant.id) { transaction in
                    _ = try await transaction.connection.rows(
                        "SELECT id FROM leads WHERE id = \(held) FOR UPDATE", logger: setup.database.logger)
                    locker.yield()
                    for await _ in release { break }
                }
            }
            for await _ in locked { break }
            await withTaskGroup(of: Void.self) { actions in
                actions.addTask { await blocked() }
                // The blocked action holds the only slot (it waits for the lock, or will): what is
                // sent from here on queues.
                while await setup.groups.running(in: setup.hub.tenant.id) < 1 { await Task.yield() }
                send(&actions)
                while await setup.groups.waiting(in: setup.hub.tenant.id) < queued { try? await Task.sleep(for: .milliseconds(5)) }
                releaser.yield()
                await actions.waitForAll()
            }
            try await holder.waitForAll()
        }
    }

    static func makeLeads(_ count: Int, _ setup: Setup, tag: String = "") async throws -> [Lead.ID] {
        var leads: [Lead.ID] = []
        for index in 0..<count { leads.append(try await setup.app.createLead(token: setup.hub.users[0].token, name: "Lead \(tag)\(index)")) }
        return leads
    }

    /// The lead's history as the API verifies it: entries and whether the chain is intact.
    static func history(_ lead: Lead.ID, _ setup: Setup) async throws -> (entries: [[String: Any]], intact: Bool) {
        let token = setup.hub.admin.token
        let entries = try #require(
            try await setup.app.request(.get, "/v1/leads/\(lead)/history", token: token).json?["items"] as? [[String: Any]])
        let verification = try await setup.app.request(.get, "/v1/leads/\(lead)/history/verification", token: token)
        return (entries, verification.json?["intact"] as? Bool == true)
    }

    final class Outcomes: Sendable {
        private let results = Mutex<[Int: (Result<LeadActionGroups.Acted, any Error>, Int)]>([:])
        func record(_ index: Int, _ result: Result<LeadActionGroups.Acted, any Error>, statements: Int) {
            results.withLock { $0[index] = (result, statements) }
        }
        var all: [Int: (Result<LeadActionGroups.Acted, any Error>, Int)] { results.withLock { $0 } }
    }

    /// Takes an action through the groups, counting the statements reported to its request.
    static func act(_ setup: Setup, _ action: String, _ lead: Lead.ID, by caller: Int, _ index: Int, into outcomes: Outcomes) async {
        let counted = StatementCount()
        let result: Result<LeadActionGroups.Acted, any Error> = await StatementCount.$current.withValue(counted) {
            do { return .success(try await setup.groups.act(LeadAction(action), on: lead, caller: setup.caller(caller))) } catch {
                return .failure(error)
            }
        }
        outcomes.record(index, result, statements: counted.value)
    }

    /// The statements a group of `size` contact actions reported to each of its requests.
    static func groupOfContacts(_ size: Int, _ setup: Setup) async throws -> (outcomes: Outcomes, leads: [Lead.ID]) {
        let leads = try await makeLeads(size + 1, setup, tag: "\(size)")
        let outcomes = Outcomes()
        let queued = Array(leads.dropFirst())
        try await whileHolding(
            leads[0], in: setup, blocked: { await act(setup, "contact", leads[0], by: 0, -1, into: outcomes) }, queued: size
        ) { actions in
            for (index, lead) in queued.enumerated() {
                actions.addTask { await act(setup, "contact", lead, by: index % 3, index, into: outcomes) }
            }
        }
        return (outcomes, queued)
    }

    @Test("actions sent at the same moment are stored in one group: each caller gets its own lead, and a group of 30 runs as many statements as a group of 5")
    func oneGroup() async throws {
        try await Self.withGroups(users: [[.moderator], [.moderator], [.moderator]]) { setup in
            let (small, _) = try await Self.groupOfContacts(5, setup)
            let (large, leads) = try await Self.groupOfContacts(30, setup)
            let smallCounts = Set(small.all.filter { $0.key >= 0 }.map(\.value.1))
            let largeCounts = Set(large.all.filter { $0.key >= 0 }.map(\.value.1))
            // Every member of a group reports the group's statements: one figure per group.
            #expect(smallCounts.count == 1 && largeCounts.count == 1, "\(smallCounts) \(largeCounts)")
            let (smallGroup, largeGroup) = (try #require(smallCounts.first), try #require(largeCounts.first))
            #expect(smallGroup == largeGroup, "5 actions: \(smallGroup) statements, 30: \(largeGroup)")
            #expect(largeGroup <= 9, "\(largeGroup) statements for a group of 30")

            let outcomes = large.all
            #expect(outcomes.count == 31)
            for (index, lead) in leads.enumerated() {
                let acted = try #require(try outcomes[index]?.0.get())
                #expect(acted.lead.id == lead)
                #expect(acted.lead.state.status == "contacted")
                #expect(acted.lead.version == 2)
                #expect(acted.template.key == "hub_moderation")
                // One entry by this action's caller, chained on the lead's first.
                let (entries, intact) = try await Self.history(lead, setup)
                #expect(intact)
                #expect(entries.count == 2)
                let last = try #require(entries.last)
                #expect(last["action"] as? String == "contact")
                #expect((last["actor_user_id"] as? String)?.lowercased() == setup.caller(index % 3).userID.description.lowercased())
            }
        }
    }

    @Test("a refusal in a group is its action's answer alone: the same refusal as alone, and the others are stored")
    func refusalsStayAlone() async throws {
        try await Self.withGroups(users: [[.moderator], [.moderator], [.advisor]]) { setup in
            let token = setup.hub.users[0].token
            let leads = try await Self.makeLeads(6, setup)
            let missing = Lead.ID()
            // The advisor does not see another's lead; `close` is no action of the workflow; a lead
            // that does not exist answers as one.
            let plan: [(action: String, lead: Lead.ID, caller: Int)] = [
                ("accept", leads[1], 0), ("accept", leads[2], 2), ("close", leads[3], 1), ("contact", missing, 0),
                ("decline", leads[4], 1), ("contact", leads[5], 1),
            ]
            let outcomes = Outcomes()
            try await Self.whileHolding(
                leads[0], in: setup, blocked: { await Self.act(setup, "contact", leads[0], by: 0, -1, into: outcomes) },
                queued: plan.count
            ) { actions in
                for (index, step) in plan.enumerated() {
                    actions.addTask { await Self.act(setup, step.action, step.lead, by: step.caller, index, into: outcomes) }
                }
            }
            let results = outcomes.all
            func code(_ index: Int) -> String? {
                guard case .failure(let error) = results[index]?.0 else { return nil }
                return (error as? DomainError)?.code ?? (error as? WorkflowRefusal)?.domainError.code ?? "\(error)"
            }
            #expect(try results[0].map { try $0.0.get().lead.state.status } == "accepted")
            #expect(try results[4].map { try $0.0.get().lead.state.status } == "declined")
            #expect(try results[5].map { try $0.0.get().lead.state.status } == "contacted")
            // Each refusal is the one the same action gets on its own (`LeadCommands.act`, as before groups).
            let commands = LeadCommands(database: setup.database, links: ServerConfiguration(databasePoolSize: 1).emailLinks)
            for index in [1, 2, 3] {
                let step = plan[index]
                let expected: String
                do {
                    _ = try await setup.database.withTenant(setup.hub.tenant.id) { transaction in
                        try await commands.act(LeadAction(step.action), on: step.lead, caller: setup.caller(step.caller), now: Date(), in: transaction)
                    }
                    Issue.record("action \(index) was taken on its own")
                    continue
                } catch let error as DomainError {
                    expected = error.code
                } catch let refusal as WorkflowRefusal {
                    expected = refusal.domainError.code
                }
                #expect(code(index) == expected, "action \(index): \(String(describing: code(index))) in a group, \(expected) alone")
            }
            #expect(code(1) == "not_visible" && code(2) == "unknown_action" && code(3) == "not_found", "\(results)")
            // Nothing of a refused action stays: the leads it named have only their first entry.
            #expect(try await Self.history(leads[2], setup).entries.count == 1)
            #expect(try await Self.history(leads[3], setup).entries.count == 1)
            #expect(try await Self.history(leads[1], setup).entries.count == 2)
        }
    }

    @Test("two actions on one lead never share a group: the later one sees the earlier one's result, in the order they came")
    func oneLeadInOrder() async throws {
        try await Self.withGroups(users: [[.moderator], [.moderator]]) { setup in
            let token = setup.hub.users[0].token
            let leads = try await Self.makeLeads(3, setup)
            let outcomes = Outcomes()
            try await Self.whileHolding(
                leads[0], in: setup, blocked: { await Self.act(setup, "contact", leads[0], by: 0, -1, into: outcomes) }, queued: 3
            ) { actions in
                // Accept, then decline, the same lead; decided from one reading both would pass.
                actions.addTask { await Self.act(setup, "accept", leads[1], by: 0, 0, into: outcomes) }
                actions.addTask {
                    while await setup.groups.waiting(in: setup.hub.tenant.id) < 1 { await Task.yield() }
                    await Self.act(setup, "decline", leads[1], by: 1, 1, into: outcomes)
                }
                actions.addTask {
                    while await setup.groups.waiting(in: setup.hub.tenant.id) < 2 { await Task.yield() }
                    await Self.act(setup, "contact", leads[2], by: 1, 2, into: outcomes)
                }
            }
            let results = outcomes.all
            #expect(try results[0].map { try $0.0.get().lead.state.status } == "accepted")
            #expect(try results[2].map { try $0.0.get().lead.state.status } == "contacted")
            guard case .failure(let refusal) = results[1]?.0 else {
                Issue.record("the decline after the accept was not refused: \(String(describing: results[1]))")
                return
            }
            #expect((refusal as? WorkflowRefusal)?.domainError.code ?? (refusal as? DomainError)?.code == "action_not_available")
            let (entries, intact) = try await Self.history(leads[1], setup)
            #expect(intact)
            #expect(entries.map { $0["action"] as? String } == ["create", "accept"])
        }
    }

    @Test("a group whose store fails is taken again action by action: only the action at fault fails, nothing of it stays")
    func failedGroupTakenAlone() async throws {
        try await Self.withGroups(users: [[.moderator]]) { setup in
            let token = setup.hub.users[0].token
            let leads = try await Self.makeLeads(5, setup)
            let faulty = leads[2]
            // A fault of the store's (not a rule): any update of this lead fails.
            try await withPostgresClient(setup.app.database.ownerURL, logger: setup.database.logger, maximumConnections: 1) { owner in
                _ = try await owner.query(
                    """
                    CREATE FUNCTION test_refuse_update() RETURNS TRIGGER LANGUAGE plpgsql AS $$
                    BEGIN RAISE EXCEPTION 'this lead cannot be stored' USING ERRCODE = 'XX000'; END $$
                    """)
                _ = try await owner.query(
                    PostgresQuery(
                        unsafeSQL: """
                            CREATE TRIGGER test_refuse_update BEFORE UPDATE ON leads FOR EACH ROW
                            WHEN (OLD.id = '\(faulty.description)'::UUID) EXECUTE FUNCTION test_refuse_update()
                            """))
            }
            let outcomes = Outcomes()
            try await Self.whileHolding(
                leads[0], in: setup, blocked: { await Self.act(setup, "contact", leads[0], by: 0, -1, into: outcomes) }, queued: 4
            ) { actions in
                for (index, lead) in leads.dropFirst().enumerated() {
                    actions.addTask { await Self.act(setup, "contact", lead, by: 0, index, into: outcomes) }
                }
            }
            let results = outcomes.all
            for (index, lead) in leads.dropFirst().enumerated() {
                let result = try #require(results[index]?.0)
                let entries = try await Self.history(lead, setup).entries
                if lead == faulty {
                    guard case .failure = result else {
                        Issue.record("the faulty lead's action succeeded")
                        continue
                    }
                    #expect(entries.count == 1)
                } else {
                    #expect(try result.get().lead.state.status == "contacted")
                    #expect(entries.count == 2, "\(lead): \(entries.count) entries")
                }
            }
        }
    }

    @Test("over HTTP, forty people's actions at once: every one answered with its lead contacted, every chain intact")
    func overHTTP() async throws {
        try await withTestApplication { app in
            let hub = try await app.fixtures.tenant(.hub, users: Array(repeating: [.moderator], count: 4))
            var created: [Lead.ID] = []
            for index in 0..<40 { created.append(try await app.createLead(token: hub.users[0].token, name: "Lead \(index)")) }
            let leads = created
            let answers = try await withThrowingTaskGroup(of: (Lead.ID, TestResponse).self) { group in
                for (index, lead) in leads.enumerated() {
                    group.addTask {
                        (lead, try await app.request(.post, "/v1/leads/\(lead)/actions/contact", token: hub.users[index % 4].token, json: "{}"))
                    }
                }
                return try await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
            }
            #expect(answers.count == 40)
            for lead in leads {
                let response = try #require(answers[lead])
                #expect(response.status == .ok, "\(response.text)")
                #expect((response.json?["id"] as? String)?.lowercased() == lead.description.lowercased())
                #expect(response.json?["status"] as? String == "contacted")
                let verification = try await app.request(.get, "/v1/leads/\(lead)/history/verification", token: hub.admin.token)
                #expect(verification.json?["intact"] as? Bool == true)
                #expect(verification.json?["entries"] as? Int == 2)
            }
        }
    }
}
