import Foundation
import HubNetCore
@testable import HubNetPostgres
import HubNetTestSupport
import Logging
import PostgresNIO
import Testing

/// A target's actions on referred copies are mirrored into their source's referral rows, one
/// statement per source and batch (`PostgresReferralRepository.mirrorMany`). What that statement
/// reads must follow the batch, not the number of referrals the source has ever made: a pooled
/// connection keeps one generic plan for it for its whole life.
@Suite("Referral mirror plans")
struct ReferralMirrorPlanTests {
    let logger = Logger(label: "test")

    @Test("a batch's mirror reads the referrals it names, not all of its source's 3,000 (plans kept generic, as on a pooled connection), and updates exactly those")
    func mirrorReadsTheReferralsItNames() async throws {
        try await withTestDatabase { database in
            try await withPostgresClient(database.serverURL, logger: logger) { client in
                let store = Database(client: client, logger: logger)
                let fixtures = Fixtures(database: store)
                let source = try await fixtures.tenant(.hub)
                let target = try await fixtures.tenant(.hub)
                let sourceID = source.tenant.id
                let lead = UUID()
                // The source's history: one lead referred 3,000 times, its statistics up to date.
                let named = try await withPostgresClient(database.ownerURL, logger: logger) { owner in
                    try await owner.withConnection { connection -> [UUID] in
                        try await connection.rows(
                            """
                            INSERT INTO leads (tenant_id, id, template_key, status, source, contact_name)
                            VALUES (\(sourceID), \(lead), 'hub_moderation', 'new', 'manual', 'Ada Source')
                            """, logger: logger)
                        try await connection.rows(
                            """
                            INSERT INTO referrals (tenant_id, id, source_lead_id, target_tenant_id, target_lead_id, target_kind, created_by,
                                created_at, status, status_name, life_cycle)
                            SELECT \(sourceID), gen_random_uuid(), \(lead), \(target.tenant.id), gen_random_uuid(), 'partner',
                                \(source.admin.user.id), now(), 'new', 'New', 'pending'
                            FROM generate_series(1, 3000)
                            """, logger: logger)
                        try await connection.rows("ANALYZE referrals", logger: logger)
                        return try await connection.rows(
                            "SELECT id FROM referrals WHERE tenant_id = \(sourceID) ORDER BY id LIMIT 2", logger: logger
                        ).decode(UUID.self)
                    }
                }
                try #require(named.count == 2)
                let mirrored = [
                    PostgresReferralRepository.MirrorRow(
                        id: named[0], status: "contacted", status_name: "Contacted", life_cycle: "open", stage: nil,
                        last_action_at: 1_800_000_000_000_000, accepted_at: nil, declined_at: nil, completed_at: nil, reason: nil,
                        accepting: false),
                    PostgresReferralRepository.MirrorRow(
                        id: named[1], status: "accepted", status_name: "Accepted", life_cycle: "open", stage: nil,
                        last_action_at: 1_800_000_000_000_000, accepted_at: 1_800_000_000_000_000, declined_at: nil, completed_at: nil,
                        reason: nil, accepting: true),
                ]
                // In the target's transaction, visiting the source, as a batch mirrors.
                let (read, answered) = try await store.withTenant(target.tenant.id) { transaction in
                    // Generic from the first execution: the plan a long-lived pooled connection keeps.
                    try await transaction.connection.rows("SET LOCAL plan_cache_mode = force_generic_plan", logger: logger)
                    return try await transaction.visiting(sourceID) { there -> (Int, [(UUID?, String?, String?, String?, Int)]) in
                        let before = try await there.connection.rowsRead(of: "referrals", logger: logger)
                        let rows = try await there.connection.rows(
                            try PostgresReferralRepository.mirrorMany(mirrored, source: sourceID, home: target.tenant.id), logger: logger
                        ).decode((UUID?, String?, String?, String?, Int).self)
                        return (try await there.connection.rowsRead(of: "referrals", logger: logger) - before, rows)
                    }
                }
                // Two referrals named: each looked up for the pool check and for the update, and
                // the update's own reads; nothing near the source's 3,000.
                #expect(read <= 12, "the mirror of 2 referrals read \(read) rows of referrals")
                // Both answered, with what their notices need; none came from a pool.
                #expect(Set(answered.compactMap(\.0)) == Set(named))
                #expect(answered.allSatisfy { $0.1 == source.admin.user.email && $0.2 == target.tenant.name && $0.3 == "Ada Source" })
                #expect(answered.allSatisfy { $0.4 == 0 })
                // Exactly the two named rows changed, each to its own status.
                let statuses = try await withPostgresClient(database.ownerURL, logger: logger) { owner in
                    try await owner.query(
                        "SELECT status, count(*)::BIGINT FROM referrals WHERE tenant_id = \(sourceID) GROUP BY status ORDER BY status",
                        logger: logger
                    ).collect().map { try $0.decode((String, Int).self) }
                }
                #expect(statuses.map(\.0) == ["accepted", "contacted", "new"])
                #expect(statuses.map(\.1) == [1, 1, 2998])
            }
        }
    }
}
