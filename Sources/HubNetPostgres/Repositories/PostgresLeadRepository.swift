import Crypto
import Foundation
import HubNetCore
import Logging
import PostgresNIO

/// Leads of one tenant and their hash-chained history. Every method runs inside a tenant
/// transaction of `Database.withTenant`.
public struct PostgresLeadRepository: Sendable {
    public let logger: Logger

    public init(logger: Logger) { self.logger = logger }

    /// The write path's statements PostgreSQL keeps parsed on each connection (see
    /// `PreparedStatementKey`). An optional value in them is cast to the type Swift sends, so a
    /// statement first prepared with a NULL there expects that type from then on.
    enum Prepared {
        enum Lock: PreparedStatementKey {}
        enum Get: PreparedStatementKey {}
        enum ReadForAction: PreparedStatementKey {}
        enum Apply: PreparedStatementKey {}
        enum Create: PreparedStatementKey {}
        enum AppendHistory: PreparedStatementKey {}
        enum ApplyActions: PreparedStatementKey {}
        enum ApplyEdits: PreparedStatementKey {}
        enum CreateMany: PreparedStatementKey {}
    }

    static let columns = """
        l.id, l.tenant_id, l.template_key, l.status, l.source, l.contact_name, l.contact_email, l.contact_phone,
        l.city, l.region, \(LeadTextField.columns(of: "l")), l.probability,
        l.target_amount::TEXT AS target_amount, l.products::TEXT AS products, l.competitors, l.team, l.listing_id, l.referral_id, l.source_tenant_id, l.assigned_unit_id, l.assigned_user_id, l.created_by,
        l.created_at, l.last_action_at, l.accepted_at, l.declined_at, l.completed_at, l.expires_at,
        l.expected_completion_at, l.opportunity_id, l.archived, l.in_crm, l.version, l.reminded_at, l.identity_withheld, l.erased_at,
        (SELECT count(*) FROM lead_activities a
         WHERE a.tenant_id = l.tenant_id AND a.lead_id = l.id AND a.state = 'open')::INTEGER AS open_activities,
        (SELECT array_agg(m.user_id) FROM unit_members m
         WHERE m.tenant_id = l.tenant_id AND m.unit_id = l.assigned_unit_id) AS unit_members
        """

    /// Stores a new lead in its template's initial state, with its first history entry.
    public func create(
        _ details: LeadDetails, template: WorkflowTemplate, source: LeadSource, createdBy: User.ID?,
        listing: Listing.ID? = nil, unit: TenantUnit.ID? = nil, expiresAt: Date? = nil, expectedCompletionAt: Date? = nil,
        identityWithheld: Bool = false, referral: (id: Referral.ID, source: Tenant.ID)? = nil, now: Date,
        in transaction: TenantTransaction
    ) async throws -> Lead {
        let details = try details.validated(requiringContact: !identityWithheld)
        let state = LeadState.new(template, createdAt: now, expiresAt: expiresAt, expectedCompletionAt: expectedCompletionAt)
        let id = Lead.ID()
        // A new lead's history starts here, with no entry to read first: the lead and its first
        // entry in one statement (the entry's foreign key is checked at the statement's end).
        let entry = LeadHistoryEntry.following(
            nil, lead: id, action: "create", from: nil, to: state.status, actor: createdBy, reason: nil, at: now)
        let created: Lead?
        do {
            created = try await Self.leads(transaction.connection.rows(
                """
                WITH created AS (
                    INSERT INTO leads AS l (tenant_id, id, template_key, status, source, contact_name, contact_email, contact_phone,
                        city, region, \(unescaped: LeadTextField.columnList), probability, target_amount, products,
                        competitors, team, listing_id, assigned_unit_id, created_by, created_at, expires_at, expected_completion_at,
                        remind_at, identity_withheld, referral_id, source_tenant_id)
                    SELECT \(transaction.tenant), \(id), \(template.key), \(state.status), \(source.rawValue), \(details.name),
                        \(details.email)::TEXT, \(details.phone)::TEXT, \(details.city)::TEXT, \(details.region)::TEXT,
                        \(unescaped: LeadTextField.values(in: "t.doc")), \(details.probability)::BIGINT,
                        \(details.targetAmount.map { "\($0)" })::TEXT::NUMERIC,
                        \(try Self.productsJSON(details.products))::TEXT::JSONB, \(details.competitors)::TEXT[], \(details.team)::UUID[],
                        \(listing)::UUID, \(unit)::UUID, \(createdBy)::UUID, \(now), \(state.expiresAt)::TIMESTAMPTZ,
                        \(state.expectedCompletionAt)::TIMESTAMPTZ, \(LeadSchedule.nextReminder(state, template: template))::TIMESTAMPTZ,
                        \(identityWithheld), \(referral?.id)::UUID, \(referral?.source)::UUID
                    FROM (SELECT \(try Self.textsJSON(details.texts))::TEXT::JSONB AS doc) AS t
                    RETURNING \(unescaped: Self.columns)
                ),
                history AS (
                    INSERT INTO lead_history (tenant_id, lead_id, seq, action, from_status, to_status, actor_user_id, reason, at,
                        previous_hash, hash)
                    VALUES (\(transaction.tenant), \(id), \(entry.seq), \(entry.action), NULL, \(entry.toStatus), \(createdBy)::UUID, NULL,
                        hubnet_from_micros(\(Self.micros(entry.at))), \(Data(entry.previousHash)), \(Data(entry.hash)))
                )
                SELECT * FROM created
                """, preparedAs: Prepared.Create.self, logger: logger)).first
        } catch let error as PSQLError where error.serverInfo?[.constraintName] == "leads_unit_fkey" {
            throw DomainError.invalid("assigned_unit_id", "names no unit of this tenant")
        }
        guard let created else { throw DomainError.notFound("lead") }
        return created
    }

    /// Whether the tenant has this lead (not withdrawn): the cheap check before adding to it.
    public func exists(_ id: Lead.ID, in transaction: TenantTransaction) async throws -> Bool {
        try await !transaction.connection.rows(
            "SELECT 1 FROM leads WHERE tenant_id = \(transaction.tenant) AND id = \(id) AND withdrawn_at IS NULL", logger: logger
        ).isEmpty
    }

    /// Whether a user sees a lead, in one cheap query: `viewer` is `nil` for a tenant-wide role.
    public enum Visibility: Sendable { case missing, hidden, visible, erased }

    public func visibility(of id: Lead.ID, to viewer: User.ID?, in transaction: TenantTransaction) async throws
        -> Visibility
    {
        let rows = try await transaction.connection.rows(
            """
            SELECT \(viewer)::UUID IS NULL OR \(viewer) = ANY(hubnet_lead_audience(l)), l.erased_at IS NOT NULL FROM leads l
            WHERE l.tenant_id = \(transaction.tenant) AND l.id = \(id) AND l.withdrawn_at IS NULL
            """, logger: logger)
        guard let (sees, erased) = try rows.decode((Bool, Bool).self).first else { return .missing }
        return !sees ? .hidden : erased ? .erased : .visible
    }

    /// - Parameter lock: hold the lead until the transaction ends, so two actions on it queue up.
    public func get(_ id: Lead.ID, lock: Bool = false, in transaction: TenantTransaction)
        async throws -> Lead?
    {
        if lock {
            // Take the row lock first; the read below then sees the latest committed state.
            let locked = try await transaction.connection.rows(
                "SELECT id FROM leads WHERE tenant_id = \(transaction.tenant) AND id = \(id) AND withdrawn_at IS NULL FOR UPDATE",
                preparedAs: Prepared.Lock.self, logger: logger)
            if locked.isEmpty { return nil }
        }
        return try await Self.leads(
            transaction.connection.rows(
                """
                SELECT \(unescaped: Self.columns) FROM leads AS l
                WHERE l.tenant_id = \(transaction.tenant) AND l.id = \(id) AND l.withdrawn_at IS NULL
                """,
                preparedAs: Prepared.Get.self, logger: logger)
        ).first
    }

    /// What an action on a lead needs, read under the lead's row lock in two statements: the lead,
    /// its tenant's stored definition of its template (`nil`: the built-in one) and the last entry of
    /// its history (where the chain continues; what offline grace looks at). `nil` when the lead is
    /// missing or withdrawn.
    ///
    /// The lock is its own statement so that the read, a statement of its own after it, sees what
    /// committed while it waited (its activities and history included).
    /// - Parameter held: this transaction holds the lead's lock already (`lockMany`, `lockOnly`): only the read.
    public func lockForAction(_ id: Lead.ID, held: Bool = false, in transaction: TenantTransaction) async throws
        -> LockedLead?
    {
        if !held {
            let locked = try await transaction.connection.rows(
                "SELECT id FROM leads WHERE tenant_id = \(transaction.tenant) AND id = \(id) AND withdrawn_at IS NULL FOR UPDATE",
                preparedAs: Prepared.Lock.self, logger: logger)
            if locked.isEmpty { return nil }
        }
        let rows = try await transaction.connection.rows(
            """
            SELECT \(unescaped: Self.columns),
                (SELECT t.definition::TEXT FROM workflow_templates AS t WHERE t.tenant_id = l.tenant_id AND t.key = l.template_key)
                    AS template_definition,
                h.seq AS h_seq, h.action AS h_action, h.from_status AS h_from, h.to_status AS h_to, h.actor_user_id AS h_actor,
                h.reason AS h_reason, h.at AS h_at, h.previous_hash AS h_previous, h.hash AS h_hash
            FROM leads AS l
            LEFT JOIN LATERAL (
                SELECT seq, action, from_status, to_status, actor_user_id, reason, at, previous_hash, hash FROM lead_history
                WHERE tenant_id = l.tenant_id AND lead_id = l.id ORDER BY seq DESC LIMIT 1
            ) AS h ON TRUE
            WHERE l.tenant_id = \(transaction.tenant) AND l.id = \(id) AND l.withdrawn_at IS NULL
            """, preparedAs: Prepared.ReadForAction.self, logger: logger)
        guard let row = rows.first, let lead = try await Self.leads(rows).first else { return nil }
        let r = row.makeRandomAccess()
        return LockedLead(
            lead: lead, templateDefinition: try r["template_definition"].decode(String?.self), lastEntry: try Self.lastEntry(r))
    }

    /// The last history entry read beside a lead (the `h_…` columns of a lateral join), `nil` when it has none.
    static func lastEntry(_ r: PostgresRandomAccessRow) throws -> LeadHistoryEntry? {
        guard let seq = try r["h_seq"].decode(Int?.self) else { return nil }
        return LeadHistoryEntry(
            seq: seq, action: try r["h_action"].decode(String.self), fromStatus: try r["h_from"].decode(String?.self),
            toStatus: try r["h_to"].decode(String.self), actorUserID: try r["h_actor"].decode(User.ID?.self),
            reason: try r["h_reason"].decode(String?.self), at: try r["h_at"].decode(Date.self),
            previousHash: Array(try r["h_previous"].decode(Data.self)), hash: Array(try r["h_hash"].decode(Data.self)))
    }

    /// A lead as `lockForAction` read it.
    public struct LockedLead: Sendable {
        public var lead: Lead
        /// The tenant's edited copy of the lead's template as stored; `nil` when it uses the built-in one.
        public var templateDefinition: String?
        /// The last entry of the lead's history, `nil` if it has none.
        public var lastEntry: LeadHistoryEntry?
    }

    /// A page of leads matching `filter`, oldest first, or newest first when `filter.newestFirst`.
    public func list(_ filter: LeadFilter, page: PageRequest, in transaction: TenantTransaction)
        async throws -> Page<Lead>
    {
        let after = page.after ?? (filter.newestFirst ? PageCursor.end : .start)
        // Two constant fragments: the keyset comparison and the order follow the direction.
        let comparison = filter.newestFirst ? "<" : ">"
        let order = filter.newestFirst ? "l.created_at DESC, l.id DESC" : "l.created_at, l.id"
        let badge = filter.badge?.rawValue
        // LIKE's wildcards in the searched text match themselves.
        let pattern = filter.search.map { text in
            "%" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "%", with: "\\%")
                .replacingOccurrences(of: "_", with: "\\_") + "%"
        }
        let rows = try await Self.leads(
            transaction.connection.rows(
                """
                SELECT \(unescaped: Self.columns) FROM leads AS l
                WHERE l.tenant_id = \(transaction.tenant) AND l.withdrawn_at IS NULL
                  AND (l.created_at, l.id) \(unescaped: comparison) (hubnet_from_micros(\(after.microseconds)), \(after.id))
                  AND (\(filter.statuses.isEmpty) OR l.status = ANY(\(filter.statuses)))
                  AND (\(filter.templateKey)::TEXT IS NULL OR l.template_key = \(filter.templateKey))
                  AND (\(filter.source?.rawValue)::TEXT IS NULL OR l.source = \(filter.source?.rawValue))
                  AND (\(filter.type)::TEXT IS NULL OR l.type = \(filter.type))
                  AND (\(filter.assignedUserID)::UUID IS NULL OR l.assigned_user_id = \(filter.assignedUserID))
                  AND (\(filter.assignedUnitID)::UUID IS NULL OR l.assigned_unit_id = \(filter.assignedUnitID))
                  AND (\(filter.createdFrom)::TIMESTAMPTZ IS NULL OR l.created_at >= \(filter.createdFrom))
                  AND (\(filter.createdTo)::TIMESTAMPTZ IS NULL OR l.created_at < \(filter.createdTo))
                  AND (\(filter.overdueAsOf)::TIMESTAMPTZ IS NULL
                       OR (l.completed_at IS NULL AND l.expected_completion_at <= \(filter.overdueAsOf)))
                  AND (\(filter.contactEmail)::TEXT IS NULL OR lower(l.contact_email) = lower(\(filter.contactEmail)))
                  AND (\(pattern)::TEXT IS NULL OR l.contact_name ILIKE \(pattern) OR l.contact_email ILIKE \(pattern))
                  AND (\(filter.includeArchived) OR NOT l.archived)
                  AND (\(filter.viewer)::UUID IS NULL OR \(filter.viewer) = ANY(hubnet_lead_audience(l)))
                  AND (\(badge)::TEXT IS NULL
                       OR (\(badge) = 'new' AND l.completed_at IS NULL AND l.last_action_at IS NULL)
                       OR (\(badge) = 'overdue' AND l.completed_at IS NULL AND l.expected_completion_at < \(filter.now)
                           AND (l.last_action_at IS NULL OR NOT l.template_key = ANY(\(filter.badgesUntilFirstActionTemplates))))
                       OR (\(badge) = 'past_maximum' AND l.completed_at IS NULL
                           AND EXISTS (SELECT 1 FROM unnest(\(filter.maximumOpen.map(\.template))::TEXT[], \(filter.maximumOpen.map(\.days))::INTEGER[])
                                       AS m(template, days)
                                       WHERE m.template = l.template_key AND l.created_at + m.days * INTERVAL '1 day' < \(filter.now))))
                  AND (\(filter.inCRM)::BOOLEAN IS NULL OR l.in_crm = \(filter.inCRM))
                ORDER BY \(unescaped: order) LIMIT \(page.limit + 1)
                """, logger: logger))
        return Page(rows: rows, limit: page.limit) { PageCursor(createdAt: $0.state.createdAt, id: $0.id.rawValue) }
    }

    /// Stores edited fields of a lead (not its status: that moves only by actions) and notes the
    /// edit in its history. The caller holds the lead's row lock.
    public func update(
        _ lead: Lead, details: LeadDetails, expectedCompletionAt: Date?, unit: TenantUnit.ID?, actor: User.ID, at now: Date,
        in transaction: TenantTransaction
    ) async throws {
        let details = try details.validated(requiringContact: !lead.identityWithheld)
        do {
            try await transaction.connection.rows(
                """
                UPDATE leads SET contact_name = \(details.name), contact_email = \(details.email), contact_phone = \(details.phone),
                    city = \(details.city), region = \(details.region), \(unescaped: LeadTextField.assignments(from: "t.doc")),
                    probability = \(details.probability), target_amount = \(details.targetAmount.map { "\($0)" })::NUMERIC,
                    products = \(try Self.productsJSON(details.products))::JSONB, competitors = \(details.competitors),
                    team = \(details.team),
                    expected_completion_at = \(expectedCompletionAt), assigned_unit_id = \(unit), version = version + 1
                FROM (SELECT \(try Self.textsJSON(details.texts))::TEXT::JSONB AS doc) AS t
                WHERE tenant_id = \(lead.tenantID) AND id = \(lead.id)
                """, logger: logger)
        } catch let error as PSQLError where error.serverInfo?[.constraintName] == "leads_unit_fkey" {
            throw DomainError.invalid("assigned_unit_id", "names no unit of this tenant")
        }
        try await appendHistory(
            lead: lead.id, action: "edit", from: lead.state.status, to: lead.state.status, actor: actor,
            reason: nil, at: now, in: transaction)
    }

    /// Leads of every tenant whose expiry is due at `now`, oldest first. Runs inside
    /// `Database.withSchedulerScan`.
    public func dueExpiries(now: Date, limit: Int, on connection: PostgresConnection) async throws -> [(Tenant.ID, Lead.ID)] {
        let rows = try await connection.rows(
            """
            SELECT tenant_id, id FROM leads
            WHERE expires_at <= \(now) AND completed_at IS NULL AND withdrawn_at IS NULL
            ORDER BY expires_at LIMIT \(limit)
            """, logger: logger)
        var due: [(Tenant.ID, Lead.ID)] = []
        for (tenant, lead) in try rows.decode((Tenant.ID, Lead.ID).self) { due.append((tenant, lead)) }
        return due
    }

    /// Locks the leads among `ids` for a timer pass, in id order, skipping those another worker
    /// holds (it is firing them) and those gone; returns the ids locked.
    public func lockForTimers(_ ids: [Lead.ID], in transaction: TenantTransaction) async throws -> [Lead.ID] {
        guard !ids.isEmpty else { return [] }
        let rows = try await transaction.connection.rows(
            """
            SELECT id FROM leads WHERE tenant_id = \(transaction.tenant) AND id = ANY(\(ids.map(\.rawValue))) AND withdrawn_at IS NULL
            ORDER BY id FOR UPDATE SKIP LOCKED
            """, logger: logger)
        return try rows.decode(Lead.ID.self).map { $0 }
    }

    /// Clears the expiry of leads that cannot expire (their template has no `expire` action, or not
    /// from their status), so they leave the scan.
    public func clearExpiries(_ ids: [Lead.ID], in transaction: TenantTransaction) async throws {
        guard !ids.isEmpty else { return }
        try await transaction.connection.rows(
            "UPDATE leads SET expires_at = NULL WHERE tenant_id = \(transaction.tenant) AND id = ANY(\(ids.map(\.rawValue)))", logger: logger)
    }

    /// Other leads of the same contact (same email, or same phone), newest first, at most 50.
    public func related(to lead: Lead, in transaction: TenantTransaction) async throws -> [Lead] {
        try await Self.leads(
            transaction.connection.rows(
                """
                SELECT \(unescaped: Self.columns) FROM leads AS l
                WHERE l.tenant_id = \(transaction.tenant) AND l.id <> \(lead.id) AND l.withdrawn_at IS NULL
                  AND ((\(lead.details.email)::TEXT IS NOT NULL AND lower(l.contact_email) = lower(\(lead.details.email)))
                    OR (\(lead.details.phone)::TEXT IS NOT NULL AND l.contact_phone = \(lead.details.phone)))
                ORDER BY l.created_at DESC, l.id LIMIT 50
                """, logger: logger))
    }

    /// Leads whose reminder is due, across tenants (the scheduler's scan), oldest due first.
    public func dueReminders(now: Date, limit: Int, on connection: PostgresConnection) async throws -> [(Tenant.ID, Lead.ID)] {
        let rows = try await connection.rows(
            """
            SELECT tenant_id, id FROM leads
            WHERE remind_at <= \(now) AND withdrawn_at IS NULL
            ORDER BY remind_at LIMIT \(limit)
            """, logger: logger)
        return try rows.decode((Tenant.ID, Lead.ID).self)
    }


    /// One lead's outcome of a reminder pass: reminded now (`reminded`) or not, and when its next
    /// reminder is due (`nil`: none).
    public struct ReminderUpdate: Sendable, Encodable {
        public var id: UUID
        public var reminded: Bool
        public var next: Int64?

        public init(_ id: Lead.ID, reminded: Bool, next: Date?) {
            self.id = id.rawValue
            self.reminded = reminded
            self.next = next.map { Int64(($0.timeIntervalSince1970 * 1_000_000).rounded()) }
        }
    }

    /// Records a reminder pass's outcomes for one tenant's leads in one statement: those reminded
    /// get `reminded_at` now; each gets its next due time.
    public func recordReminders(_ updates: [ReminderUpdate], at now: Date, in transaction: TenantTransaction)
        async throws
    {
        guard !updates.isEmpty else { return }
        let document = String(decoding: try JSONEncoder().encode(updates), as: UTF8.self)
        // The rows are taken out of the document first and their ids bound beside it, so the update
        // finds each lead by its primary key under row-level security and whatever the plan (see
        // `applyEdits`).
        try await transaction.connection.rows(
            """
            WITH r AS MATERIALIZED (SELECT * FROM jsonb_to_recordset(\(document)::JSONB) AS r(id UUID, reminded BOOLEAN, next BIGINT))
            UPDATE leads AS l SET reminded_at = CASE WHEN r.reminded THEN \(now) ELSE l.reminded_at END,
                remind_at = hubnet_from_micros(r.next)
            FROM r
            WHERE l.tenant_id = \(transaction.tenant) AND l.id = ANY(\(updates.map(\.id))::UUID[]) AND l.id = r.id
            """, logger: logger)
    }



    /// After a template's stages or intervals changed: each of its open, assigned leads is due again
    /// by its status's new interval (`days[i]` for `statuses[i]`; 0 for none).
    public func rescheduleReminders(
        template key: String, statuses: [String], days: [Int], in transaction: TenantTransaction
    ) async throws {
        try await transaction.connection.rows(
            """
            UPDATE leads l SET remind_at = CASE
                WHEN l.assigned_user_id IS NULL OR l.completed_at IS NOT NULL OR COALESCE(d.days, 0) = 0 THEN NULL
                ELSE GREATEST(l.created_at, l.last_action_at, l.reminded_at) + d.days * INTERVAL '1 day' END
            FROM (SELECT s.status, s.days FROM unnest(\(statuses)::TEXT[], \(days)::INTEGER[]) AS s(status, days)) AS d
            WHERE l.tenant_id = \(transaction.tenant) AND l.template_key = \(key) AND l.status = d.status AND l.withdrawn_at IS NULL
            """, logger: logger)
    }

    /// Stores the outcome of an engine decision, the effects that live in the store (a client in
    /// the hub CRM, a linked opportunity), and its history entry.
    /// - Parameter opportunity: the opportunity to link when the decision links one.
    /// - Parameter lastEntry: the lead's last history entry as read under its lock (`lockForAction`);
    ///   without it the entry is read here.
    /// - Returns: the lead as the update left it (before the effects that follow the update).
    @discardableResult
    public func apply(
        _ decision: WorkflowEngine.Decision, to lead: Lead, template: WorkflowTemplate, actor: User.ID?, reason: String?,
        opportunity: Opportunity.ID? = nil, lastEntry: LeadHistoryEntry?? = nil, at now: Date, in transaction: TenantTransaction
    ) async throws -> Lead? {
        let state = decision.state
        let linked = decision.effects.contains(.linkOpportunity) ? opportunity : nil
        let updated: Lead?
        do {
            updated = try await Self.leads(
                transaction.connection.rows(
                    """
                    UPDATE leads AS l SET status = \(state.status), last_action_at = \(state.lastActionAt)::TIMESTAMPTZ,
                        accepted_at = \(state.acceptedAt)::TIMESTAMPTZ, declined_at = \(state.declinedAt)::TIMESTAMPTZ,
                        completed_at = \(state.completedAt)::TIMESTAMPTZ, expires_at = \(state.expiresAt)::TIMESTAMPTZ,
                        opportunity_id = COALESCE(\(linked)::UUID, l.opportunity_id), archived = \(state.archived),
                        in_crm = \(state.inCRM), assigned_user_id = \(state.assignedUserID)::UUID,
                        remind_at = \(LeadSchedule.nextReminder(state, template: template))::TIMESTAMPTZ, version = l.version + 1
                    WHERE l.tenant_id = \(lead.tenantID) AND l.id = \(lead.id)
                    RETURNING \(unescaped: Self.columns)
                    """, preparedAs: Prepared.Apply.self, logger: logger)
            ).first
        } catch let error as PSQLError where error.violates("leads_opportunity_key") {
            throw DomainError.conflict("opportunity_taken", "that opportunity is linked to another lead")
        }
        if decision.effects.contains(.addToCRM) {
            try await transaction.connection.rows(
                """
                INSERT INTO clients (tenant_id, id, lead_id, name, email, city, created_at)
                VALUES (\(lead.tenantID), \(Client.ID()), \(lead.id), \(lead.details.name), \(lead.details.email),
                    \(lead.details.city), \(now))
                ON CONFLICT ON CONSTRAINT clients_lead_key DO NOTHING
                """, logger: logger)
        }
        try await appendHistory(
            lead: lead.id, action: decision.action, from: decision.from, to: decision.to,
            actor: actor, reason: reason, after: lastEntry, at: now, in: transaction)
        return updated
    }

    /// Deletes a lead; one that other records still point at (a referral made from it, an
    /// opportunity, a client) is refused with `lead_in_use`.
    public func delete(_ id: Lead.ID, in transaction: TenantTransaction) async throws {
        do {
            try await transaction.connection.rows("DELETE FROM leads WHERE tenant_id = \(transaction.tenant) AND id = \(id)", logger: logger)
        } catch let error as PSQLError where error.serverInfo?[.sqlState] == "23503" {
            throw DomainError.conflict(
                "lead_in_use", "the lead was referred on or is linked to other records; it stays for their history (withdraw or close it instead)")
        }
    }

    public func history(of lead: Lead.ID, in transaction: TenantTransaction) async throws -> [LeadHistoryEntry] {
        let rows = try await transaction.connection.rows(
            """
            SELECT seq, action, from_status, to_status, actor_user_id, reason, at, previous_hash, hash
            FROM lead_history WHERE tenant_id = \(transaction.tenant) AND lead_id = \(lead) ORDER BY seq
            """, logger: logger)
        var entries: [LeadHistoryEntry] = []
        for (seq, action, from, to, actor, reason, at, previous, hash) in try rows.decode(
            (Int, String, String?, String, User.ID?, String?, Date, Data, Data).self)
        {
            entries.append(
                LeadHistoryEntry(
                    seq: seq, action: action, fromStatus: from, toStatus: to, actorUserID: actor, reason: reason, at: at,
                    previousHash: Array(previous), hash: Array(hash)))
        }
        return entries
    }

    /// The first entry whose hash does not follow from its content and predecessor, or `nil` when
    /// the chain is intact.
    public static func firstBrokenEntry(_ entries: [LeadHistoryEntry], lead: Lead.ID) -> Int? {
        LeadHistoryEntry.firstBroken(entries, lead: lead)
    }

    static func chainHash(previous: [UInt8], _ canonical: [UInt8]) -> [UInt8] {
        LeadHistoryEntry.chainHash(previous: previous, canonical)
    }

    /// An event on the lead's history that does not change its status (an automatic routing and
    /// why): from and to are the current status. The caller holds the lead's row lock.
    public func recordEvent(
        _ action: String, on lead: Lead, actor: User.ID?, reason: String?, at now: Date, in transaction: TenantTransaction
    ) async throws {
        try await appendHistory(
            lead: lead.id, action: action, from: lead.state.status, to: lead.state.status, actor: actor,
            reason: reason, at: now, in: transaction)
    }

    private func appendHistory(
        lead: Lead.ID, action: String, from: String?, to: String, actor: User.ID?, reason: String?,
        after known: LeadHistoryEntry?? = nil, at: Date, in transaction: TenantTransaction
    ) async throws {
        // The lead row is locked by the caller (or new), so reading the last entry cannot race.
        var seq = 1
        var previous = [UInt8](repeating: 0, count: 32)
        if let known {
            if let known {
                seq = known.seq + 1
                previous = known.hash
            }
        } else {
            let last = try await transaction.connection.rows(
                """
                SELECT seq, hash FROM lead_history WHERE tenant_id = \(transaction.tenant) AND lead_id = \(lead)
                ORDER BY seq DESC LIMIT 1
                """, logger: logger)
            for (lastSeq, hash) in try last.decode((Int, Data).self) {
                seq = lastSeq + 1
                previous = Array(hash)
            }
        }
        // Microsecond precision, as stored, so the hash can be recomputed from what is read back.
        let stamp = Date(timeIntervalSince1970: (at.timeIntervalSince1970 * 1_000_000).rounded() / 1_000_000)
        let hash = Self.chainHash(
            previous: previous,
            LeadHistoryEntry.canonical(
                lead: lead, seq: seq, action: action, fromStatus: from, toStatus: to, actorUserID: actor, reason: reason,
                at: stamp))
        try await transaction.connection.rows(
            """
            INSERT INTO lead_history (tenant_id, lead_id, seq, action, from_status, to_status, actor_user_id, reason, at,
                previous_hash, hash)
            VALUES (\(transaction.tenant), \(lead), \(seq), \(action), \(from)::TEXT, \(to), \(actor)::UUID, \(reason)::TEXT,
                hubnet_from_micros(\(Int64((at.timeIntervalSince1970 * 1_000_000).rounded()))), \(Data(previous)), \(Data(hash)))
            """, preparedAs: Prepared.AppendHistory.self, logger: logger)
    }

    /// A time as the microseconds PostgreSQL stores (`hubnet_from_micros`), as a history entry hashes it.
    static func micros(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1_000_000).rounded()) }

    static func productsJSON(_ products: [ProductInterest]) throws -> String {
        String(decoding: try JSONEncoder().encode(products), as: UTF8.self)
    }

    /// The descriptive fields as one JSON object, read in SQL by `LeadTextField.values(in:)`.
    static func textsJSON(_ texts: LeadTexts) throws -> String {
        String(decoding: try JSONEncoder().encode(texts), as: UTF8.self)
    }

    /// The columns of `columns`, by position in a result.
    struct LeadColumns {
        let id, tenantID, templateKey, status, source, name, email, phone, city, region, probability, targetAmount, products,
            competitors, team, listingID, referralID, sourceTenantID, unitID, userID, createdBy, createdAt, lastActionAt,
            acceptedAt, declinedAt, completedAt, expiresAt, expectedCompletionAt, opportunityID, archived, inCRM, version,
            remindedAt, identityWithheld, erasedAt, openActivities, unitMembers: Int
        let texts: [(field: LeadTextField, position: Int)]

        init(_ at: ColumnPositions) throws {
            (id, tenantID, templateKey, status, source) = (try at("id"), try at("tenant_id"), try at("template_key"), try at("status"), try at("source"))
            (name, email, phone, city, region) = (
                try at("contact_name"), try at("contact_email"), try at("contact_phone"), try at("city"), try at("region")
            )
            (probability, targetAmount, products, competitors, team) = (
                try at("probability"), try at("target_amount"), try at("products"), try at("competitors"), try at("team")
            )
            (listingID, referralID, sourceTenantID, unitID, userID, createdBy) = (
                try at("listing_id"), try at("referral_id"), try at("source_tenant_id"), try at("assigned_unit_id"),
                try at("assigned_user_id"), try at("created_by")
            )
            (createdAt, lastActionAt, acceptedAt, declinedAt, completedAt, expiresAt, expectedCompletionAt) = (
                try at("created_at"), try at("last_action_at"), try at("accepted_at"), try at("declined_at"), try at("completed_at"),
                try at("expires_at"), try at("expected_completion_at")
            )
            (opportunityID, archived, inCRM, version, remindedAt, identityWithheld, erasedAt) = (
                try at("opportunity_id"), try at("archived"), try at("in_crm"), try at("version"), try at("reminded_at"),
                try at("identity_withheld"), try at("erased_at")
            )
            (openActivities, unitMembers) = (try at("open_activities"), try at("unit_members"))
            texts = try LeadTextField.all.map { ($0, try at($0.key)) }
        }
    }

    /// A lead's products as stored (JSON text); most leads have none.
    static func products(_ json: String) throws -> [ProductInterest] {
        json == "[]" ? [] : try JSONDecoder().decode([ProductInterest].self, from: Data(json.utf8))
    }

    static func leads(_ rows: PostgresRows) async throws -> [Lead] {
        guard let first = rows.first else { return [] }
        let at = try LeadColumns(ColumnPositions(first.makeRandomAccess()))
        var leads: [Lead] = []
        leads.reserveCapacity(rows.count)
        for row in rows {
            let r = row.makeRandomAccess()
            let state = LeadState(
                status: try r[at.status].decode(String.self), createdAt: try r[at.createdAt].decode(Date.self),
                lastActionAt: try r[at.lastActionAt].decode(Date?.self), acceptedAt: try r[at.acceptedAt].decode(Date?.self),
                declinedAt: try r[at.declinedAt].decode(Date?.self), completedAt: try r[at.completedAt].decode(Date?.self),
                expiresAt: try r[at.expiresAt].decode(Date?.self),
                expectedCompletionAt: try r[at.expectedCompletionAt].decode(Date?.self),
                opportunityLinked: try r[at.opportunityID].decode(UUID?.self) != nil,
                openActivities: try r[at.openActivities].decode(Int.self),
                assignedUnitMembers: try r[at.unitMembers].decode([User.ID]?.self).map(Set.init)
                    ?? (try r[at.unitID].decode(UUID?.self) != nil ? [] : nil),
                assignedUserID: try r[at.userID].decode(User.ID?.self),
                archived: try r[at.archived].decode(Bool.self), inCRM: try r[at.inCRM].decode(Bool.self),
                remindedAt: try r[at.remindedAt].decode(Date?.self))
            var details = LeadDetails(
                name: try r[at.name].decode(String.self), email: try r[at.email].decode(String?.self),
                phone: try r[at.phone].decode(String?.self), city: try r[at.city].decode(String?.self),
                region: try r[at.region].decode(String?.self), probability: try r[at.probability].decode(Int?.self),
                targetAmount: try r[at.targetAmount].decode(String?.self).flatMap { Decimal(string: $0) },
                products: try Self.products(try r[at.products].decode(String.self)),
                competitors: try r[at.competitors].decode([String].self), team: try r[at.team].decode([User.ID].self))
            for (field, position) in at.texts { details.texts[field] = try r[position].decode(String?.self) }
            leads.append(
                Lead(
                    id: try r[at.id].decode(Lead.ID.self), tenantID: try r[at.tenantID].decode(Tenant.ID.self),
                    templateKey: try r[at.templateKey].decode(String.self),
                    source: LeadSource(rawValue: try r[at.source].decode(String.self)) ?? .manual, details: details,
                    listingID: try r[at.listingID].decode(Listing.ID?.self),
                    assignedUnitID: try r[at.unitID].decode(TenantUnit.ID?.self),
                    createdBy: try r[at.createdBy].decode(User.ID?.self),
                    referralID: try r[at.referralID].decode(Referral.ID?.self),
                    sourceTenantID: try r[at.sourceTenantID].decode(Tenant.ID?.self), state: state,
                    version: try r[at.version].decode(Int.self),
                    identityWithheld: try r[at.identityWithheld].decode(Bool.self),
                    erasedAt: try r[at.erasedAt].decode(Date?.self)))
        }
        return leads
    }
}

/// Which leads a list asks for; every field is optional.
public struct LeadFilter: Sendable {
    public var statuses: [String] = []
    public var templateKey: String?
    public var source: LeadSource?
    public var type: String?
    public var assignedUserID: User.ID?
    public var assignedUnitID: TenantUnit.ID?
    public var createdFrom: Date?
    public var createdTo: Date?
    /// Open leads whose expected completion is on or before this date (003: the overdue retrieval).
    public var overdueAsOf: Date?
    public var contactEmail: String?
    /// Leads whose contact name or email contains this text, in any case.
    public var search: String?
    public var includeArchived = false
    /// Only the leads this user sees through their own work (`hubnet_lead_audience`); `nil` for every lead.
    public var viewer: User.ID?
    public var newestFirst = false
    /// Only leads showing this badge as of `now`.
    public var badge: Badge?
    public var now = Date()
    /// Templates whose badges show only until the first action (hub moderation).
    public var badgesUntilFirstActionTemplates: [String] = []

    /// Each template's maximum open days (004), for the `past_maximum` badge.
    public var maximumOpen: [(template: String, days: Int)] = []
    /// Only leads that did (`true`) or did not (`false`) join the hub CRM (000: the hub's lead table
    /// is `in_crm=false`).
    public var inCRM: Bool?

    public enum Badge: String, Sendable { case new, overdue, pastMaximum = "past_maximum" }

    public init() {}
}
