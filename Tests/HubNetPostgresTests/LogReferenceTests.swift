import Foundation
import HubNetCore
import HubNetPostgres
import HubNetTestSupport
import Logging
import PostgresNIO
import Testing

/// The change log and the devices' mutation log check what their rows name once per statement
/// (migration 0029) instead of by foreign keys checked row by row: the same refusals, the same
/// cascade, at a fraction of the cost for a batch.
@Suite("Log references")
struct LogReferenceTests {
    let logger = Logger(label: "test")

    /// The SQLSTATE and message of a statement's failure, or `nil` when it succeeded.
    private func refusal(_ body: () async throws -> Void) async -> (state: String, message: String)? {
        do {
            try await body()
            return nil
        } catch let error as PSQLError {
            return (error.serverInfo?[.sqlState] ?? "?", error.serverInfo?[.message] ?? "")
        } catch {
            return ("not a PostgreSQL error: \(error)", "")
        }
    }

    private func count(_ sql: PostgresQuery, on connection: PostgresConnection) async throws -> Int {
        try #require(try await connection.rows(sql, logger: logger).decode(Int.self).first)
    }

    @Test("a change-log statement naming a tenant that does not exist is refused whole, as the foreign key refused it")
    func changeRowsNameTenants() async throws {
        try await withTestDatabase { database in
            let tenant = try await withPostgresClient(database.serverURL, logger: logger) { client in
                try await Fixtures(database: Database(client: client, logger: logger)).tenant(.hub).tenant.id
            }
            try await withPostgresClient(database.ownerURL, logger: logger) { client in
                try await client.withConnection { connection in
                    let before = try await count("SELECT count(*)::INTEGER FROM sync_changes WHERE tenant_id = \(tenant)", on: connection)
                    let missing = UUID()
                    let refused = await refusal {
                        try await connection.rows(
                            """
                            INSERT INTO sync_changes (tenant_id, entity, entity_id, op)
                            SELECT t, 'lead', gen_random_uuid(), 'upsert' FROM unnest(\([tenant.rawValue, missing, tenant.rawValue])::UUID[]) AS t
                            """, logger: logger)
                    }
                    #expect(refused?.state == "23503")
                    #expect(refused?.message.contains(UUIDText.lowercase(missing)) == true, "\(String(describing: refused))")
                    // Nothing of the statement stayed, its rows of the real tenant neither.
                    #expect(try await count("SELECT count(*)::INTEGER FROM sync_changes WHERE tenant_id = \(tenant)", on: connection) == before)
                    // The same statement naming only the real tenant is stored, every row.
                    try await connection.rows(
                        """
                        INSERT INTO sync_changes (tenant_id, entity, entity_id, op)
                        SELECT \(tenant), 'lead', gen_random_uuid(), 'upsert' FROM generate_series(1, 3)
                        """, logger: logger)
                    #expect(try await count("SELECT count(*)::INTEGER FROM sync_changes WHERE tenant_id = \(tenant)", on: connection) == before + 3)
                }
            }
        }
    }

    @Test("a device-log row naming a device of another tenant, or none, is refused; a device's own log is stored, and goes with the device")
    func deviceLogNamesDevices() async throws {
        try await withTestDatabase { database in
            let (mine, theirs, device, otherDevice) = try await withPostgresClient(database.serverURL, logger: logger) { client in
                let store = Database(client: client, logger: logger)
                let fixtures = Fixtures(database: store)
                let mine = try await fixtures.tenant(.hub, users: [[.moderator]])
                let theirs = try await fixtures.tenant(.hub, users: [[.moderator]])
                let devices = PostgresDeviceRepository(logger: logger)
                let device = try #require(
                    try await store.withTenant(mine.tenant.id) { try await devices.register(name: "phone", for: mine.users[0].user.id, in: $0) })
                let otherDevice = try #require(
                    try await store.withTenant(theirs.tenant.id) { try await devices.register(name: "phone", for: theirs.users[0].user.id, in: $0) })
                let sync = PostgresSyncRepository(logger: logger)
                // The push's own path: five mutations logged for the tenant's device.
                try await store.withTenant(mine.tenant.id) { transaction in
                    try await sync.record(
                        (1...5).map {
                            SyncMutationLogEntry(id: $0, name: "note.add", leadID: UUID(), actedAt: nil, outcome: MutationOutcome(id: $0, outcome: .applied))
                        }, device: device.0.id, now: Date(), lastMutationID: 5, in: transaction)
                }
                // Another tenant's device, named from this tenant: refused.
                let refused = await refusal {
                    try await store.withTenant(mine.tenant.id) { transaction in
                        try await sync.record(
                            [SyncMutationLogEntry(id: 1, name: "note.add", leadID: nil, actedAt: nil, outcome: MutationOutcome(id: 1, outcome: .applied))],
                            device: otherDevice.0.id, now: Date(), in: transaction)
                    }
                }
                #expect(refused?.state == "23503", "\(String(describing: refused))")
                let none = await refusal {
                    try await store.withTenant(mine.tenant.id) { transaction in
                        try await sync.record(
                            [SyncMutationLogEntry(id: 1, name: "note.add", leadID: nil, actedAt: nil, outcome: MutationOutcome(id: 1, outcome: .applied))],
                            device: Device.ID(), now: Date(), in: transaction)
                    }
                }
                #expect(none?.state == "23503", "\(String(describing: none))")
                try await store.withTenant(theirs.tenant.id) { transaction in
                    try await sync.record(
                        (1...2).map {
                            SyncMutationLogEntry(id: $0, name: "note.add", leadID: nil, actedAt: nil, outcome: MutationOutcome(id: $0, outcome: .applied))
                        }, device: otherDevice.0.id, now: Date(), in: transaction)
                }
                return (mine.tenant.id, theirs.tenant.id, device.0.id, otherDevice.0.id)
            }
            try await withPostgresClient(database.ownerURL, logger: logger) { client in
                try await client.withConnection { connection in
                    #expect(try await count("SELECT count(*)::INTEGER FROM sync_mutations WHERE tenant_id = \(mine)", on: connection) == 5)
                    #expect(try await count("SELECT count(*)::INTEGER FROM sync_mutations WHERE tenant_id = \(theirs)", on: connection) == 2)
                    // A device deleted takes its log with it, and only its own.
                    try await connection.rows("DELETE FROM devices WHERE tenant_id = \(mine) AND id = \(device)", logger: logger)
                    #expect(try await count("SELECT count(*)::INTEGER FROM sync_mutations WHERE tenant_id = \(mine)", on: connection) == 0)
                    #expect(
                        try await count(
                            "SELECT count(*)::INTEGER FROM sync_mutations WHERE tenant_id = \(theirs) AND device_id = \(otherDevice)", on: connection) == 2)
                }
            }
        }
    }

    @Test("a tenant with change-log rows cannot be deleted; one without can")
    func tenantsKeepTheirChanges() async throws {
        try await withTestDatabase { database in
            try await withPostgresClient(database.ownerURL, logger: logger) { client in
                try await client.withConnection { connection in
                    let (logged, bare) = (UUID(), UUID())
                    for id in [logged, bare] {
                        try await connection.rows(
                            "INSERT INTO tenants (id, kind, name, slug) VALUES (\(id), 'hub', 'Bare', \("bare-\(UUIDText.lowercase(id))"))", logger: logger)
                    }
                    try await connection.rows(
                        "INSERT INTO sync_changes (tenant_id, entity, entity_id, op) VALUES (\(logged), 'lead', gen_random_uuid(), 'upsert')",
                        logger: logger)
                    // What the server may have made for a new tenant besides its change rows goes first.
                    try await connection.rows("DELETE FROM sync_heads WHERE tenant_id = ANY(\([logged, bare]))", logger: logger)
                    let refused = await refusal {
                        try await connection.rows("DELETE FROM tenants WHERE id = \(logged)", logger: logger)
                    }
                    #expect(refused?.state == "23503")
                    #expect(refused?.message.contains("change-log rows") == true, "\(String(describing: refused))")
                    try await connection.rows("DELETE FROM tenants WHERE id = \(bare)", logger: logger)
                    #expect(try await count("SELECT count(*)::INTEGER FROM tenants WHERE id = ANY(\([logged, bare]))", on: connection) == 1)
                }
            }
        }
    }
}
