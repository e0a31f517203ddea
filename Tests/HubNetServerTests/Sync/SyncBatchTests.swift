import Foundation
import HubNetCore
import HubNetPostgres
import HubNetTestSupport
import HummingbirdTesting
import PostgresNIO
import Testing

/// A push is decided in memory and written set-based: its cost in statements does not grow with
/// its size, and the order of a batch still means what it says.
@Suite("Sync batches")
struct SyncBatchTests {
    /// The statements a request ran, as the server reports them in `Server-Timing`.
    /// Whether another transaction can lock a lead now (`strength` NOWAIT): nil if it can, else the
    /// SQLSTATE (55P03 is lock_not_available).
    static func tryLock(_ id: Lead.ID, _ strength: String, tenant: Tenant.ID, in database: Database) async -> String? {
        do {
            try await database.withTenant(tenant) { other in
                _ = try await other.connection.query(
                    "SELECT id FROM leads WHERE id = \(id) \(unescaped: strength) NOWAIT", logger: database.logger
                ).collect()
            }
            return nil
        } catch let error as PSQLError {
            return error.serverInfo?[.sqlState]
        } catch {
            return "\(error)"
        }
    }

    static func statements(_ response: TestResponse) throws -> Int {
        let timing = try #require(response.headers[.init("Server-Timing")!], "no Server-Timing")
        let match = try #require(timing.firstMatch(of: /db;dur=[0-9]+;desc="([0-9]+) statements"/), "\(timing)")
        return try #require(Int(match.1))
    }

    /// Notes on every lead, and every fifth mutation an edit of a lead's region.
    /// `regions` is what the device last saw in each lead's region, as a device tracks it.
    static func mixed(from first: Int64, count: Int, leads: [Lead.ID], tag: String, regions: inout [Lead.ID: String]) -> [Mutation] {
        (0..<count).map { offset in
            let id = first + Int64(offset)
            let lead = leads[offset % leads.count]
            guard offset % 5 == 4 else { return Mutation(id: id, leadId: lead, intent: .addNote(id: LeadNote.ID(), body: "\(tag) note \(id)")) }
            let region = "\(tag) \(id)"
            defer { regions[lead] = region }
            return Mutation(id: id, leadId: lead, intent: .update(LeadUpdate(changes: [.init(field: .region, from: regions[lead], to: region)])))
        }
    }

    @Test("a push of 100 notes and edits runs as many statements as a push of 10, and stores every one of them")
    func boundedStatements() async throws {
        try await withTestApplication { app in
            let hub = try await app.fixtures.tenant(.hub, users: [[.moderator]])
            let token = hub.users[0].token
            var leads: [Lead.ID] = []
            for index in 0..<20 { leads.append(try await app.createLead(token: token, name: "Lead \(index)")) }
            let device = try await SyncTestDevice.register(app, as: hub.users[0])

            var regions: [Lead.ID: String] = [:]
            // A request notes when the device was last seen (at most once a minute); the two pushes compared come after that.
            _ = try await device.push([Mutation(id: 1, leadId: leads[0], intent: .addNote(id: LeadNote.ID(), body: "hello"))])
            let small = try await device.pushRaw(Self.mixed(from: 2, count: 10, leads: leads, tag: "small", regions: &regions))
            #expect(small.status == .ok, "\(small.text)")
            let large = try await device.pushRaw(Self.mixed(from: 12, count: 100, leads: leads, tag: "large", regions: &regions))
            #expect(large.status == .ok, "\(large.text)")
            let (smallCount, largeCount) = (try Self.statements(small), try Self.statements(large))
            #expect(smallCount == largeCount, "10 mutations: \(smallCount) statements, 100: \(largeCount)")
            #expect(largeCount <= 10, "\(largeCount) statements for 100 mutations")
            let outcomes = try #require(large.json?["results"] as? [[String: Any]])
            #expect(outcomes.count == 100 && outcomes.allSatisfy { $0["outcome"] as? String == "applied" })

            // Everything is stored: 88 notes, each lead's region is its last edit, one history entry
            // per edit and every chain intact, and the version counts the edits.
            var notes = 0
            var entries = 0
            for lead in leads {
                notes += try #require(try await app.request(.get, "/v1/leads/\(lead)/notes?limit=200", token: token).json?["items"] as? [Any]).count
                let verification = try await app.request(.get, "/v1/leads/\(lead)/history/verification", token: token)
                #expect(verification.json?["intact"] as? Bool == true, "\(verification.text)")
                entries += try #require(verification.json?["entries"] as? Int)
            }
            #expect(notes == 1 + 8 + 80)
            #expect(entries == leads.count + 2 + 20)
            // Lead 4 (offsets 4, 24, 44, … of the large batch) was last edited by mutation 12 + 84.
            let lead4 = try await app.request(.get, "/v1/leads/\(leads[4])", token: token)
            #expect((lead4.json?["contact"] as? [String: Any])?["region"] as? String == "large 96", "\(lead4.text)")
        }
    }

    @Test("in one batch, an edit after a decline is refused as the lead is closed, and a note id used twice is refused the second time")
    func orderInsideABatch() async throws {
        try await withTestApplication { app in
            let hub = try await app.fixtures.tenant(.hub, users: [[.moderator]])
            let token = hub.users[0].token
            let lead = try await app.createLead(token: token)
            let device = try await SyncTestDevice.register(app, as: hub.users[0])
            let taken = LeadNote.ID()
            _ = try await device.push([Mutation(id: 1, leadId: lead, intent: .addNote(id: taken, body: "first"))])
            let twice = LeadNote.ID()
            let answer = try await device.push([
                Mutation(id: 2, leadId: lead, intent: .update(LeadUpdate(changes: [.init(field: .city, from: "Oakland", to: "Berkeley")]))),
                Mutation(id: 3, leadId: lead, intent: .addNote(id: twice, body: "once")),
                Mutation(id: 4, leadId: lead, intent: .addNote(id: twice, body: "twice")),
                Mutation(id: 5, leadId: lead, intent: .addNote(id: taken, body: "taken before")),
                Mutation(id: 6, leadId: lead, intent: .act(LeadAction("decline", .init(reason: "out of area")))),
                Mutation(id: 7, leadId: lead, intent: .update(LeadUpdate(changes: [.init(field: .city, from: "Berkeley", to: "Alameda")]))),
                Mutation(id: 8, leadId: lead, intent: .addNote(id: LeadNote.ID(), body: "after the decline")),
            ])
            #expect(answer.results.map(\.outcome) == [.applied, .applied, .rejected, .rejected, .applied, .rejected, .applied])
            #expect(answer.results.map(\.code) == [nil, nil, "duplicate_id", "duplicate_id", nil, "lead_closed", nil])
            let stored = try await app.request(.get, "/v1/leads/\(lead)", token: token)
            #expect(stored.text.contains("Berkeley") && !stored.text.contains("Alameda"))
            let notes = try #require(try await app.request(.get, "/v1/leads/\(lead)/notes", token: token).json?["items"] as? [[String: Any]])
            #expect(Set(notes.compactMap { $0["body"] as? String }) == ["first", "once", "after the decline"])
            let verification = try await app.request(.get, "/v1/leads/\(lead)/history/verification", token: token)
            #expect(verification.json?["intact"] as? Bool == true)
            #expect(verification.json?["entries"] as? Int == 3)
        }
    }

    @Test("a push of 100 workflow actions on referred leads of two sources runs as many statements as a push of 10; every state, history entry, mirror and notice is stored")
    func boundedActionStatements() async throws {
        try await withTestApplication { app in
            let sources = [
                try await app.fixtures.tenant(.sourcingCompany, name: "Source One", users: [[.partnerUser]]),
                try await app.fixtures.tenant(.sourcingCompany, name: "Source Two", users: [[.partnerUser]]),
            ]
            let partner = try await app.fixtures.tenant(.partnerCompany, name: "Partner Co", users: [[.partnerUser]])
            // 110 referred copies, alternating between the two sources.
            var copies: [Lead.ID] = []
            for index in 0..<110 {
                let source = sources[index % 2]
                let created = try await app.request(.post, "/v1/leads", token: source.users[0].token, json: PrivacyTests.leadBody())
                let lead = try #require(created.json?["id"] as? String, "\(created.text)")
                // The lead and its first history entry are one statement, beside its consent.
                let creating = try Self.statements(created)
                #expect(creating <= 7, "creating a lead ran \(creating) statements")
                let referral = try await app.request(
                    .post, "/v1/leads/\(lead)/referrals", token: source.users[0].token, json: #"{"partner_id":"\#(partner.tenant.id)"}"#)
                #expect(referral.status == .created, "\(referral.text)")
                let copy = try #require(referral.json?["target_lead_id"] as? String)
                copies.append(Lead.ID(try #require(UUID(uuidString: copy))))
            }
            let device = try await SyncTestDevice.register(app, as: partner.users[0])
            // A request notes when the device was last seen (at most once a minute); the two pushes compared come after that.
            _ = try await device.push([Mutation(id: 1, leadId: copies[0], intent: .addNote(id: LeadNote.ID(), body: "seen"))])
            func declines(from first: Int64, _ leads: ArraySlice<Lead.ID>) -> [Mutation] {
                leads.enumerated().map { offset, lead in
                    Mutation(id: first + Int64(offset), leadId: lead, intent: .act(LeadAction("decline", .init(reason: "full up \(offset)"))))
                }
            }
            let small = try await device.pushRaw(declines(from: 2, copies[0..<10]))
            let large = try await device.pushRaw(declines(from: 12, copies[10..<110]))
            #expect(small.status == .ok && large.status == .ok, "\(small.text) \(large.text)")
            let (smallCount, largeCount) = (try Self.statements(small), try Self.statements(large))
            #expect(smallCount == largeCount, "10 actions: \(smallCount) statements, 100: \(largeCount)")
            #expect(largeCount <= 16, "\(largeCount) statements for 100 actions")
            let outcomes = try #require(large.json?["results"] as? [[String: Any]])
            #expect(outcomes.count == 100 && outcomes.allSatisfy { $0["outcome"] as? String == "applied" }, "\(large.text.prefix(400))")

            // Each copy is declined with its reason and an intact history ending in the decline.
            for (index, copy) in copies.enumerated() {
                let lead = try #require(try await app.request(.get, "/v1/leads/\(copy)", token: partner.users[0].token).json)
                #expect(lead["status"] as? String == "declined", "\(copy)")
                let verification = try await app.request(.get, "/v1/leads/\(copy)/history/verification", token: partner.users[0].token)
                #expect(verification.json?["intact"] as? Bool == true, "\(verification.text)")
                let history = try #require(
                    try await app.request(.get, "/v1/leads/\(copy)/history", token: partner.users[0].token).json?["items"] as? [[String: Any]])
                let last = try #require(history.last)
                #expect(last["action"] as? String == "decline" && last["reason"] as? String == "full up \(index < 10 ? index : index - 10)")
            }
            // Each source's referrals mirror the declines, and its creator got one notice per decline.
            for source in sources {
                let referrals = try #require(
                    try await app.request(.get, "/v1/referrals?limit=200", token: source.users[0].token).json?["items"] as? [[String: Any]])
                #expect(referrals.count == 55 && referrals.allSatisfy { $0["status"] as? String == "declined" && $0["reason"] != nil })
                let notices = try await app.fixtures.database.withTenant(source.tenant.id) { transaction in
                    try await transaction.connection.query(
                        "SELECT count(*)::INTEGER FROM outbox WHERE event = 'referral.decline' AND recipient = \(source.users[0].user.email)",
                        logger: app.fixtures.database.logger
                    ).collect().first?.decode(Int.self)
                }
                #expect(notices == 55)
            }
        }
    }

    /// What an action left on a lead, as its owner reads it over HTTP: status, assignee, whether an
    /// opportunity is linked, whether it is in the CRM, the last history entry's action and actor,
    /// whether the history's chain is intact.
    static func outcome(_ app: TestApplication, _ lead: Lead.ID, token: String) async throws -> [String] {
        let read = try #require(try await app.request(.get, "/v1/leads/\(lead)", token: token).json)
        let history = try #require(try await app.request(.get, "/v1/leads/\(lead)/history", token: token).json?["items"] as? [[String: Any]])
        let verification = try await app.request(.get, "/v1/leads/\(lead)/history/verification", token: token)
        return [
            read["status"] as? String ?? "-", read["assigned_user_id"] as? String ?? "-", String(read["opportunity_linked"] as? Bool == true),
            String(read["in_crm"] as? Bool == true),
            history.last?["action"] as? String ?? "-", history.last?["actor_user_id"] as? String ?? "-",
            String(verification.json?["intact"] as? Bool == true),
        ]
    }

    @Test("actions decided in a push leave what the same actions leave over HTTP: a client in the CRM, an assignee and their email, an opportunity, the source's mirror and notice, the same refusal")
    func pushedActionsMatchHTTP() async throws {
        try await withTestApplication(configure: { $0.deliveryInterval = nil }) { app in
            let hub = try await app.fixtures.tenant(.hub, users: [[.moderator], [.advisor], [.advisor]])
            let moderator = hub.users[0]
            let database = app.fixtures.database
            // Twin leads: one acted on over HTTP, the other through a push.
            func twins(_ extra: String = "") async throws -> (Lead.ID, Lead.ID) {
                (try await app.createLead(token: moderator.token, name: "Twin A", extra: extra),
                 try await app.createLead(token: moderator.token, name: "Twin B", extra: extra))
            }
            let accepted = try await twins()
            let assigned = try await twins(#","template":"staged_pipeline""#)
            let refused = try await twins(#","template":"staged_pipeline""#)
            // The second advisor leaves: naming them is refused either way.
            #expect(try await app.request(.delete, "/v1/users/\(hub.users[2].user.id)", token: hub.admin.token).status == .noContent)
            let assign = #"{"assignee_id":"\#(hub.users[1].user.id)"}"#
            let leaver = #"{"assignee_id":"\#(hub.users[2].user.id)"}"#
            #expect(try await app.request(.post, "/v1/leads/\(accepted.0)/actions/accept", token: moderator.token, json: "{}").status == .ok)
            #expect(try await app.request(.post, "/v1/leads/\(assigned.0)/actions/assign", token: moderator.token, json: assign).status == .ok)
            let refusedOverHTTP = try await app.request(.post, "/v1/leads/\(refused.0)/actions/assign", token: moderator.token, json: leaver)

            let device = try await SyncTestDevice.register(app, as: moderator)
            let pushed = try await device.push([
                Mutation(id: 1, leadId: accepted.1, intent: .act(LeadAction("accept", .init()))),
                Mutation(id: 2, leadId: assigned.1, intent: .act(LeadAction("assign", .init(assigneeId: hub.users[1].user.id)))),
                Mutation(id: 3, leadId: refused.1, intent: .act(LeadAction("assign", .init(assigneeId: hub.users[2].user.id)))),
            ])
            #expect(pushed.results.map(\.outcome) == [.applied, .applied, .rejected], "\(pushed.results)")
            #expect(pushed.results[2].field == "assignee_id" && refusedOverHTTP.errorField == "assignee_id", "\(refusedOverHTTP.text)")
            #expect(pushed.results[2].code == "invalid_value" && refusedOverHTTP.errorCode == "validation_failed")

            for (http, sync) in [accepted, assigned, refused] {
                let (overHTTP, overSync) = (try await Self.outcome(app, http, token: moderator.token), try await Self.outcome(app, sync, token: moderator.token))
                #expect(overHTTP == overSync, "HTTP \(overHTTP), push \(overSync)")
            }
            #expect(try await Self.outcome(app, assigned.1, token: moderator.token)[1] == hub.users[1].user.id.description)
            // Both accepted leads are clients of the CRM, and the assignee got one email per assignment.
            let (clients, emails) = try await database.withTenant(hub.tenant.id) { transaction in
                let clients = try await transaction.connection.query(
                    "SELECT lead_id FROM clients WHERE lead_id = ANY(\([accepted.0.rawValue, accepted.1.rawValue]))", logger: database.logger
                ).collect().count
                let emails = try await transaction.connection.query(
                    "SELECT subject FROM outbox WHERE event = 'lead.assigned' AND recipient = \(hub.users[1].user.email) ORDER BY subject",
                    logger: database.logger
                ).collect().map { try $0.decode(String.self) }
                return (clients, emails)
            }
            #expect(clients == 2)
            #expect(emails == ["A lead needs your attention: Twin A", "A lead needs your attention: Twin B"])

            // The accepted twins referred to an advisor of the hub: the advisor is the assignee either way.
            let advisor = hub.users[1]
            let referInternally = #"{"advisor_id":"\#(advisor.user.id)"}"#
            #expect(try await app.request(.post, "/v1/leads/\(accepted.0)/actions/refer_internal", token: moderator.token, json: referInternally).status == .ok)
            let referred = try await device.push([
                Mutation(id: 4, leadId: accepted.1, intent: .act(LeadAction("refer_internal", .init(advisorId: advisor.user.id))))
            ])
            #expect(referred.results.map(\.outcome) == [.applied], "\(referred.results)")
            let (overHTTP, overSync) = (try await Self.outcome(app, accepted.0, token: moderator.token), try await Self.outcome(app, accepted.1, token: moderator.token))
            #expect(overHTTP == overSync && overSync[1] == advisor.user.id.description, "HTTP \(overHTTP), push \(overSync)")
            // Naming someone who is not an advisor is refused the same way over HTTP and in a push.
            let notAnAdvisor = try await app.request(
                .post, "/v1/leads/\(accepted.0)/actions/refer_internal", token: moderator.token, json: #"{"advisor_id":"\#(moderator.user.id)"}"#)
            let refusedInPush = try await device.push([
                Mutation(id: 5, leadId: accepted.1, intent: .act(LeadAction("refer_internal", .init(advisorId: moderator.user.id))))
            ])
            #expect(notAnAdvisor.status != .ok && refusedInPush.results.map(\.outcome) == [.rejected], "\(notAnAdvisor.text) \(refusedInPush.results)")
            #expect(notAnAdvisor.errorCode == "validation_failed" && refusedInPush.results.first?.code == "invalid_value", "\(notAnAdvisor.text) \(refusedInPush.results)")
            let advisorEmails = try await database.withTenant(hub.tenant.id) { transaction in
                try await transaction.connection.query(
                    "SELECT count(*)::INTEGER FROM outbox WHERE event = 'lead.assigned' AND recipient = \(advisor.user.email)",
                    logger: database.logger
                ).collect().first?.decode(Int.self)
            }
            #expect(advisorEmails == 4)
        }
    }

    @Test("edits then an action on one lead in one push: the action sees the edits, and the history chains edit, edit, action, intact")
    func editsThenActionChain() async throws {
        try await withTestApplication { app in
            let hub = try await app.fixtures.tenant(.hub, users: [[.moderator]])
            let token = hub.users[0].token
            let lead = try await app.createLead(token: token, name: "Chained")
            let device = try await SyncTestDevice.register(app, as: hub.users[0])
            let pushed = try await device.push([
                Mutation(id: 1, leadId: lead, intent: .update(LeadUpdate(changes: [.init(field: .region, from: nil, to: "North")]))),
                Mutation(id: 2, leadId: lead, intent: .update(LeadUpdate(changes: [.init(field: .region, from: "North", to: "South")]))),
                Mutation(id: 3, leadId: lead, intent: .act(LeadAction("accept", .init()))),
                Mutation(id: 4, leadId: lead, intent: .addNote(id: LeadNote.ID(), body: "after the accept")),
            ])
            #expect(pushed.results.map(\.outcome) == [.applied, .applied, .applied, .applied], "\(pushed.results)")
            let read = try #require(try await app.request(.get, "/v1/leads/\(lead)", token: token).json)
            #expect(read["status"] as? String == "accepted" && read["in_crm"] as? Bool == true)
            let history = try #require(try await app.request(.get, "/v1/leads/\(lead)/history", token: token).json?["items"] as? [[String: Any]])
            #expect(history.suffix(3).map { $0["action"] as? String ?? "-" } == ["edit", "edit", "accept"], "\(history)")
            let verification = try await app.request(.get, "/v1/leads/\(lead)/history/verification", token: token)
            #expect(verification.json?["intact"] as? Bool == true, "\(verification.text)")
            // The edits are stored, the last one kept.
            let region = try await app.fixtures.database.withTenant(hub.tenant.id) { transaction in
                try await transaction.connection.query("SELECT region FROM leads WHERE id = \(lead.rawValue)", logger: app.fixtures.database.logger)
                    .collect().first?.decode(String?.self)
            }
            #expect(region == "South")
        }
    }

    @Test("a partner's convert with a new opportunity, pushed, creates and links it and mirrors to the source as over HTTP")
    func pushedConvertMatchesHTTP() async throws {
        try await withTestApplication(configure: { $0.deliveryInterval = nil }) { app in
            let sourcing = try await app.fixtures.tenant(.sourcingCompany, name: "Source Co", users: [[.partnerUser]])
            let partner = try await app.fixtures.tenant(.partnerCompany, name: "Partner Co", users: [[.partnerUser]])
            var copies: [Lead.ID] = []
            for _ in 0..<2 {
                let created = try await app.request(.post, "/v1/leads", token: sourcing.users[0].token, json: PrivacyTests.leadBody())
                let lead = try #require(created.json?["id"] as? String)
                let referral = try await app.request(
                    .post, "/v1/leads/\(lead)/referrals", token: sourcing.users[0].token, json: #"{"partner_id":"\#(partner.tenant.id)"}"#)
                let copy = try #require(referral.json?["target_lead_id"] as? String)
                copies.append(Lead.ID(try #require(UUID(uuidString: copy))))
            }
            let token = partner.users[0].token
            for copy in copies { #expect(try await app.request(.post, "/v1/leads/\(copy)/actions/accept", token: token, json: "{}").status == .ok) }
            let converted = try await app.request(
                .post, "/v1/leads/\(copies[0])/actions/convert", token: token, json: #"{"create_opportunity":true}"#)
            #expect(converted.status == .ok, "\(converted.text)")
            let device = try await SyncTestDevice.register(app, as: partner.users[0])
            let pushed = try await device.push([Mutation(id: 1, leadId: copies[1], intent: .act(LeadAction("convert", .init(createOpportunity: true))))])
            #expect(pushed.results.map(\.outcome) == [.applied], "\(pushed.results)")
            let (overHTTP, overSync) = (try await Self.outcome(app, copies[0], token: token), try await Self.outcome(app, copies[1], token: token))
            #expect(overHTTP == overSync && overSync[0] == "closed_converted" && overSync[2] == "true", "HTTP \(overHTTP), push \(overSync)")
            let opportunities = try #require(try await app.request(.get, "/v1/opportunities", token: token).json?["items"] as? [[String: Any]])
            #expect(opportunities.count == 2)
            #expect(Set(opportunities.compactMap { $0["lead_id"] as? String }) == Set(copies.map(\.description)), "\(opportunities)")
            let referrals = try #require(try await app.request(.get, "/v1/referrals", token: sourcing.users[0].token).json?["items"] as? [[String: Any]])
            #expect(referrals.count == 2 && referrals.allSatisfy { $0["status"] as? String == "closed_converted" }, "\(referrals)")
            let notices = try await app.fixtures.database.withTenant(sourcing.tenant.id) { transaction in
                try await transaction.connection.query("SELECT event FROM outbox WHERE event LIKE 'referral.%' ORDER BY event", logger: app.fixtures.database.logger)
                    .collect().map { try $0.decode(String.self) }
            }
            #expect(notices.filter { $0 == "referral.convert" }.count == 2, "\(notices)")
        }
    }

    @Test("a push's first statement locks the leads it touches, whether or not the tenant edited a template, and reads the templates with them")
    func locksComeWithTemplates() async throws {
        try await withTestApplication { app in
            let hub = try await app.fixtures.tenant(.hub, users: [[.moderator]])
            let (lead, untouched) = (try await app.createLead(token: hub.users[0].token), try await app.createLead(token: hub.users[0].token))
            let database = app.fixtures.database
            let repository = PostgresWorkflowTemplateRepository(logger: database.logger)
            func tryLock(_ id: Lead.ID) async -> String? { await Self.tryLock(id, "FOR UPDATE", tenant: hub.tenant.id, in: database) }
            try await database.withTenant(hub.tenant.id) { transaction in
                let templates = try await repository.all(lockingLeads: [lead], in: transaction)
                #expect(templates.map(\.key) == BuiltInTemplates.all.map(\.key))
                // Meanwhile another transaction cannot lock the lead (55P03 lock_not_available), only the other one.
                #expect(await tryLock(lead) == "55P03")
                #expect(await tryLock(untouched) == nil)
            }
            // An edited template comes back as edited, with the locks as before.
            var edited = try #require(BuiltInTemplates.named("hub_moderation"))
            edited.name = "Moderation, our way"
            try await database.withTenant(hub.tenant.id) { transaction in
                _ = try await repository.save(edited, in: transaction)
            }
            try await database.withTenant(hub.tenant.id) { transaction in
                let templates = try await repository.all(lockingLeads: [lead, untouched], in: transaction)
                #expect(templates.first { $0.key == "hub_moderation" }?.name == "Moderation, our way")
                #expect(await tryLock(lead) == "55P03")
                #expect(await tryLock(untouched) == "55P03")
            }
            #expect(await tryLock(lead) == nil, "the locks end with the transaction")
        }
    }

    @Test("a batch shares the locks of leads it only adds notes to: another batch's notes on them go ahead, an edit or action on them waits, and the leads it changes stay locked for update")
    func notesShareTheirLeadsLocks() async throws {
        try await withTestApplication { app in
            let hub = try await app.fixtures.tenant(.hub, users: [[.moderator]])
            let noted = try await app.createLead(token: hub.users[0].token, name: "Noted")
            let edited = try await app.createLead(token: hub.users[0].token, name: "Edited")
            let database = app.fixtures.database
            let repository = PostgresLeadRepository(logger: database.logger)
            func tryLock(_ id: Lead.ID, _ strength: String) async -> String? {
                await Self.tryLock(id, strength, tenant: hub.tenant.id, in: database)
            }
            try await database.withTenant(hub.tenant.id) { transaction in
                let missing = Lead.ID()
                let leads = try await repository.lockMany(
                    [edited, missing, noted], shared: [noted], in: transaction)
                let expected = [noted, edited].sorted { $0.description < $1.description }
                #expect(leads.map(\.id) == expected, "the leads that exist, in id order")
                #expect(Set(leads.map(\.details.name)) == ["Noted", "Edited"])
                // Another batch adding notes to the shared lead goes ahead (55P03 is lock_not_available).
                #expect(await tryLock(noted, "FOR SHARE") == nil)
                // An edit or an action (an UPDATE takes FOR NO KEY UPDATE) waits for it.
                #expect(await tryLock(noted, "FOR NO KEY UPDATE") == "55P03")
                // The changed lead admits nobody, not even notes.
                #expect(await tryLock(edited, "FOR SHARE") == "55P03")
            }
            #expect(await tryLock(noted, "FOR UPDATE") == nil, "the locks end with the transaction")
            #expect(await tryLock(edited, "FOR UPDATE") == nil)
        }
    }

    @Test("a pull at the head answers nothing new in two statements and no transaction; the next change arrives at the next pull, the cursor unchanged until then")
    func pullAtTheHead() async throws {
        try await withTestApplication { app in
            let hub = try await app.fixtures.tenant(.hub, users: [[.moderator]])
            let token = hub.users[0].token
            _ = try await app.createLead(token: token, name: "First")
            let device = try await SyncTestDevice.register(app, as: hub.users[0])
            let (cursor, _, _) = try await device.snapshot()
            let escaped = cursor.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(.init(charactersIn: ".-"))) ?? cursor
            // The first request notes the device as seen; the one measured comes after it.
            _ = try await device.pull(cursor)
            let idle = try await app.request(.get, "/v1/sync/pull?cursor=\(escaped)", token: device.token)
            #expect(idle.status == .ok, "\(idle.text)")
            #expect(try Self.statements(idle) == 2, "the credential and where the device stands: \(idle.headers[.init("Server-Timing")!] ?? "")")
            let answer = try SyncTestDevice.recordDecoder.decode(PullResponse.self, from: Data(buffer: idle.body))
            #expect(answer.changes.isEmpty && answer.cursor == cursor && !answer.hasMore)

            let second = try await app.createLead(token: token, name: "Second")
            let after = try await device.pull(cursor)
            #expect(after.changes.ids(.lead) == [second.rawValue])
            #expect(after.cursor != cursor)
        }
    }

    @Test("the write path's statement counts the README states: a new lead at most 7, a referral to a partner of three people at most 17, a push of one action on the referred lead at most 13, the same action over HTTP at most 12")
    func writePathStatements() async throws {
        try await withTestApplication { app in
            let sourcing = try await app.fixtures.tenant(.sourcingCompany, name: "Source Co", users: [[.partnerUser]])
            let partner = try await app.fixtures.tenant(.partnerCompany, name: "Partner Co", users: [[.partnerUser], [.partnerUser]])
            let device = try await SyncTestDevice.register(app, as: partner.users[0])
            var copies: [Lead.ID] = []
            for _ in 0..<2 {
                let created = try await app.request(
                    .post, "/v1/leads", token: sourcing.users[0].token,
                    json: PrivacyTests.leadBody(consent: #"{"scope":"network","purpose":"referral","method":"written"}"#))
                let lead = try #require(created.json?["id"] as? String, "\(created.text)")
                let referral = try await app.request(
                    .post, "/v1/leads/\(lead)/referrals", token: sourcing.users[0].token, json: #"{"partner_id":"\#(partner.tenant.id)"}"#)
                #expect(referral.status == .created, "\(referral.text)")
                // The partner's admin and its two people are invited.
                let statements = try Self.statements(referral)
                #expect(statements <= 17, "a referral ran \(statements) statements")
                let copy = try #require(referral.json?["target_lead_id"] as? String)
                copies.append(Lead.ID(try #require(UUID(uuidString: copy))))
            }
            // The device's first request notes it as seen; the push measured comes after it.
            _ = try await device.push([Mutation(id: 1, leadId: copies[0], intent: .addNote(id: LeadNote.ID(), body: "seen"))])
            let push = try await device.pushRaw([Mutation(id: 2, leadId: copies[0], intent: .act(LeadAction("accept", .init())))])
            #expect(push.status == .ok && push.text.contains(#""outcome":"applied""#), "\(push.text)")
            let pushed = try Self.statements(push)
            #expect(pushed <= 13, "a push of one accept ran \(pushed) statements")

            let accept = try await app.request(.post, "/v1/leads/\(copies[1])/actions/accept", token: partner.users[0].token, json: "{}")
            #expect(accept.status == .ok, "\(accept.text)")
            let acted = try Self.statements(accept)
            #expect(acted <= 12, "an accept over HTTP ran \(acted) statements")
            // What the statements did: both referrals mirror their target's acceptance.
            let referrals = try #require(
                try await app.request(.get, "/v1/referrals", token: sourcing.users[0].token).json?["items"] as? [[String: Any]])
            #expect(referrals.count == 2 && referrals.allSatisfy { $0["status"] as? String == "accepted" }, "\(referrals)")
        }
    }
}
