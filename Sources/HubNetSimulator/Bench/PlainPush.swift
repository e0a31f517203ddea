import Foundation
import HubNetCore
import HubNetPostgres
import PostgresNIO

/// The push workload written by hand in SQL on the same database and role, for reference: per batch
/// one transaction that locks the batch's leads in id order, stores the notes and region edits,
/// logs every mutation in the device's log and moves the device's count on — what HubNet's push
/// does, without its rules. `rowByRow` sends a statement per row; otherwise a statement per kind
/// of row (the floor).
struct PlainPush: Sendable {
    let tenant: Tenant.ID
    let leads: [Lead.ID]
    let database: Database
    let mutationsPerDevice: Int
    let batch: Int

    /// Runs every device at once, each sending `mutationsPerDevice` mutations numbered from
    /// `firstID`; returns the seconds it took.
    func run(devices: [(device: Device.ID, user: User.ID)], rowByRow: Bool, seed: UInt64, firstID: Int64) async throws -> Double {
        let start = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (index, device) in devices.enumerated() {
                group.addTask {
                    var generator = SplitMix64(seed: seed + UInt64(index))
                    var next = firstID
                    let last = firstID + Int64(mutationsPerDevice) - 1
                    while next <= last {
                        let size = min(batch, Int(last - next + 1))
                        let ids = (0..<size).map { next + Int64($0) }
                        let targets = ids.map { _ in leads[Int(generator.next() % UInt64(leads.count))].rawValue }
                        try await writeBatch(ids: ids, targets: targets, device: device, rowByRow: rowByRow)
                        next += Int64(size)
                    }
                }
            }
            try await group.waitForAll()
        }
        return (ContinuousClock.now - start).seconds
    }

    private func writeBatch(ids: [Int64], targets: [UUID], device: (device: Device.ID, user: User.ID), rowByRow: Bool) async throws {
        let edits = ids.indices.filter { ids[$0] % 5 == 0 }
        let notes = ids.indices.filter { ids[$0] % 5 != 0 }
        let logger = database.logger
        while true {
            do {
                try await database.withTenant(tenant) { transaction in
                    try await transaction.connection.rows(
                        "SELECT id FROM leads WHERE tenant_id = \(tenant) AND id = ANY(\(Array(Set(targets)))) ORDER BY id FOR UPDATE",
                        logger: logger)
                    if rowByRow {
                        for index in ids.indices {
                            if ids[index] % 5 == 0 {
                                try await transaction.connection.rows(
                                    """
                                    UPDATE leads SET region = \("R\(ids[index])"), version = version + 1
                                    WHERE tenant_id = \(tenant) AND id = \(targets[index])
                                    """, logger: logger)
                            } else {
                                try await transaction.connection.rows(
                                    """
                                    INSERT INTO lead_notes (tenant_id, id, lead_id, author_id, body, created_at)
                                    VALUES (\(tenant), \(UUID()), \(targets[index]), \(device.user), 'plain note', now())
                                    """, logger: logger)
                            }
                            try await transaction.connection.rows(
                                """
                                INSERT INTO sync_mutations (tenant_id, device_id, mutation_id, name, entity_id, received_at, outcome)
                                VALUES (\(tenant), \(device.device), \(ids[index]), 'note.add', \(targets[index]), now(), 'applied')
                                """, logger: logger)
                        }
                    } else {
                        try await transaction.connection.rows(
                            """
                            INSERT INTO lead_notes (tenant_id, id, lead_id, author_id, body, created_at)
                            SELECT \(tenant), gen_random_uuid(), t, \(device.user), 'plain note', now()
                            FROM unnest(\(notes.map { targets[$0] })::UUID[]) AS t
                            """, logger: logger)
                        try await transaction.connection.rows(
                            """
                            UPDATE leads AS l SET region = e.region, version = l.version + 1
                            FROM unnest(\(edits.map { targets[$0] })::UUID[], \(edits.map { "R\(ids[$0])" })::TEXT[]) AS e(id, region)
                            WHERE l.tenant_id = \(tenant) AND l.id = e.id
                            """, logger: logger)
                        try await transaction.connection.rows(
                            """
                            INSERT INTO sync_mutations (tenant_id, device_id, mutation_id, name, entity_id, received_at, outcome)
                            SELECT \(tenant), \(device.device), m.id, 'note.add', m.lead, now(), 'applied'
                            FROM unnest(\(ids)::BIGINT[], \(targets)::UUID[]) AS m(id, lead)
                            """, logger: logger)
                    }
                    try await transaction.connection.rows(
                        "UPDATE devices SET last_mutation_id = \(ids[ids.count - 1]) WHERE tenant_id = \(tenant) AND id = \(device.device)",
                        logger: logger)
                }
                return
            } catch let error as PSQLError where ["40P01", "40001"].contains(error.serverInfo?[.sqlState] ?? "") {
                continue
            }
        }
    }
}
