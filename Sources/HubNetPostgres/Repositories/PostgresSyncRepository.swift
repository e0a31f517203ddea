import Foundation
import HubNetCore
import Logging
import PostgresNIO

/// One line of a device's mutation log: what the mutation said it was and what became of it.
public struct SyncMutationLogEntry: Sendable {
    public var id: Int64
    /// The name as sent (an unknown one too, for the log), and the lead, when it could be read.
    public var name: String
    public var leadID: UUID?
    /// The device's time, when it was a valid one.
    public var actedAt: Int64?
    public var outcome: MutationOutcome
    /// A digest of the mutation's content, to tell a replay from a different mutation under a used number.
    public var digest: Data?

    public init(id: Int64, name: String, leadID: UUID?, actedAt: Int64?, outcome: MutationOutcome, digest: Data? = nil) {
        self.id = id
        self.name = name
        self.leadID = leadID
        self.actedAt = actedAt
        self.outcome = outcome
        self.digest = digest
    }
}

/// The sync protocol's store: the tenant change log (written by triggers, read here), device
/// mutation outcomes, compaction horizons, the server epoch and the sync settings of a tenant.
/// Every method runs inside a tenant transaction of `Database.withTenant`.
public struct PostgresSyncRepository: Sendable {
    public let logger: Logger

    public init(logger: Logger) { self.logger = logger }

    /// One change as one user sees it. `payload` is the record's JSON text for upserts.
    public struct Change: Sendable {
        public var xid: UInt64
        public var seq: Int64
        public var entity: SyncEntity
        public var op: SyncOperation
        public var id: UUID
        public var leadID: UUID?
        /// The record's JSON as PostgreSQL sent it: bytes passed through to the device, never decoded.
        public var payload: ByteBuffer?
        /// The user sees the lead from this change on: send all of it.
        public var gained: Bool

        public init(
            xid: UInt64, seq: Int64, entity: SyncEntity, op: SyncOperation, id: UUID, leadID: UUID?, payload: ByteBuffer?, gained: Bool
        ) {
            self.xid = xid
            self.seq = seq
            self.entity = entity
            self.op = op
            self.id = id
            self.leadID = leadID
            self.payload = payload
            self.gained = gained
        }
    }

    /// The statements of every push and pull, kept parsed per connection (`PreparedStatementKey`).
    enum Prepared {
        enum LockDeviceForPush: PreparedStatementKey {}
        enum PullState: PreparedStatementKey {}
        enum RecordMutations: PreparedStatementKey {}
        enum ClearFailures: PreparedStatementKey {}
    }

    public func epoch(on connection: PostgresConnection) async throws -> UUID {
        for epoch in try await connection.rows("SELECT epoch FROM sync_epoch", logger: logger).decode(UUID.self) {
            return epoch
        }
        throw DomainError.notFound("sync epoch")
    }

    /// Replaces the epoch: every device resets on its next pull. Run after restoring a backup.
    public func renewEpoch(on connection: PostgresConnection) async throws -> UUID {
        for epoch in try await connection.rows(
            "UPDATE sync_epoch SET epoch = gen_random_uuid() RETURNING epoch", logger: logger
        ).decode(UUID.self) { return epoch }
        throw DomainError.notFound("sync epoch")
    }

    /// The tenant's last committed position (0 before its first change).
    public func head(in transaction: TenantTransaction) async throws -> Int64 {
        for seq in try await transaction.connection.rows(
            "SELECT seq FROM sync_heads WHERE tenant_id = \(transaction.tenant)", logger: logger
        ).decode(Int64.self) { return seq }
        return 0
    }

    /// Changes after position `after` that `user` sees, in commit order; at most `limit + 1` rows
    /// so the caller can tell whether more follow.
    public func changes(
        after: Int64, user: User.ID, wholeTenant: Bool, limit: Int, in transaction: TenantTransaction
    ) async throws -> [Change] {
        try await changes(after: after, user: user, wholeTenant: wholeTenant, limit: limit + 1, ofTransaction: nil, in: transaction)
    }

    /// The changes of one transaction after position `after` that `user` sees: a page never ends
    /// inside a transaction.
    public func rest(
        ofTransaction xid: UInt64, after: Int64, user: User.ID, wholeTenant: Bool,
        in transaction: TenantTransaction
    ) async throws -> [Change] {
        try await changes(after: after, user: user, wholeTenant: wholeTenant, limit: nil, ofTransaction: xid, in: transaction)
    }

    /// The one query behind both: what `user` sees of each change, in commit order.
    private func changes(
        after: Int64, user: User.ID, wholeTenant: Bool, limit: Int?, ofTransaction xid: UInt64?,
        in transaction: TenantTransaction
    ) async throws -> [Change] {
        let xid = xid.map(String.init)
        return try await Self.changes(
            transaction.connection.rows(
                """
                SELECT xid::TEXT::BIGINT, seq, entity, entity_id, lead_id,
                       CASE WHEN entity = 'view' THEN 'reset'
                            WHEN \(wholeTenant) OR \(user) = ANY(audience) THEN op
                            ELSE 'drop' END,
                       CASE WHEN \(wholeTenant) OR \(user) = ANY(audience) THEN payload END,
                       NOT \(wholeTenant) AND \(user) = ANY(gained)
                FROM sync_changes
                WHERE tenant_id = \(transaction.tenant) AND seq > \(after) AND (\(xid)::XID8 IS NULL OR xid = \(xid)::XID8)
                  AND ((entity = 'view' AND entity_id = \(user))
                       OR (entity <> 'view' AND (\(wholeTenant) OR \(user) = ANY(audience) OR \(user) = ANY(dropped))))
                ORDER BY seq
                LIMIT \(limit)
                """, logger: logger))
    }

    /// The rows of the changes query, each column read at its position with its concrete type
    /// (a pull page is up to 10,000 rows: reading them through the generic tuple decoder took a
    /// tenth of a pull's time in the server, profiled).
    static func changes(_ rows: PostgresRows) async throws -> [Change] {
        var changes: [Change] = []
        changes.reserveCapacity(rows.count)
        for row in rows {
            let r = row.makeRandomAccess()
            guard let entity = SyncEntity(rawValue: try r[2].decode(String.self)),
                let op = SyncOperation(rawValue: try r[5].decode(String.self))
            else { continue }
            changes.append(
                Change(
                    xid: UInt64(exactly: try r[0].decode(Int64.self)) ?? 0, seq: try r[1].decode(Int64.self), entity: entity, op: op,
                    id: try r[3].decode(UUID.self), leadID: try r[4].decode(UUID?.self), payload: try r[6].decode(ByteBuffer?.self),
                    gained: try r[7].decode(Bool.self)))
        }
        return changes
    }

    /// Notes and activities of leads a user has just gained, as (entity, id, lead, payload).
    public func leadParts(_ leads: [UUID], in transaction: TenantTransaction) async throws
        -> [(SyncEntity, UUID, UUID, ByteBuffer)]
    {
        guard !leads.isEmpty else { return [] }
        let rows = try await transaction.connection.rows(
            """
            SELECT 'note', n.id, n.lead_id, hubnet_sync_note(n)::TEXT FROM lead_notes n
            WHERE n.tenant_id = \(transaction.tenant) AND n.lead_id = ANY(\(leads))
            UNION ALL
            SELECT 'activity', a.id, a.lead_id, hubnet_sync_activity(a)::TEXT FROM lead_activities a
            WHERE a.tenant_id = \(transaction.tenant) AND a.lead_id = ANY(\(leads))
            """, logger: logger)
        var parts: [(SyncEntity, UUID, UUID, ByteBuffer)] = []
        for (entity, id, lead, payload) in try rows.decode((String, UUID, UUID, ByteBuffer).self) {
            parts.append((SyncEntity(rawValue: entity) ?? .note, id, lead, payload))
        }
        return parts
    }

    /// A page of the leads `user` sees now, by id after `after`, with their JSON and audience as
    /// stored by the lead's write trigger (migration 0010): read, not built.
    public func snapshotLeads(
        user: User.ID, wholeTenant: Bool, after: UUID?, limit: Int, in transaction: TenantTransaction
    ) async throws -> [(UUID, ByteBuffer)] {
        // One plain condition per case, so every page is a range scan of the primary key from
        // where the last one ended (an `IS NULL OR` would make each page scan and sort the tenant).
        let start = after ?? UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))
        let from = after == nil ? ">=" : ">"
        let rows =
            wholeTenant
            ? try await transaction.connection.rows(
                """
                SELECT l.id, l.sync_payload FROM leads l
                WHERE l.tenant_id = \(transaction.tenant) AND l.id \(unescaped: from) \(start) AND l.withdrawn_at IS NULL
                ORDER BY l.id LIMIT \(limit)
                """, logger: logger)
            : try await transaction.connection.rows(
                """
                SELECT l.id, l.sync_payload FROM leads l
                WHERE l.tenant_id = \(transaction.tenant) AND l.id \(unescaped: from) \(start) AND l.withdrawn_at IS NULL
                  AND \(user) = ANY(l.sync_audience)
                ORDER BY l.id LIMIT \(limit)
                """, logger: logger)
        var leads: [(UUID, ByteBuffer)] = []
        leads.reserveCapacity(rows.count)
        for row in rows {
            let r = row.makeRandomAccess()
            leads.append((try r[0].decode(UUID.self), try r[1].decode(ByteBuffer.self)))
        }
        return leads
    }

    /// The tenant's current referrals that `user` sees (the ones they made, or all for tenant-wide roles).
    public func snapshotReferrals(user: User.ID, wholeTenant: Bool, in transaction: TenantTransaction)
        async throws -> [(UUID, ByteBuffer)]
    {
        let rows = try await transaction.connection.rows(
            """
            SELECT r.id, hubnet_sync_referral(r)::TEXT FROM referrals r
            WHERE r.tenant_id = \(transaction.tenant) AND r.withdrawn_at IS NULL AND (\(wholeTenant) OR r.created_by = \(user))
            ORDER BY r.id
            """, logger: logger)
        var referrals: [(UUID, ByteBuffer)] = []
        for (id, payload) in try rows.decode((UUID, ByteBuffer).self) { referrals.append((id, payload)) }
        return referrals
    }

    /// Where compaction has cut the tenant's log, if it has.
    public func horizon(in transaction: TenantTransaction) async throws -> Int64? {
        for seq in try await transaction.connection.rows(
            "SELECT seq FROM sync_horizons WHERE tenant_id = \(transaction.tenant)", logger: logger
        ).decode(Int64.self) { return seq }
        return nil
    }

    /// Deletes the tenant's changes written before `before` and moves the horizon to the last one
    /// deleted. Returns how many were deleted.
    public func compact(before: Date, now: Date, in transaction: TenantTransaction) async throws -> Int {
        let rows = try await transaction.connection.rows(
            """
            WITH gone AS (
                DELETE FROM sync_changes
                WHERE tenant_id = \(transaction.tenant) AND created_at < \(before) AND seq IS NOT NULL
                RETURNING seq
            ), moved AS (
                INSERT INTO sync_horizons (tenant_id, seq, compacted_at)
                SELECT \(transaction.tenant), max(seq), \(now) FROM gone HAVING count(*) > 0
                ON CONFLICT (tenant_id) DO UPDATE SET seq = EXCLUDED.seq, compacted_at = EXCLUDED.compacted_at
                WHERE sync_horizons.seq < EXCLUDED.seq
            )
            SELECT count(*)::INTEGER FROM gone
            """, logger: logger)
        for count in try rows.decode(Int.self) { return count }
        return 0
    }

    // MARK: Devices' mutations

    /// Locks the device row for a push and returns its last mutation id; a device revoked meanwhile
    /// is `AccessEnded`.
    public func lockDevice(_ device: Device.ID, in transaction: TenantTransaction) async throws -> Int64? {
        try await lockDeviceForPush(device, in: transaction)?.lastMutationID
    }

    /// Locks the device row for a push and reads, in the same statement, its last mutation and the
    /// tenant's offline grace (seconds).
    /// - Returns: also whether the device has failed mutations on record (`failures` reads them; most pushes have none).
    public func lockDeviceForPush(_ device: Device.ID, in transaction: TenantTransaction) async throws
        -> (lastMutationID: Int64, offlineGrace: Int, hasFailures: Bool)?
    {
        let rows = try await transaction.connection.rows(
            """
            SELECT d.last_mutation_id, d.revoked_at IS NOT NULL,
                   COALESCE((SELECT s.offline_grace_seconds FROM tenant_settings s WHERE s.tenant_id = \(transaction.tenant)), 0),
                   EXISTS (SELECT 1 FROM sync_mutation_failures f WHERE f.tenant_id = d.tenant_id AND f.device_id = d.id)
            FROM devices d
            WHERE d.tenant_id = \(transaction.tenant) AND d.id = \(device) FOR UPDATE OF d
            """, preparedAs: Prepared.LockDeviceForPush.self, logger: logger)
        guard let (last, revoked, grace, hasFailures) = try rows.decode((Int64, Bool, Int, Bool).self).first else { return nil }
        if revoked { throw AccessEnded(.deviceRevoked, lastMutationID: last) }
        return (last, grace, hasFailures)
    }


    /// What a pull needs to know before reading changes, in one statement (one snapshot): the
    /// device's last stored mutation, the epoch, the tenant's head and its compaction horizon, and
    /// whether the device has erasure purges to acknowledge.
    public func pullState(device: Device.ID, in transaction: TenantTransaction) async throws
        -> (lastMutationID: Int64, epoch: UUID, head: Int64, horizon: Int64?, pendingPurges: Bool)
    {
        let rows = try await transaction.connection.rows(
            """
            SELECT (SELECT epoch FROM sync_epoch),
                   COALESCE((SELECT last_mutation_id FROM devices WHERE tenant_id = \(transaction.tenant) AND id = \(device)), 0),
                   COALESCE((SELECT seq FROM sync_heads WHERE tenant_id = \(transaction.tenant)), 0),
                   (SELECT seq FROM sync_horizons WHERE tenant_id = \(transaction.tenant)),
                   EXISTS (SELECT 1 FROM erasure_devices
                           WHERE tenant_id = \(transaction.tenant) AND device_id = \(device) AND acknowledged_at IS NULL)
            """, logger: logger)
        for (epoch, last, head, horizon, purges) in try rows.decode((UUID?, Int64, Int64, Int64?, Bool).self) {
            guard let epoch else { break }
            return (last, epoch, head, horizon, purges)
        }
        throw DomainError.notFound("sync epoch")
    }

    /// `pullState` in one statement outside any transaction: `hubnet_sync_pull_state` enters the
    /// tenant for itself (run it with `Database.withSingleStatement`).
    public func pullStateOnItsOwn(device: Device.ID, tenant: Tenant.ID, on connection: PostgresConnection) async throws
        -> (lastMutationID: Int64, epoch: UUID, head: Int64, horizon: Int64?, pendingPurges: Bool)
    {
        let rows = try await connection.rows(
            """
            SELECT state_epoch, state_last_mutation, state_head, state_horizon, state_purges
            FROM hubnet_sync_pull_state(\(tenant), \(device))
            """, preparedAs: Prepared.PullState.self, logger: logger)
        for (epoch, last, head, horizon, purges) in try rows.decode((UUID?, Int64, Int64, Int64?, Bool).self) {
            guard let epoch else { break }
            return (last, epoch, head, horizon, purges)
        }
        throw DomainError.notFound("sync epoch")
    }

    /// A pull from `cursor` acknowledges every purge the device received before it: the purge's
    /// change is at or below the cursor (or compacted away, which reset the device).
    public func acknowledgePurges(device: Device.ID, through cursor: Int64, now: Date, in transaction: TenantTransaction)
        async throws
    {
        try await transaction.connection.rows(
            """
            UPDATE erasure_devices AS e SET acknowledged_at = \(now)
            WHERE e.tenant_id = \(transaction.tenant) AND e.device_id = \(device) AND e.acknowledged_at IS NULL
              AND NOT EXISTS (SELECT 1 FROM sync_changes AS c
                              WHERE c.tenant_id = e.tenant_id AND c.id = e.change_id AND (c.seq IS NULL OR c.seq > \(cursor)))
            """, logger: logger)
    }

    public func lastMutationID(_ device: Device.ID, in transaction: TenantTransaction) async throws -> Int64 {
        let rows = try await transaction.connection.rows(
            "SELECT last_mutation_id FROM devices WHERE tenant_id = \(transaction.tenant) AND id = \(device)", logger: logger)
        for last in try rows.decode(Int64.self) { return last }
        return 0
    }

    public func setLastMutationID(_ id: Int64, device: Device.ID, in transaction: TenantTransaction) async throws {
        try await transaction.connection.rows(
            "UPDATE devices SET last_mutation_id = \(id) WHERE tenant_id = \(transaction.tenant) AND id = \(device)", logger: logger)
    }

    /// Stored outcomes of mutations `from...to` of a device (a replayed batch).
    public func outcomes(device: Device.ID, from: Int64, to: Int64, in transaction: TenantTransaction)
        async throws -> [MutationOutcome]
    {
        try await logged(device: device, from: from, to: to, in: transaction).map(\.outcome)
    }

    /// Stored mutations `from...to` of a device: what each was (its name and lead) and its outcome.
    public func logged(device: Device.ID, from: Int64, to: Int64, in transaction: TenantTransaction)
        async throws -> [(name: String, leadID: UUID?, digest: Data?, outcome: MutationOutcome)]
    {
        let rows = try await transaction.connection.rows(
            """
            SELECT mutation_id, name, entity_id, digest, outcome, code, reason, field, result::TEXT FROM sync_mutations
            WHERE tenant_id = \(transaction.tenant) AND device_id = \(device) AND mutation_id BETWEEN \(from) AND \(to)
            ORDER BY mutation_id
            """, logger: logger)
        var logged: [(name: String, leadID: UUID?, digest: Data?, outcome: MutationOutcome)] = []
        for (id, name, lead, digest, outcome, code, reason, field, result) in try rows.decode(
            (Int64, String, UUID?, Data?, String, String?, String?, String?, String?).self)
        {
            let conflicts = try result.map { try JSONDecoder().decode([FieldConflict].self, from: Data($0.utf8)) } ?? []
            logged.append(
                (
                    name, lead, digest,
                    MutationOutcome(
                        id: id, outcome: MutationOutcome.Outcome(rawValue: outcome) ?? .rejected, code: code, reason: reason, field: field,
                        conflicts: conflicts, replayed: true)
                ))
        }
        return logged
    }

    /// A name as the device log stores it (PostgreSQL text cannot hold U+0000).
    public static func storable(_ text: String) -> String {
        text.contains("\u{0}") ? text.replacingOccurrences(of: "\u{0}", with: "\u{FFFD}") : text
    }

    /// Records mutations' outcomes in the device's log, in the transaction of their effects, in one
    /// statement, and forgets the failures counted against them.
    /// - Parameter clearFailures: whether failures were counted against these mutations (their
    ///   counts end once the mutations have outcomes).
    /// - Parameter lastMutationID: when given, the device's last mutation moves up to it in the same statement.
    public func record(
        _ entries: [SyncMutationLogEntry], device: Device.ID, now: Date, clearFailures: Bool = true,
        lastMutationID: Int64? = nil, in transaction: TenantTransaction
    ) async throws {
        guard let last = entries.last?.id else {
            if let lastMutationID { try await setLastMutationID(lastMutationID, device: device, in: transaction) }
            return
        }
        let encoder = JSONEncoder()
        let ids = entries.map(\.id)
        // Texts may quote what a device sent; PostgreSQL text cannot hold U+0000, so it is stored as U+FFFD.
        let storable = Self.storable
        let names = entries.map { storable($0.name) }
        // Arrays of optionals do not bind: the nil UUID, -1 and '' stand for none.
        let leads = entries.map { $0.leadID ?? UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)) }
        let acted = entries.map { $0.actedAt ?? Int64.min }
        let results = entries.map(\.outcome.outcome.rawValue)
        let codes = entries.map { storable($0.outcome.code ?? "") }
        let reasons = entries.map { storable($0.outcome.reason ?? "") }
        let fields = entries.map { storable($0.outcome.field ?? "") }
        // Arrays of bytes do not bind either: hex text, '' for none.
        let digests = entries.map { $0.digest.map { Hex.lowercase($0) } ?? "" }
        let conflicts = try entries.map {
            $0.outcome.conflicts.isEmpty
                ? "" : String(decoding: try encoder.encode($0.outcome.conflicts), as: UTF8.self).replacingOccurrences(of: "\\u0000", with: "\\ufffd")
        }
        let moveTo = lastMutationID ?? -1
        try await transaction.connection.rows(
            """
            WITH moved AS (
                UPDATE devices SET last_mutation_id = \(moveTo)
                WHERE tenant_id = \(transaction.tenant) AND id = \(device) AND last_mutation_id < \(moveTo)
            )
            INSERT INTO sync_mutations (tenant_id, device_id, mutation_id, name, entity_id, acted_at, received_at, outcome, code, reason,
                                        field, result, digest)
            SELECT \(transaction.tenant), \(device), m.id, m.name, NULLIF(m.lead, '00000000-0000-0000-0000-000000000000'::UUID),
                   CASE WHEN m.acted = \(Int64.min) THEN NULL ELSE hubnet_from_micros(m.acted) END,
                   \(now), m.outcome, NULLIF(m.code, ''), NULLIF(m.reason, ''), NULLIF(m.field, ''), NULLIF(m.result, '')::JSONB,
                   NULLIF(decode(m.digest, 'hex'), ''::BYTEA)
            FROM unnest(\(ids)::BIGINT[], \(names)::TEXT[], \(leads)::UUID[], \(acted)::BIGINT[], \(results)::TEXT[], \(codes)::TEXT[],
                        \(reasons)::TEXT[], \(fields)::TEXT[], \(conflicts)::TEXT[], \(digests)::TEXT[])
                 AS m(id, name, lead, acted, outcome, code, reason, field, result, digest)
            """, preparedAs: Prepared.RecordMutations.self, logger: logger)
        guard clearFailures else { return }
        try await transaction.connection.rows(
            """
            DELETE FROM sync_mutation_failures
            WHERE tenant_id = \(transaction.tenant) AND device_id = \(device) AND mutation_id <= \(last)
            """, preparedAs: Prepared.ClearFailures.self, logger: logger)
    }

    /// The failures counted against a device's mutations from `from` on.
    public func failures(device: Device.ID, from: Int64, in transaction: TenantTransaction) async throws
        -> [Int64: (attempts: Int, errorID: UUID)]
    {
        let rows = try await transaction.connection.rows(
            """
            SELECT mutation_id, attempts, error_id FROM sync_mutation_failures
            WHERE tenant_id = \(transaction.tenant) AND device_id = \(device) AND mutation_id >= \(from)
            """, logger: logger)
        var failures: [Int64: (attempts: Int, errorID: UUID)] = [:]
        for (id, attempts, errorID) in try rows.decode((Int64, Int, UUID).self) { failures[id] = (attempts, errorID) }
        return failures
    }

    /// Counts one more failed push of a mutation; returns how many there have been in a row.
    public func recordFailure(
        mutation: Int64, device: Device.ID, errorID: UUID, now: Date, in transaction: TenantTransaction
    ) async throws -> Int {
        let rows = try await transaction.connection.rows(
            """
            INSERT INTO sync_mutation_failures (tenant_id, device_id, mutation_id, attempts, error_id, last_failed_at)
            VALUES (\(transaction.tenant), \(device), \(mutation), 1, \(errorID), \(now))
            ON CONFLICT ON CONSTRAINT sync_mutation_failures_pkey DO UPDATE
            SET attempts = sync_mutation_failures.attempts + 1, error_id = EXCLUDED.error_id, last_failed_at = EXCLUDED.last_failed_at
            RETURNING attempts
            """, logger: logger)
        return try rows.decode(Int.self).first ?? 1
    }

    // MARK: Settings

    public func offlineGrace(in transaction: TenantTransaction) async throws -> Int {
        let rows = try await transaction.connection.rows(
            "SELECT offline_grace_seconds FROM tenant_settings WHERE tenant_id = \(transaction.tenant)", logger: logger)
        for seconds in try rows.decode(Int.self) { return seconds }
        return 0
    }

    public func setOfflineGrace(_ seconds: Int, in transaction: TenantTransaction) async throws {
        guard (0...Self.maximumOfflineGrace).contains(seconds) else {
            throw DomainError.invalid("offline_grace_seconds", "must be from 0 to \(Self.maximumOfflineGrace) (7 days)")
        }
        try await transaction.connection.rows(
            """
            INSERT INTO tenant_settings (tenant_id, offline_grace_seconds) VALUES (\(transaction.tenant), \(seconds))
            ON CONFLICT (tenant_id) DO UPDATE SET offline_grace_seconds = EXCLUDED.offline_grace_seconds
            """, logger: logger)
    }

    /// The bound on how late an offline action may count: a device clock is never trusted further.
    public static let maximumOfflineGrace = 604_800
}
