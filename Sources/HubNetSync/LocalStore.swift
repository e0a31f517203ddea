import Foundation
import GRDB
import HubNetCore

/// A device's SQLite store: the records as the server last said they are, the mutations not yet
/// acknowledged (in order, surviving restarts), the cursor and the cached workflow templates.
/// What the app sees is these records with the pending mutations applied on top (`SyncClient`).
public final class LocalStore: Sendable {
    /// The SQLite database, for the app's own read queries. Writing to its tables goes around the
    /// protocol: the invariant checker of `hubnet simulate` catches a store changed that way.
    public let queue: DatabaseQueue

    /// - Parameters:
    ///   - path: a file for a store that survives restarts; `nil` for one in memory.
    ///   - durable: `false` for a file that is scratch (a simulated device's): nothing is synced to
    ///     disk and the rollback journal stays in memory, so a crash of the process may leave the
    ///     file unusable. Without it, each commit waits for the disk.
    ///   - cacheKiB: SQLite's page cache for this store (its default is about 2,000 KiB); a process
    ///     holding hundreds of stores keeps it small.
    public init(path: String?, durable: Bool = true, cacheKiB: Int? = nil) throws {
        // Deleted records are overwritten, not left in free pages: an erased person's data must
        // not stay in the file (`SyncOperation.purge`).
        var configuration = Configuration()
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA secure_delete = ON")
            // A scratch store is this process's alone: it keeps its file lock from its first
            // transaction on, instead of taking and releasing it (and looking for a hot journal)
            // around each of them.
            if !durable { try db.execute(sql: "PRAGMA synchronous = OFF; PRAGMA journal_mode = MEMORY; PRAGMA locking_mode = EXCLUSIVE") }
            if let cacheKiB { try db.execute(sql: "PRAGMA cache_size = -\(max(64, cacheKiB))") }
        }
        queue = try path.map { try DatabaseQueue(path: $0, configuration: configuration) } ?? DatabaseQueue(configuration: configuration)
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE records (
                        entity TEXT NOT NULL, id TEXT NOT NULL, lead_id TEXT, version INTEGER NOT NULL, json BLOB NOT NULL,
                        PRIMARY KEY (entity, id));
                    CREATE INDEX records_lead_idx ON records (lead_id);
                    CREATE TABLE pending (id INTEGER PRIMARY KEY, json BLOB NOT NULL);
                    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
                    CREATE TABLE templates (key TEXT PRIMARY KEY, json BLOB NOT NULL);
                    """)
        }
        // Each queued mutation's lead, so a lead's view reads its own mutations, not the whole
        // queue (a device offline for days holds thousands). Rows from before are filled in here.
        migrator.registerMigration("v2: pending by lead") { db in
            try db.execute(sql: "ALTER TABLE pending ADD COLUMN lead_id TEXT")
            for row in try Row.fetchAll(db, sql: "SELECT id, json FROM pending") {
                let json: Data = row["json"]
                guard let lead = Self.leadID(inQueued: json) else { continue }
                try db.execute(sql: "UPDATE pending SET lead_id = ? WHERE id = ?", arguments: [lead, row["id"] as Int64])
            }
            try db.execute(sql: "CREATE INDEX pending_lead_idx ON pending (lead_id, id)")
        }
        // A lead's records found by their lead: the index on `lead_id` alone lost to the primary
        // key, so SQLite read every note (activity, referral) held to find one lead's (see
        // `recordsOfLead`). And each referral under the lead it was made from, so a lead's
        // referrals are found too instead of decoding every referral held (a sourcing company's
        // device holds one for each lead it ever referred); rows from before are filled in here.
        migrator.registerMigration("v3: records by lead and entity") { db in
            try db.execute(sql: "DROP INDEX records_lead_idx; \(Self.recordsLeadIndex)")
            for row in try Row.fetchAll(db, sql: "SELECT id, json FROM records WHERE entity = 'referral'") {
                let json: Data = row["json"]
                guard let lead = Self.sourceLead(ofReferral: json) else { continue }
                try db.execute(
                    sql: "UPDATE records SET lead_id = ? WHERE entity = 'referral' AND id = ?",
                    arguments: [UUIDText.lowercase(lead), row["id"] as String])
            }
        }
        try migrator.migrate(queue)
    }

    /// The lead a referral record was made from (`source_lead_id`), read from its JSON alone; `nil`
    /// for a referral made from no lead of this device, or a record this build cannot read.
    static func sourceLead(ofReferral json: Data) -> UUID? {
        struct Source: Decodable {
            var lead: UUID?
            enum CodingKeys: String, CodingKey { case lead = "source_lead_id" }
        }
        return (try? decoder.decode(Source.self, from: json))?.lead
    }

    /// The lead a queued mutation's wire JSON names (lowercase), read without decoding the
    /// mutation: a row this build cannot decode still has its lead.
    static func leadID(inQueued json: Data) -> String? {
        let object = try? JSONSerialization.jsonObject(with: json) as? [String: Any]
        return (object?["lead_id"] as? String)?.lowercased()
    }

    /// Queues one mutation's wire JSON under its number, with the lead it names.
    static func insertPending(id: Int64, json: Data, lead: String?, in db: Database) throws {
        try db.cachedStatement(sql: "INSERT INTO pending (id, json, lead_id) VALUES (?, ?, ?)").execute(arguments: [id, json, lead])
    }

    static let encoder = JSONEncoder()
    static let decoder = JSONDecoder()

    // MARK: Meta

    func meta(_ key: String) throws -> String? {
        try queue.read { db in try String.fetchOne(db.cachedStatement(sql: "SELECT value FROM meta WHERE key = ?"), arguments: [key]) }
    }

    func setMeta(_ key: String, _ value: String?, in db: Database) throws {
        if let value {
            try db.cachedStatement(sql: "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)").execute(arguments: [key, value])
        } else {
            try db.cachedStatement(sql: "DELETE FROM meta WHERE key = ?").execute(arguments: [key])
        }
    }

    func setMeta(_ key: String, _ value: String?) throws {
        try queue.write { db in try setMeta(key, value, in: db) }
    }

    // MARK: Records

    /// A lead's records of one kind, in order: found through `recordsLeadIndex` (a test checks
    /// SQLite's plan), not by reading every record of the kind.
    static let recordsOfLead = "SELECT json FROM records WHERE entity = ? AND lead_id = ? ORDER BY id"
    static let recordsLeadIndex = "CREATE INDEX records_lead_idx ON records (lead_id, entity, id);"

    func records<Record: Decodable>(_ entity: SyncEntity, as type: Record.Type, lead: UUID? = nil) throws -> [Record] {
        try queue.read { db in
            let rows: [Data]
            if let lead {
                rows = try Data.fetchAll(
                    db.cachedStatement(sql: Self.recordsOfLead),
                    arguments: [entity.rawValue, UUIDText.lowercase(lead)])
            } else {
                rows = try Data.fetchAll(db.cachedStatement(sql: "SELECT json FROM records WHERE entity = ? ORDER BY id"), arguments: [entity.rawValue])
            }
            return try rows.map { try Self.decoder.decode(Record.self, from: $0) }
        }
    }

    func record<Record: Decodable>(_ entity: SyncEntity, _ id: UUID, as type: Record.Type) throws -> Record? {
        try queue.read { db in
            try Data.fetchOne(
                db.cachedStatement(sql: "SELECT json FROM records WHERE entity = ? AND id = ?"), arguments: [entity.rawValue, UUIDText.lowercase(id)]
            ).map { try Self.decoder.decode(Record.self, from: $0) }
        }
    }

    func ids(_ entity: SyncEntity) throws -> Set<UUID> {
        try queue.read { db in
            Set(try String.fetchAll(db.cachedStatement(sql: "SELECT id FROM records WHERE entity = ?"), arguments: [entity.rawValue]).compactMap { UUIDText.parse($0) })
        }
    }

    /// Stores a record as the server sent it (its JSON bytes kept as they are, decoded when read)
    /// unless a newer or equal version is held. Returns whether it was stored.
    @discardableResult
    static func upsert(_ change: RawSyncChange, into table: String = "records", in db: Database) throws -> Bool {
        guard let json = change.data else { return false }
        // The lead the record belongs to: a lead's own id, a note's or an activity's lead, the lead
        // a referral was made from.
        let lead: UUID? =
            switch change.entity {
            case .lead: change.id
            case .note, .activity: change.leadId
            case .referral: sourceLead(ofReferral: Data(json))
            case .view: nil
            }
        try db.cachedStatement(
            sql: """
                INSERT INTO \(table) (entity, id, lead_id, version, json) VALUES (?, ?, ?, ?, ?)
                ON CONFLICT (entity, id) DO UPDATE SET version = excluded.version, json = excluded.json, lead_id = excluded.lead_id
                WHERE excluded.version > \(table).version
                """
        ).execute(arguments: [change.entity.rawValue, UUIDText.lowercase(change.id), lead.map(UUIDText.lowercase), change.version, Data(json)])
        return db.changesCount > 0
    }

    /// A snapshot arrives page by page into a staging table, which then becomes the records in one
    /// transaction (a rename, not a copy): memory holds one page, and the records never show half a
    /// snapshot.
    func beginSnapshot() throws {
        try queue.write { db in
            try db.execute(
                sql: """
                    DROP TABLE IF EXISTS incoming;
                    CREATE TABLE incoming (
                        entity TEXT NOT NULL, id TEXT NOT NULL, lead_id TEXT, version INTEGER NOT NULL, json BLOB NOT NULL,
                        PRIMARY KEY (entity, id));
                    """)
        }
    }

    func stageSnapshot(_ changes: [RawSyncChange]) async throws {
        try await queue.write { db in
            for change in changes where change.op == .upsert { try Self.upsert(change, into: "incoming", in: db) }
        }
    }

    /// Replaces the records with the staged snapshot and sets the cursor; returns the leads held
    /// before and not in the snapshot, and how many records it brought.
    func finishSnapshot(cursor: String) throws -> (dropped: [UUID], records: Int) {
        try queue.write { db in
            let dropped = try String.fetchAll(
                db,
                sql: """
                    SELECT id FROM records WHERE entity = 'lead'
                    AND id NOT IN (SELECT id FROM incoming WHERE entity = 'lead') ORDER BY id
                    """
            ).compactMap { UUIDText.parse($0) }
            let count = try Int.fetchOne(db, sql: "SELECT count(*) FROM incoming") ?? 0
            try db.execute(
                sql: """
                    DROP TABLE records;
                    ALTER TABLE incoming RENAME TO records;
                    \(Self.recordsLeadIndex)
                    """)
            try setMeta("cursor", cursor, in: db)
            return (dropped, count)
        }
    }

    /// Removes a record; a lead goes with its notes and activities.
    static func remove(_ entity: SyncEntity, _ id: UUID, in db: Database) throws {
        let key = UUIDText.lowercase(id)
        try db.cachedStatement(sql: "DELETE FROM records WHERE entity = ? AND id = ?").execute(arguments: [entity.rawValue, key])
        if entity == .lead {
            try db.cachedStatement(sql: "DELETE FROM records WHERE lead_id = ? AND entity IN ('note', 'activity')").execute(arguments: [key])
        }
    }

    /// Deletes the queued mutations on an erased lead (they may carry the person's data) and
    /// renumbers the ones after them, which the server has not seen, so the queue stays gap-free.
    /// Returns how many were deleted.
    static func discardPending(lead: UUID, in db: Database) throws -> Int {
        let key = UUIDText.lowercase(lead)
        let rows = try Row.fetchAll(db, sql: "SELECT id, json, lead_id FROM pending ORDER BY id")
        var first: Int64? = nil
        var kept: [(json: Data, lead: String?)] = []
        var discarded = 0
        for row in rows {
            let id: Int64 = row["id"]
            let lead: String? = row["lead_id"]
            if lead == key {
                discarded += 1
                if first == nil { first = id }
            } else if first != nil {
                kept.append((row["json"], lead))
            }
        }
        guard let first else { return 0 }
        try db.execute(sql: "DELETE FROM pending WHERE id >= ?", arguments: [first])
        var next = first - 1
        for (json, lead) in kept {
            next += 1
            var object = try JSONSerialization.jsonObject(with: json) as? [String: Any] ?? [:]
            object["id"] = next
            try insertPending(id: next, json: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), lead: lead, in: db)
        }
        try db.execute(
            sql: "INSERT INTO meta (key, value) VALUES ('last_mutation_id', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            arguments: [String(next)])
        return discarded
    }

    // MARK: Pending mutations

    /// The queued mutations this SDK can read, in order (see `pendingRows` for all of them); with
    /// `lead`, only those on that lead (read through the index, whatever the queue's length).
    func pending(lead: UUID? = nil) throws -> [Mutation] {
        let rows: [Data] = try queue.read { db in
            if let lead {
                return try Data.fetchAll(
                    db.cachedStatement(sql: "SELECT json FROM pending WHERE lead_id = ? ORDER BY id"), arguments: [UUIDText.lowercase(lead)])
            }
            return try Data.fetchAll(db.cachedStatement(sql: "SELECT json FROM pending ORDER BY id"))
        }
        return rows.compactMap { try? Self.decoder.decode(Mutation.self, from: $0) }
    }

    /// The leads with queued mutations.
    func pendingLeads() throws -> Set<UUID> {
        try queue.read { db in
            Set(try String.fetchAll(db.cachedStatement(sql: "SELECT DISTINCT lead_id FROM pending WHERE lead_id IS NOT NULL")).compactMap { UUIDText.parse($0) })
        }
    }

    /// Every queued mutation as stored (the first `limit` of them): its id and its wire JSON, which
    /// is pushed as it is, so a mutation this build cannot read (queued by another app version)
    /// still reaches the server and gets its answer (`unsupported`) instead of blocking the queue.
    func pendingRows(limit: Int? = nil) throws -> [(id: Int64, json: Data)] {
        try queue.read { db in
            try Row.fetchAll(db.cachedStatement(sql: "SELECT id, json FROM pending ORDER BY id LIMIT ?"), arguments: [limit ?? -1]).map {
                (id: $0["id"], json: $0["json"])
            }
        }
    }

    /// Deletes everything this device held (records, queue, cursor, identity), keeping only the
    /// numbering of its mutations and why it stopped.
    func wipe(stop: SyncStop) throws {
        try queue.write { db in
            try db.execute(sql: "DELETE FROM records")
            try db.execute(sql: "DELETE FROM pending")
            try db.execute(sql: "DELETE FROM templates")
            try db.execute(sql: "DELETE FROM meta WHERE key <> 'last_mutation_id'")
            let json = String(decoding: try JSONEncoder().encode(StopRecord(stop)), as: UTF8.self)
            try setMeta("stopped", json, in: db)
        }
    }

    /// Why this device stopped syncing, if it has.
    func stopped() throws -> SyncStop? {
        try meta("stopped").map { try JSONDecoder().decode(StopRecord.self, from: Data($0.utf8)).stop }
    }

    private struct StopRecord: Codable {
        var code: String
        var message: String
        var lastMutationId: Int64
        init(_ stop: SyncStop) {
            code = stop.code
            message = stop.message
            lastMutationId = stop.lastMutationId
        }
        var stop: SyncStop { SyncStop(code: code, message: message, lastMutationId: lastMutationId) }
    }

    /// Appends a mutation, numbered after the last one this device ever made.
    func enqueue(_ make: (Int64) -> Mutation) throws -> Mutation {
        try queue.write { db in
            let last = Int64(try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'last_mutation_id'", arguments: []) ?? "0") ?? 0
            let mutation = make(last + 1)
            try Self.insertPending(id: mutation.id, json: try Self.encoder.encode(mutation), lead: UUIDText.lowercase(mutation.leadId.rawValue), in: db)
            try setMeta("last_mutation_id", String(mutation.id), in: db)
            return mutation
        }
    }

    /// A store behind the server's numbering for this device (wiped while the device kept its
    /// token, or restored from a backup) continues after the server's last mutation: its queued
    /// mutations are renumbered after it, so none is taken for one the server already has (which
    /// would answer with that one's stored outcome, and the new one would be lost). Returns how
    /// many were renumbered.
    ///
    /// With `from`, the server said that number was used for a different mutation: the queued
    /// mutations from it on are renumbered after the server's last, whatever this store counted.
    @discardableResult
    func continueNumbering(after serverLast: Int64, from reused: Int64? = nil) throws -> Int {
        try queue.write { db in
            let last = Int64(try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'last_mutation_id'", arguments: []) ?? "0") ?? 0
            guard serverLast > last || reused != nil else { return 0 }
            let first = reused ?? Int64.min
            let rows = try Row.fetchAll(db, sql: "SELECT id, json, lead_id FROM pending WHERE id >= ? ORDER BY id", arguments: [first])
            guard !rows.isEmpty || serverLast > last else { return 0 }
            try db.execute(sql: "DELETE FROM pending WHERE id >= ?", arguments: [first])
            var next = serverLast
            for row in rows {
                next += 1
                let json: Data = row["json"]
                var object = try JSONSerialization.jsonObject(with: json) as? [String: Any] ?? [:]
                object["id"] = next
                try Self.insertPending(
                    id: next, json: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), lead: row["lead_id"], in: db)
            }
            try setMeta("last_mutation_id", String(next), in: db)
            return rows.count
        }
    }

    /// The number of the last mutation this device made (0 before its first).
    public func lastMutationID() throws -> Int64 { Int64(try meta("last_mutation_id") ?? "0") ?? 0 }

    // MARK: Templates

    func templates() throws -> [String: WorkflowTemplate] {
        try queue.read { db in
            var templates: [String: WorkflowTemplate] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT key, json FROM templates") {
                templates[row["key"]] = try Self.decoder.decode(WorkflowTemplate.self, from: row["json"] as Data)
            }
            return templates
        }
    }

    func saveTemplates(_ templates: [WorkflowTemplate]) throws {
        try queue.write { db in
            try db.execute(sql: "DELETE FROM templates")
            for template in templates {
                try db.execute(
                    sql: "INSERT INTO templates (key, json) VALUES (?, ?)", arguments: [template.key, try Self.encoder.encode(template)])
            }
        }
    }
}
