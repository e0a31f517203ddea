import Foundation
import HubNetCore
@testable import HubNetPostgres
import HubNetTestSupport
import Logging
import PostgresNIO
import Testing

/// The set-based writes of a batch — workflow actions (`applyActions`), field edits (`applyEdits`)
/// and a reminder pass's outcomes (`recordReminders`) — join their rows to `leads`. What they read
/// must follow the batch, not the number of leads the tenant has ever had: the write path runs on
/// generic plans (`Database.withTenant(genericPlans:)`), and a generic plan that estimated the
/// tenant's leads at a handful read all of them for each batch (the scale simulation's hubs have
/// thousands; `hubnet bench api` measured 14.5 ms a group of actions on a hub of 5,000 leads). A
/// delivery pass's record of its attempts (`PostgresOutboxRepository.record`) is the same case on
/// the outbox, which keeps every message.
@Suite("Batch write plans")
struct BatchWritePlanTests {
    let logger = Logger(label: "test")

    @Test("a batch's actions, edits and reminders read the leads they name, not all of the tenant's 3,000 (plans generic), and change exactly those")
    func batchWritesReadTheLeadsTheyName() async throws {
        try await withTestDatabase { database in
            try await withPostgresClient(database.serverURL, logger: logger) { client in
                let store = Database(client: client, logger: logger)
                let hub = try await Fixtures(database: store).tenant(.hub, users: [[.moderator]])
                let tenant = hub.tenant.id
                let moderator = hub.users[0].user
                // The tenant's history: 3,000 new leads.
                let named = try await withPostgresClient(database.ownerURL, logger: logger) { owner in
                    try await owner.withConnection { connection -> [UUID] in
                        try await connection.rows(
                            """
                            INSERT INTO leads (tenant_id, id, template_key, status, source, contact_name, contact_email, region, created_by)
                            SELECT \(tenant), gen_random_uuid(), 'hub_moderation', 'new', 'manual', 'Lead ' || n, 'lead' || n || '@example.test', 'North',
                                \(moderator.id)
                            FROM generate_series(1, 3000) AS n
                            """, logger: logger)
                        // As in a network where most organisations hold fewer leads than this hub: a
                        // generic plan expects a tenant to hold 100 (3,000 over 30 organisations).
                        try await connection.rows("ALTER TABLE leads ALTER COLUMN tenant_id SET (n_distinct = 30)", logger: logger)
                        try await connection.rows("ANALYZE leads", logger: logger)
                        return try await connection.rows(
                            "SELECT id FROM leads WHERE tenant_id = \(tenant) ORDER BY id LIMIT 3", logger: logger
                        ).decode(UUID.self)
                    }
                }
                try #require(named.count == 3)
                let (acted, edited, reminded) = (Lead.ID(named[0]), Lead.ID(named[1]), Lead.ID(named[2]))
                let caller = AuthenticatedUser(userID: moderator.id, tenantID: tenant, tenantKind: .hub, roles: moderator.roles)
                let leads = PostgresLeadRepository(logger: logger)
                let templates = PostgresWorkflowTemplateRepository(logger: logger)
                let reads = try await store.withTenant(tenant) { transaction -> [String: Int] in
                    // Generic from the first execution: the plan a long-lived pooled connection keeps.
                    try await transaction.connection.rows("SET LOCAL plan_cache_mode = force_generic_plan", logger: logger)
                    let touched = [acted, edited]
                    let all = try await templates.all(lockingLeads: touched, in: transaction)
                    let (locked, lastEntries) = try await leads.readLocked(touched, in: transaction)
                    try #require(locked.count == 2)
                    var batch = LeadBatch(caller: caller, leads: locked, templates: all, lastEntries: lastEntries, now: Date())
                    let action = batch.decide(.act(LeadAction("contact")), on: acted, position: 0)
                    let edit = batch.decide(
                        .update(LeadUpdate(changes: [LeadFieldEdit(field: .region, from: "North", to: "South")])), on: edited, position: 1)
                    #expect(action == .accepted(conflicts: []) && edit == .accepted(conflicts: []), "\(action), \(edit)")
                    try #require(batch.pendingActions.count == 1 && batch.pendingEdits.count == 1)
                    var reads: [String: Int] = [:]
                    func measured(_ name: String, _ write: () async throws -> Void) async throws {
                        let before = try await transaction.connection.rowsRead(of: "leads", logger: logger)
                        try await write()
                        reads[name] = try await transaction.connection.rowsRead(of: "leads", logger: logger) - before
                    }
                    try await measured("actions") { try await leads.applyActions(batch.pendingActions, in: transaction) }
                    try await measured("edits") {
                        try await leads.applyEdits(batch.pendingEdits, actor: moderator.id, at: Date(), in: transaction)
                    }
                    try await measured("reminders") {
                        try await leads.recordReminders(
                            [.init(reminded, reminded: true, next: Date(timeIntervalSince1970: 1_900_000_000))], at: Date(), in: transaction)
                    }
                    return reads
                }
                // Each statement reads its lead by key (and the triggers read it again); nothing near 3,000.
                for name in ["actions", "edits", "reminders"] {
                    let read = try #require(reads[name])
                    #expect(read <= 10, "\(name) of one lead read \(read) rows of leads")
                }
                // Exactly the named leads changed, each as its write said.
                let rows = try await withPostgresClient(database.ownerURL, logger: logger) { owner in
                    try await owner.query(
                        """
                        SELECT id, status, region, reminded_at IS NOT NULL, version FROM leads
                        WHERE tenant_id = \(tenant) AND (status <> 'new' OR region <> 'North' OR reminded_at IS NOT NULL OR version <> 1)
                        ORDER BY id
                        """, logger: logger
                    ).collect().map { try $0.decode((UUID, String, String, Bool, Int).self) }
                }
                #expect(rows.count == 3, "\(rows)")
                #expect(rows.first { $0.0 == acted.rawValue }.map { "\($0.1) \($0.2) \($0.3) \($0.4)" } == "contacted North false 2")
                #expect(rows.first { $0.0 == edited.rawValue }.map { "\($0.1) \($0.2) \($0.3) \($0.4)" } == "new South false 2")
                #expect(rows.first { $0.0 == reminded.rawValue }.map { "\($0.1) \($0.2) \($0.3) \($0.4)" } == "new North true 1")
            }
        }
    }

    @Test("a delivery pass records the attempts of the messages it names, not all of the tenant's 3,000 (plans generic), and changes exactly those")
    func deliveryRecordsTheMessagesItNames() async throws {
        try await withTestDatabase { database in
            try await withPostgresClient(database.serverURL, logger: logger) { client in
                let store = Database(client: client, logger: logger)
                let hub = try await Fixtures(database: store).tenant(.hub)
                let tenant = hub.tenant.id
                // The tenant's history: 3,000 messages, delivered long ago.
                let named = try await withPostgresClient(database.ownerURL, logger: logger) { owner in
                    try await owner.withConnection { connection -> [UUID] in
                        try await connection.rows(
                            """
                            INSERT INTO outbox (tenant_id, id, event, channel, recipient, body, created_at, next_attempt_at, attempts, delivered_at)
                            SELECT \(tenant), gen_random_uuid(), 'referral.accept', 'email', 'm' || n || '@example.test', 'Body ' || n,
                                now(), now(), 1, now()
                            FROM generate_series(1, 3000) AS n
                            """, logger: logger)
                        // A generic plan expects a tenant to hold 100 of them (3,000 over 30 organisations).
                        try await connection.rows("ALTER TABLE outbox ALTER COLUMN tenant_id SET (n_distinct = 30)", logger: logger)
                        try await connection.rows("ANALYZE outbox", logger: logger)
                        return try await connection.rows(
                            "SELECT id FROM outbox WHERE tenant_id = \(tenant) ORDER BY id LIMIT 2", logger: logger
                        ).decode(UUID.self)
                    }
                }
                try #require(named.count == 2)
                let now = Date()
                let attempts = named.enumerated().map { index, id in
                    PostgresOutboxRepository.Attempt(
                        OutboxMessage(
                            id: OutboxMessage.ID(id), tenantID: tenant, event: "referral.accept", channel: .email, recipient: "x@example.test",
                            webhookID: nil, subject: "", body: "", createdAt: now, attempts: 1),
                        delivered: index == 0, error: index == 0 ? nil : "refused", retryAt: index == 0 ? nil : now.addingTimeInterval(60))
                }
                let read = try await store.withTenant(tenant) { transaction -> Int in
                    try await transaction.connection.rows("SET LOCAL plan_cache_mode = force_generic_plan", logger: logger)
                    let before = try await transaction.connection.rowsRead(of: "outbox", logger: logger)
                    try await PostgresOutboxRepository(logger: logger).record(attempts, now: now, in: transaction)
                    return try await transaction.connection.rowsRead(of: "outbox", logger: logger) - before
                }
                #expect(read <= 6, "recording 2 attempts read \(read) rows of the outbox")
                // Exactly the two named messages took their attempt, each with its outcome logged.
                let changed = try await withPostgresClient(database.ownerURL, logger: logger) { owner in
                    try await owner.query(
                        """
                        SELECT o.id, o.attempts, o.last_error, d.outcome FROM outbox o
                        LEFT JOIN deliveries d ON d.tenant_id = o.tenant_id AND d.outbox_id = o.id
                        WHERE o.tenant_id = \(tenant) AND (o.attempts <> 1 OR d.id IS NOT NULL) ORDER BY o.attempts, o.id
                        """, logger: logger
                    ).collect().map { try $0.decode((UUID, Int, String?, String?).self) }
                }
                #expect(changed.count == 2, "\(changed)")
                #expect(changed.first { $0.0 == named[0] }.map { "\($0.1) \($0.2 ?? "-") \($0.3 ?? "-")" } == "2 - delivered")
                #expect(changed.first { $0.0 == named[1] }.map { "\($0.1) \($0.2 ?? "-") \($0.3 ?? "-")" } == "2 refused retrying")
            }
        }
    }
}
