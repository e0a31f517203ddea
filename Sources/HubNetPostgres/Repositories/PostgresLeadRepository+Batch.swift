import Foundation
import HubNetCore
import Logging
import PostgresNIO

/// Set-based reads and writes for a batch of intents (`LeadBatch`): a handful of statements
/// whatever the batch's size.
extension PostgresLeadRepository {
    /// The leads among `ids` that exist in the tenant (not withdrawn), locked in id order until the
    /// transaction ends, so that concurrent batches touching the same leads queue instead of
    /// deadlocking. One statement.
    ///
    /// The leads in `shared` are only read by the batch (notes are added to them, nothing else):
    /// they are locked `FOR SHARE`, so batches adding notes to one lead do not wait for each other,
    /// while a change to the lead (an edit, an action, a withdrawal, a new audience) still waits for
    /// them and they for it; the rest `FOR UPDATE`. Both kinds are taken in one pass in id order.
    public func lockMany(
        _ ids: [Lead.ID], shared: Set<Lead.ID> = [], in transaction: TenantTransaction
    ) async throws -> [Lead] {
        guard !ids.isEmpty else { return [] }
        // PostgreSQL orders UUIDs as their lower-case text sorts; the locks are taken in this order.
        let ordered = ids.map { (UUIDText.lowercase($0.rawValue), $0) }.sorted { $0.0 < $1.0 }.map(\.1)
        return try await Self.leads(
            transaction.connection.rows(
                """
                SELECT \(unescaped: Self.columns)
                FROM unnest(\(ordered.map(\.rawValue))::UUID[], \(ordered.map { !shared.contains($0) })::BOOLEAN[])
                    WITH ORDINALITY AS u(id, exclusive, n)
                LEFT JOIN LATERAL (
                    SELECT x AS lead FROM leads AS x
                    WHERE u.exclusive AND x.tenant_id = \(transaction.tenant) AND x.id = u.id AND x.withdrawn_at IS NULL FOR UPDATE OF x
                ) AS updating ON true
                LEFT JOIN LATERAL (
                    SELECT x AS lead FROM leads AS x
                    WHERE NOT u.exclusive AND x.tenant_id = \(transaction.tenant) AND x.id = u.id AND x.withdrawn_at IS NULL FOR SHARE OF x
                ) AS sharing ON true
                CROSS JOIN LATERAL (SELECT (COALESCE(updating.lead, sharing.lead)).*) AS l
                WHERE l.id IS NOT NULL
                ORDER BY u.n
                """, logger: logger))
    }

    /// Locks the leads among `ids` in id order, as `lockMany`, without reading them; returns no leads.
    public func lockOnly(_ ids: [Lead.ID], in transaction: TenantTransaction) async throws -> [Lead] {
        guard !ids.isEmpty else { return [] }
        try await transaction.connection.rows(
            "SELECT id FROM leads WHERE tenant_id = \(transaction.tenant) AND id = ANY(\(ids.map(\.rawValue))) ORDER BY id FOR UPDATE",
            logger: logger)
        return []
    }

    /// Writes each lead's details after a batch's accepted edits, one version step and one `edit`
    /// history entry (hash-chained) per accepted edit: one statement when the batch chained the
    /// entries (it read where each chain ends), else one more first to read that.
    public func applyEdits(_ edits: [LeadBatch.PendingEdit], actor: User.ID, at now: Date, in transaction: TenantTransaction) async throws {
        guard let tenant = edits.first?.before.tenantID else { return }
        let rows = edits.map { edit in
            EditRow(
                id: edit.before.id.rawValue, name: edit.details.name, email: edit.details.email, phone: edit.details.phone,
                city: edit.details.city, region: edit.details.region, texts: edit.details.texts, probability: edit.details.probability, targetAmount: edit.details.targetAmount.map { "\($0)" },
                products: edit.details.products, competitors: edit.details.competitors, team: edit.details.team.map(\.rawValue),
                edits: edit.edits)
        }
        let document = String(decoding: try JSONEncoder().encode(rows), as: UTF8.self)
        let entries = try await editEntries(edits, actor: actor, at: now, in: transaction)
        // The ids are taken out of the document first (a materialized CTE): under row-level
        // security a join on an expression of the JSON cannot use the primary key (the cast is not
        // leakproof), and the update would scan every lead of the table. They are also bound beside
        // it, so that each lead is reached by its key whatever the plan (`leadsByKey`). The
        // entries' foreign key is checked at the statement's end.
        try await transaction.connection.rows(
            """
            WITH d AS MATERIALIZED (SELECT (e.doc->>'id')::UUID AS id, e.doc FROM jsonb_array_elements(\(document)::JSONB) AS e(doc)),
            leads AS (
                UPDATE leads AS l SET contact_name = d.doc->>'name', contact_email = d.doc->>'email', contact_phone = d.doc->>'phone',
                    city = d.doc->>'city', region = d.doc->>'region', \(unescaped: LeadTextField.assignments(from: "d.doc->'texts'")),
                    probability = (d.doc->>'probability')::INTEGER, target_amount = (d.doc->>'target_amount')::NUMERIC,
                    products = d.doc->'products',
                    competitors = ARRAY(SELECT c.value FROM jsonb_array_elements_text(d.doc->'competitors') WITH ORDINALITY AS c(value, n) ORDER BY c.n),
                    team = ARRAY(SELECT t.value::UUID FROM jsonb_array_elements_text(d.doc->'team') WITH ORDINALITY AS t(value, n) ORDER BY t.n),
                    version = l.version + (d.doc->>'edits')::INTEGER
                FROM d
                WHERE l.tenant_id = \(tenant) AND l.id = ANY(\(edits.map(\.before.id.rawValue))::UUID[]) AND l.id = d.id
            )
            INSERT INTO lead_history (tenant_id, lead_id, seq, action, from_status, to_status, actor_user_id, reason, at,
                previous_hash, hash)
            SELECT \(tenant), h.lead, h.seq, 'edit', h.status, h.status, \(actor), NULL, hubnet_from_micros(h.at),
                decode(h.previous, 'hex'), decode(h.hash, 'hex')
            FROM unnest(\(entries.map(\.lead))::UUID[], \(entries.map(\.seq))::INTEGER[], \(entries.map(\.status))::TEXT[],
                \(entries.map(\.at))::BIGINT[], \(entries.map(\.previous))::TEXT[], \(entries.map(\.hash))::TEXT[])
                AS h(lead, seq, status, at, previous, hash)
            """, preparedAs: Prepared.ApplyEdits.self, logger: logger)
    }

    /// One `edit` history entry of `applyEdits` (its time in microseconds, its hashes in hex).
    private struct EditEntry {
        var lead: UUID
        var seq: Int
        var status: String
        var at: Int64
        var previous, hash: String
    }

    /// The edits' history entries: as the batch chained them, or chained here from where each
    /// lead's chain ends (read in one statement; the leads are locked).
    private func editEntries(
        _ edits: [LeadBatch.PendingEdit], actor: User.ID, at now: Date, in transaction: TenantTransaction
    ) async throws -> [EditEntry] {
        if edits.allSatisfy({ $0.entries.count == $0.edits }) {
            return edits.flatMap { edit in
                edit.entries.map { entry in
                    EditEntry(
                        lead: edit.before.id.rawValue, seq: entry.seq, status: entry.toStatus, at: Self.micros(entry.at),
                        previous: Self.hex(entry.previousHash), hash: Self.hex(entry.hash))
                }
            }
        }
        var chainEnds: [UUID: LeadHistoryEntry] = [:]
        for (lead, seq, hash) in try await transaction.connection.rows(
            """
            SELECT DISTINCT ON (lead_id) lead_id, seq, hash FROM lead_history
            WHERE tenant_id = \(transaction.tenant) AND lead_id = ANY(\(edits.map(\.before.id.rawValue))) ORDER BY lead_id, seq DESC
            """, logger: logger
        ).decode((UUID, Int, Data).self) {
            // Only the chain's place matters to what follows it: its number and hash.
            chainEnds[lead] = LeadHistoryEntry(
                seq: seq, action: "", fromStatus: nil, toStatus: "", actorUserID: nil, reason: nil, at: now, previousHash: [],
                hash: Array(hash))
        }
        var entries: [EditEntry] = []
        for edit in edits {
            var previous = chainEnds[edit.before.id.rawValue]
            let status = edit.before.state.status
            for _ in 0..<edit.edits {
                let entry = LeadHistoryEntry.following(
                    previous, lead: edit.before.id, action: "edit", from: status, to: status, actor: actor, reason: nil, at: now)
                entries.append(
                    EditEntry(
                        lead: edit.before.id.rawValue, seq: entry.seq, status: status, at: Self.micros(entry.at),
                        previous: Self.hex(entry.previousHash), hash: Self.hex(entry.hash)))
                previous = entry
            }
        }
        return entries
    }

    /// The touched leads as locked (`lockOnly`) with the last entry of each one's history, read in
    /// one statement after the lock, so that it sees what committed while the lock waited.
    /// - Parameter historyOf: the leads whose last entry is read (the others' is not known, and is
    ///   left out of `lastEntries`); `nil` reads every lead's.
    public func readLocked(_ ids: [Lead.ID], historyOf: Set<Lead.ID>? = nil, in transaction: TenantTransaction) async throws
        -> (leads: [Lead], lastEntries: [Lead.ID: LeadHistoryEntry?])
    {
        guard !ids.isEmpty else { return ([], [:]) }
        let withHistory = (historyOf.map(Array.init) ?? ids).map(\.rawValue)
        let rows = try await transaction.connection.rows(
            """
            SELECT \(unescaped: Self.columns),
                h.seq AS h_seq, h.action AS h_action, h.from_status AS h_from, h.to_status AS h_to, h.actor_user_id AS h_actor,
                h.reason AS h_reason, h.at AS h_at, h.previous_hash AS h_previous, h.hash AS h_hash
            FROM leads AS l
            LEFT JOIN LATERAL (
                SELECT seq, action, from_status, to_status, actor_user_id, reason, at, previous_hash, hash FROM lead_history
                WHERE tenant_id = l.tenant_id AND lead_id = l.id AND l.id = ANY(\(withHistory)) ORDER BY seq DESC LIMIT 1
            ) AS h ON TRUE
            WHERE l.tenant_id = \(transaction.tenant) AND l.id = ANY(\(ids.map(\.rawValue))) AND l.withdrawn_at IS NULL
            ORDER BY l.id
            """, logger: logger)
        let leads = try await Self.leads(rows)
        var lastEntries: [Lead.ID: LeadHistoryEntry?] = [:]
        for (lead, row) in zip(leads, rows) where historyOf?.contains(lead.id) ?? true {
            lastEntries[lead.id] = .some(try Self.lastEntry(row.makeRandomAccess()))
        }
        return (leads, lastEntries)
    }

    /// Stores a batch's workflow actions decided in memory (`LeadBatch.PendingAction`, one per
    /// lead) in one statement: each lead's new state, its history entry (hash-chained in memory),
    /// and the opportunities the actions create and the clients they add to the hub CRM.
    public func applyActions(_ actions: [LeadBatch.PendingAction], in transaction: TenantTransaction) async throws {
        guard !actions.isEmpty else { return }
        func micros(_ date: Date?) -> Int64? { date.map { Int64(($0.timeIntervalSince1970 * 1_000_000).rounded()) } }
        let rows = actions.map { action in
            let state = action.after.state
            let entry = action.entry
            return ActionRow(
                id: action.after.id.rawValue, status: state.status, lastActionAt: micros(state.lastActionAt),
                acceptedAt: micros(state.acceptedAt), declinedAt: micros(state.declinedAt), completedAt: micros(state.completedAt),
                expiresAt: micros(state.expiresAt), archived: state.archived, inCRM: state.inCRM,
                assignedUserID: state.assignedUserID?.rawValue,
                remindAt: micros(LeadSchedule.nextReminder(state, template: action.template)),
                opportunityID: action.opportunity?.id.rawValue, seq: entry.seq, action: entry.action,
                fromStatus: entry.fromStatus, toStatus: entry.toStatus, actor: entry.actorUserID?.rawValue, reason: entry.reason,
                at: micros(entry.at) ?? 0, previousHash: Self.hex(entry.previousHash), hash: Self.hex(entry.hash))
        }
        let document = String(decoding: try JSONEncoder().encode(rows), as: UTF8.self)
        // The opportunities the actions create (the leads link them), and the leads that become
        // clients of the hub CRM (their details as they were).
        let opportunities = actions.compactMap { action in
            action.opportunity.map {
                OpportunityRow(id: $0.id.rawValue, name: $0.name, amount: $0.amount.map { "\($0)" }, createdBy: action.entry.actorUserID?.rawValue)
            }
        }
        let clients = actions.filter { $0.decision.effects.contains(.addToCRM) }.map {
            ClientRow(id: UUID(), lead: $0.before.id.rawValue, name: $0.before.details.name, email: $0.before.details.email, city: $0.before.details.city)
        }
        let at = micros(actions[0].entry.at) ?? 0
        // One statement: every write is a part of it that reads only the documents, and the
        // foreign keys (a lead's opportunity, an entry's lead) are checked at its end. The rows are
        // taken out of the document first (a materialized CTE) and their ids bound beside it, so that
        // the update finds each lead by its primary key under row-level security and whatever the
        // plan (see `applyEdits`).
        try await transaction.connection.rows(
            """
            WITH a AS MATERIALIZED (
                SELECT * FROM jsonb_to_recordset(\(document)::JSONB) AS a(id UUID, status TEXT, last_action_at BIGINT,
                    accepted_at BIGINT, declined_at BIGINT, completed_at BIGINT, expires_at BIGINT, archived BOOLEAN, in_crm BOOLEAN,
                    assigned_user_id UUID, remind_at BIGINT, opportunity_id UUID, seq INTEGER, action TEXT, from_status TEXT,
                    to_status TEXT, actor UUID, reason TEXT, at BIGINT, previous_hash TEXT, hash TEXT)
            ),
            opportunities AS (
                INSERT INTO opportunities (tenant_id, id, name, amount, created_by, created_at)
                SELECT \(transaction.tenant), o.id, o.name, o.amount::NUMERIC, o.created_by, hubnet_from_micros(\(at))
                FROM jsonb_to_recordset(\(String(decoding: try JSONEncoder().encode(opportunities), as: UTF8.self))::JSONB)
                    AS o(id UUID, name TEXT, amount TEXT, created_by UUID)
            ),
            leads AS (
                UPDATE leads AS l SET status = a.status, last_action_at = hubnet_from_micros(a.last_action_at),
                    accepted_at = hubnet_from_micros(a.accepted_at), declined_at = hubnet_from_micros(a.declined_at),
                    completed_at = hubnet_from_micros(a.completed_at), expires_at = hubnet_from_micros(a.expires_at), archived = a.archived,
                    in_crm = a.in_crm, assigned_user_id = a.assigned_user_id, remind_at = hubnet_from_micros(a.remind_at),
                    opportunity_id = COALESCE(a.opportunity_id, l.opportunity_id), version = l.version + 1
                FROM a
                WHERE l.tenant_id = \(transaction.tenant) AND l.id = ANY(\(rows.map(\.id))::UUID[]) AND l.id = a.id
            ),
            clients AS (
                INSERT INTO clients (tenant_id, id, lead_id, name, email, city, created_at)
                SELECT \(transaction.tenant), c.id, c.lead, c.name, c.email, c.city, hubnet_from_micros(\(at))
                FROM jsonb_to_recordset(\(String(decoding: try JSONEncoder().encode(clients), as: UTF8.self))::JSONB)
                    AS c(id UUID, lead UUID, name TEXT, email TEXT, city TEXT)
                ON CONFLICT ON CONSTRAINT clients_lead_key DO NOTHING
            )
            INSERT INTO lead_history (tenant_id, lead_id, seq, action, from_status, to_status, actor_user_id, reason, at,
                previous_hash, hash)
            SELECT \(transaction.tenant), a.id, a.seq, a.action, a.from_status, a.to_status, a.actor, a.reason, hubnet_from_micros(a.at),
                decode(a.previous_hash, 'hex'), decode(a.hash, 'hex')
            FROM a
            """, preparedAs: Prepared.ApplyActions.self, logger: logger)
    }

    /// One action of `applyActions`: the lead's new state and its history entry (times in
    /// microseconds; a missing key, an optional left out, reads as NULL).
    private struct ActionRow: Encodable {
        var id: UUID
        var status: String
        var lastActionAt, acceptedAt, declinedAt, completedAt, expiresAt: Int64?
        var archived, inCRM: Bool
        var assignedUserID: UUID?
        var remindAt: Int64?
        var opportunityID: UUID?
        var seq: Int
        var action: String
        var fromStatus: String?
        var toStatus: String
        var actor: UUID?
        var reason: String?
        var at: Int64
        var previousHash, hash: String

        enum CodingKeys: String, CodingKey {
            case id, status, lastActionAt = "last_action_at", acceptedAt = "accepted_at", declinedAt = "declined_at"
            case completedAt = "completed_at", expiresAt = "expires_at", archived, inCRM = "in_crm"
            case assignedUserID = "assigned_user_id", remindAt = "remind_at", opportunityID = "opportunity_id", seq, action
            case fromStatus = "from_status"
            case toStatus = "to_status", actor, reason, at, previousHash = "previous_hash", hash
        }
    }

    private struct OpportunityRow: Encodable {
        var id: UUID
        var name: String
        var amount: String?
        var createdBy: UUID?
        enum CodingKeys: String, CodingKey { case id, name, amount, createdBy = "created_by" }
    }

    private struct ClientRow: Encodable {
        var id: UUID
        var lead: UUID
        var name: String
        var email, city: String?
    }

    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var text = [UInt8]()
        text.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: text, as: UTF8.self)
    }

    private struct EditRow: Encodable {
        var id: UUID
        var name: String
        var email, phone, city, region: String?
        var texts: LeadTexts
        var probability: Int?
        var targetAmount: String?
        var products: [ProductInterest]
        var competitors: [String]
        var team: [UUID]
        var edits: Int

        enum CodingKeys: String, CodingKey {
            case id, name, email, phone, city, region, texts, probability
            case targetAmount = "target_amount", products, competitors, team, edits
        }
    }
}

extension PostgresLeadRepository {
    /// One new lead of `createMany`: its details and its own dates.
    public struct NewLead: Sendable {
        public var details: LeadDetails
        public var expiresAt: Date?
        public var expectedCompletionAt: Date?

        public init(details: LeadDetails, expiresAt: Date? = nil, expectedCompletionAt: Date? = nil) {
            self.details = details
            self.expiresAt = expiresAt
            self.expectedCompletionAt = expectedCompletionAt
        }
    }

    /// An import of at least this many leads is followed by `refreshStatistics`.
    public static let statisticsRefreshThreshold = 1_000

    /// Has PostgreSQL sample the leads and their history again, so that the next plans know a
    /// tenant that has just grown by an import (without it, a tenant the statistics predate is
    /// estimated at one lead, and every lookup of one of its leads reads all of them: migration
    /// 0026). Runs on its own, after the import committed; a table autovacuum holds is skipped.
    public func refreshStatistics(database: Database) async throws {
        try await database.withSingleStatement { connection in
            try await connection.rows("SELECT hubnet_refresh_lead_statistics()", logger: logger)
        }
    }

    /// Stores new leads of one template as `create` stores each (validated alike, in the
    /// template's initial state, a `create` history entry each), in two statements whatever their
    /// number: the leads, then their first history entries, hash-chained here. Returns their ids
    /// in the given order.
    public func createMany(
        _ leads: [NewLead], template: WorkflowTemplate, source: LeadSource, createdBy: User.ID?, now: Date,
        in transaction: TenantTransaction
    ) async throws -> [Lead.ID] {
        guard !leads.isEmpty else { return [] }
        func micros(_ date: Date?) -> Int64? { date.map { Int64(($0.timeIntervalSince1970 * 1_000_000).rounded()) } }
        let at = micros(now) ?? 0
        var rows: [NewLeadRow] = []
        var ids: [Lead.ID] = []
        for lead in leads {
            let details = try lead.details.validated(requiringContact: true)
            let state = LeadState.new(template, createdAt: now, expiresAt: lead.expiresAt, expectedCompletionAt: lead.expectedCompletionAt)
            let id = Lead.ID()
            let hash = LeadHistoryEntry.chainHash(
                previous: LeadHistoryEntry.genesis,
                LeadHistoryEntry.canonical(
                    lead: id, seq: 1, action: "create", fromStatus: nil, toStatus: state.status, actorUserID: createdBy, reason: nil,
                    atMicros: at))
            rows.append(
                NewLeadRow(
                    id: id.rawValue, status: state.status, name: details.name, email: details.email, phone: details.phone,
                    city: details.city, region: details.region, texts: details.texts, probability: details.probability, targetAmount: details.targetAmount.map { "\($0)" }, products: details.products,
                    competitors: details.competitors, team: details.team.map(\.rawValue), expiresAt: micros(state.expiresAt),
                    expectedCompletionAt: micros(state.expectedCompletionAt),
                    remindAt: micros(LeadSchedule.nextReminder(state, template: template)), hash: Self.hex(hash)))
            ids.append(id)
        }
        let document = String(decoding: try JSONEncoder().encode(rows), as: UTF8.self)
        // The leads and their first history entries in one statement (each entry's foreign key is
        // checked at the statement's end, when its lead is there).
        try await transaction.connection.rows(
            """
            WITH d AS MATERIALIZED (
                SELECT e.doc, e.n FROM jsonb_array_elements(\(document)::JSONB) WITH ORDINALITY AS e(doc, n)
            ),
            created AS (
                INSERT INTO leads (tenant_id, id, template_key, status, source, contact_name, contact_email, contact_phone, city,
                    region, \(unescaped: LeadTextField.columnList), probability, target_amount, products, competitors, team,
                    created_by, created_at, expires_at, expected_completion_at, remind_at)
                SELECT \(transaction.tenant), (d.doc->>'id')::UUID, \(template.key), d.doc->>'status', \(source.rawValue), d.doc->>'name',
                    d.doc->>'email', d.doc->>'phone', d.doc->>'city', d.doc->>'region',
                    \(unescaped: LeadTextField.values(in: "d.doc->'texts'")), (d.doc->>'probability')::INTEGER,
                    (d.doc->>'target_amount')::NUMERIC, d.doc->'products',
                    ARRAY(SELECT c.value FROM jsonb_array_elements_text(d.doc->'competitors') WITH ORDINALITY AS c(value, n) ORDER BY c.n),
                    ARRAY(SELECT t.value::UUID FROM jsonb_array_elements_text(d.doc->'team') WITH ORDINALITY AS t(value, n) ORDER BY t.n),
                    \(createdBy)::UUID, \(now), hubnet_from_micros((d.doc->>'expires_at')::BIGINT),
                    hubnet_from_micros((d.doc->>'expected_completion_at')::BIGINT), hubnet_from_micros((d.doc->>'remind_at')::BIGINT)
                FROM d
                ORDER BY d.n
            )
            INSERT INTO lead_history (tenant_id, lead_id, seq, action, from_status, to_status, actor_user_id, reason, at,
                previous_hash, hash)
            SELECT \(transaction.tenant), (d.doc->>'id')::UUID, 1, 'create', NULL, d.doc->>'status', \(createdBy)::UUID, NULL, hubnet_from_micros(\(at)),
                decode(\(Self.hex(LeadHistoryEntry.genesis)), 'hex'), decode(d.doc->>'hash', 'hex')
            FROM d
            """, preparedAs: Prepared.CreateMany.self, logger: logger)
        return ids
    }

    /// One lead of `createMany` (times in microseconds; a missing key, an optional left out, reads as NULL).
    private struct NewLeadRow: Encodable {
        var id: UUID
        var status, name: String
        var email, phone, city, region: String?
        var texts: LeadTexts
        var probability: Int?
        var targetAmount: String?
        var products: [ProductInterest]
        var competitors: [String]
        var team: [UUID]
        var expiresAt, expectedCompletionAt, remindAt: Int64?
        var hash: String

        enum CodingKeys: String, CodingKey {
            case id, status, name, email, phone, city, region, texts, probability
            case targetAmount = "target_amount", products, competitors, team, expiresAt = "expires_at"
            case expectedCompletionAt = "expected_completion_at", remindAt = "remind_at", hash
        }
    }
}

extension PostgresLeadNoteRepository {
    /// Inserts a batch's notes by `author` in one statement; returns the ids stored. A note whose id
    /// exists already is left out (the caller refuses it as `duplicate_id`).
    public func addMany(_ notes: [LeadBatch.PendingNote], author: User.ID, now: Date, in transaction: TenantTransaction)
        async throws -> Set<LeadNote.ID>
    {
        guard !notes.isEmpty else { return [] }
        let rows = try await transaction.connection.rows(
            """
            INSERT INTO lead_notes (tenant_id, id, lead_id, author_id, body, created_at)
            SELECT \(transaction.tenant), n.id, n.lead, \(author), n.body, \(now)
            FROM unnest(\(notes.map(\.id.rawValue))::UUID[], \(notes.map(\.lead.rawValue))::UUID[], \(notes.map(\.body))::TEXT[])
                WITH ORDINALITY AS n(id, lead, body, position)
            ORDER BY n.position
            ON CONFLICT DO NOTHING
            RETURNING id
            """, logger: logger)
        return Set(try rows.decode(UUID.self).map(LeadNote.ID.init))
    }
}
