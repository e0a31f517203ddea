import Foundation
import HubNetCore
import HubNetPostgres
import HubNetTestSupport
import Logging
import PostgresNIO
import Testing

/// The change log's seal (`hubnet_sync_seal`, run at each commit that wrote changes) numbers the
/// transaction's own changes; what it costs must not grow with the tenant's log.
@Suite("Change log seal")
struct ChangeLogSealTests {
    let logger = Logger(label: "test")

    @Test("a commit's seal reads its own changes, not the tenant's log (plans kept generic, as on a long-lived connection)")
    func sealIsBoundedByTheTransaction() async throws {
        try await withTestDatabase { database in
            let tenant = try await withPostgresClient(database.serverURL, logger: logger) { client in
                try await Fixtures(database: Database(client: client, logger: logger)).tenant(.hub).tenant.id
            }
            try await withPostgresClient(database.ownerURL, logger: logger) { client in
                try await client.withConnection { connection in
                    // A session's plans for the seal are made once and kept: make them generic from
                    // the first commit, while the log is still small, as a server's pooled
                    // connection would have made them early in its life.
                    try await connection.rows("SET plan_cache_mode = force_generic_plan", logger: logger)
                    func commitChanges(_ count: Int) async throws -> (read: Int, positions: [Int]) {
                        try await connection.rows("BEGIN", logger: logger)
                        try await connection.rows(
                            "SELECT set_config('hubnet.tenant_id', \(tenant.description), true)", logger: logger)
                        try await connection.rows(
                            """
                            INSERT INTO sync_changes (tenant_id, entity, entity_id, op)
                            SELECT \(tenant), 'lead', gen_random_uuid(), 'upsert' FROM generate_series(1, \(count))
                            """, logger: logger)
                        let before = try await connection.rowsRead(of: "sync_changes", logger: logger)
                        // Runs the deferred seal now, inside the transaction, so its reads can be counted.
                        try await connection.rows("SET CONSTRAINTS ALL IMMEDIATE", logger: logger)
                        let read = try await connection.rowsRead(of: "sync_changes", logger: logger) - before
                        let positions = try await connection.rows(
                            "SELECT seq FROM sync_changes WHERE xid = pg_current_xact_id() ORDER BY id", logger: logger
                        ).decode(Int.self)
                        try await connection.rows("COMMIT", logger: logger)
                        return (read, positions)
                    }
                    // Early commits, while the log is small, fix the session's plans.
                    for _ in 0..<6 { _ = try await commitChanges(1) }
                    _ = try await commitChanges(3000)
                    let small = try await commitChanges(1)
                    let three = try await commitChanges(3)
                    // Positions follow on from the head, in id order, with no gap.
                    #expect(small.positions == [3007])
                    #expect(three.positions == [3008, 3009, 3010])
                    let head = try await connection.rows(
                        "SELECT seq FROM sync_heads WHERE tenant_id = \(tenant)", logger: logger
                    ).decode(Int.self)
                    #expect(head == [3010])
                    // Finding the transaction's rows and updating them: a few reads per change,
                    // whatever the tenant's 3,010 changes (the seal of 0006 read ~3,000² rows here).
                    #expect(small.read <= 8, "the seal of one change read \(small.read) rows of sync_changes")
                    #expect(three.read <= 16, "the seal of three changes read \(three.read) rows of sync_changes")
                }
            }
        }
    }

    @Test("the seal is queued once per transaction, not once per change row, and a savepoint rolled back with the first change row still leaves every later change sealed at commit")
    func sealQueuedOncePerTransaction() async throws {
        try await withTestDatabase { database in
            let tenant = try await withPostgresClient(database.serverURL, logger: logger) { client in
                try await Fixtures(database: Database(client: client, logger: logger)).tenant(.hub).tenant.id
            }
            try await withPostgresClient(database.ownerURL, logger: logger) { client in
                try await client.withConnection { connection in
                    // Counts this session's calls of each function (the test cluster's owner may set it).
                    try await connection.rows("SET track_functions = 'all'", logger: logger)
                    func enter() async throws {
                        try await connection.rows("BEGIN", logger: logger)
                        try await connection.rows("SELECT set_config('hubnet.tenant_id', \(tenant.description), true)", logger: logger)
                    }
                    func insert(_ count: Int) async throws {
                        try await connection.rows(
                            """
                            INSERT INTO sync_changes (tenant_id, entity, entity_id, op)
                            SELECT \(tenant), 'lead', gen_random_uuid(), 'upsert' FROM generate_series(1, \(count))
                            """, logger: logger)
                    }
                    // 200 change rows in two statements: the seal runs once.
                    try await enter()
                    try await insert(120)
                    try await insert(80)
                    try await connection.rows("SET CONSTRAINTS ALL IMMEDIATE", logger: logger)
                    let calls = try await connection.rows(
                        "SELECT calls::BIGINT FROM pg_stat_xact_user_functions WHERE funcname = 'hubnet_sync_seal'", logger: logger
                    ).decode(Int.self)
                    let unsealed = try await connection.rows(
                        "SELECT count(*)::BIGINT FROM sync_changes WHERE xid = pg_current_xact_id() AND seq IS NULL", logger: logger
                    ).decode(Int.self)
                    try await connection.rows("COMMIT", logger: logger)
                    #expect(calls == [1], "the seal was called \(calls) times for 200 change rows")
                    #expect(unsealed == [0])

                    // The first change row's savepoint rolled back takes its queued seal with it;
                    // the rows after it queue the seal again and are numbered at commit.
                    try await enter()
                    try await connection.rows("SAVEPOINT first", logger: logger)
                    try await insert(1)
                    try await connection.rows("ROLLBACK TO SAVEPOINT first", logger: logger)
                    try await insert(5)
                    let xid = try #require(
                        try await connection.rows("SELECT pg_current_xact_id()::TEXT", logger: logger).decode(String.self).first)
                    try await connection.rows("COMMIT", logger: logger)
                    let positions = try await connection.rows(
                        "SELECT seq FROM sync_changes WHERE xid = \(xid)::XID8 ORDER BY id", logger: logger
                    ).decode(Int?.self)
                    #expect(positions == [201, 202, 203, 204, 205])
                    let head = try await connection.rows("SELECT seq FROM sync_heads WHERE tenant_id = \(tenant)", logger: logger).decode(Int.self)
                    #expect(head == [205])
                }
            }
        }
    }
}
