import Foundation
import HubNetCore
import Logging
import PostgresNIO

/// Referrals across tenants: landing a lead in its target, mirroring the target's progress into the
/// source's row, and withdrawing a referral when the lead goes elsewhere.
public struct PostgresReferralRepository: Sendable {
    public let logger: Logger
    let leads: PostgresLeadRepository
    let templates: PostgresWorkflowTemplateRepository
    let outbox: PostgresOutboxRepository
    let privacy: PostgresPrivacyRepository

    public init(logger: Logger) {
        self.logger = logger
        self.privacy = PostgresPrivacyRepository(logger: logger)
        self.leads = PostgresLeadRepository(logger: logger)
        self.templates = PostgresWorkflowTemplateRepository(logger: logger)
        self.outbox = PostgresOutboxRepository(logger: logger)
    }

    static let columns = """
        id, tenant_id, source_lead_id, target_tenant_id, target_lead_id, target_kind, target_listing_id, created_by,
        created_at, status, status_name, life_cycle, stage, first_action_at, last_action_at, accepted_at, declined_at,
        completed_at, reason, withdrawn_at
        """

    /// Where a referral goes.
    public struct Target: Sendable {
        public var tenant: Tenant.ID
        public var kind: Referral.TargetKind
        public var listing: Listing.ID?
        /// The target organisation's kind when the caller has read it already; read here otherwise.
        public var organisation: Tenant.Kind?

        public init(tenant: Tenant.ID, kind: Referral.TargetKind, listing: Listing.ID?, organisation: Tenant.Kind? = nil) {
            self.tenant = tenant
            self.kind = kind
            self.listing = listing
            self.organisation = organisation
        }
    }

    /// Refers `lead` (held by the source, whose transaction this is, with the lead row locked) to
    /// `target`: a new lead lands in the target's tenant, in its workflow's initial status, and the
    /// source keeps a referral row that will mirror it. A current referral of the same lead must have
    /// ended unanswered or declined; it is then withdrawn and its target loses the lead.
    /// - Parameter links: when given, the target's people who may answer get an email with signed
    ///   links to accept or decline without logging in.
    /// - Parameter expiresAt: when the target's copy expires unanswered (001: settable by API);
    ///   the target template's timer otherwise.
    public func refer(
        _ lead: Lead, to target: Target, by user: User.ID, links: EmailActionLinks? = nil, expiresAt: Date? = nil, now: Date,
        pullbackAt: Date? = nil, hop: Int = 1, pool: UUID? = nil, parties known: Parties? = nil, in transaction: TenantTransaction
    ) async throws -> Referral {
        let source = lead.tenantID
        guard target.tenant != source else {
            throw DomainError.invalid(target.kind == .listing ? "listing_id" : "partner_id", "a lead is referred to another organisation")
        }
        // A shared pool's copies go out together; the caller cleared the lead for the pool.
        if pool == nil, let current = try await current(for: lead.id, in: transaction) {
            guard current.allowsReReferral else {
                throw DomainError.conflict(
                    "already_referred", "the lead is with another organisation until it expires or is declined there")
            }
            try await withdraw(current, at: now, in: transaction)
        }
        let key = target.kind == .listing ? BuiltInTemplates.hubModeration.key : BuiltInTemplates.partnerLead.key
        // The person's details cross only under a consent covering the target now (`VisibilityPolicy`).
        let parties: Parties
        if let known { parties = known } else { parties = try await self.parties(target: target.tenant, source: source, on: transaction.connection) }
        let sourceName = parties.sourceName
        guard let targetKind = target.organisation ?? parties.targetKind else { throw DomainError.notFound("organisation") }
        let consents = try await privacy.consents(of: lead.id, in: transaction)
        let crossing = VisibilityPolicy.crossingDetails(
            lead.details.withoutTeam, to: target.tenant, kind: targetKind, consents: consents, at: now)
        let referralID = Referral.ID()
        let (template, landed) = try await transaction.visiting(target.tenant) { there in
            guard let template = try await templates.template(key, in: there) else {
                throw DomainError.notFound("workflow template")
            }
            let landed = try await leads.create(
                crossing.details, template: template, source: .referral, createdBy: nil,
                listing: target.listing, expiresAt: expiresAt, identityWithheld: crossing.consent == nil,
                referral: (referralID, source), now: now, in: there)
            try await announce(
                landed, referral: referralID, from: sourceName ?? "", template: template, links: links, now: now, in: there)
            return (template, landed)
        }
        let status = template.status(landed.state.status)
        let rows = try await transaction.connection.rows(
            """
            INSERT INTO referrals (tenant_id, id, source_lead_id, target_tenant_id, target_lead_id, target_kind,
                target_listing_id, created_by, created_at, status, status_name, life_cycle, stage, pullback_at, hop, pool_id,
                consent_id)
            VALUES (\(source), \(referralID), \(lead.id), \(target.tenant), \(landed.id), \(target.kind.rawValue),
                \(target.listing)::UUID, \(user)::UUID, \(now), \(landed.state.status), \(status?.name ?? landed.state.status),
                \(status?.lifeCycle.rawValue ?? LifeCycle.pending.rawValue), \(status?.stage)::TEXT, \(pullbackAt)::TIMESTAMPTZ,
                \(hop), \(pool)::UUID, \(crossing.consent)::UUID)
            RETURNING \(unescaped: Self.columns)
            """, preparedAs: Prepared.Create.self, logger: logger)
        guard let referral = try await Self.referrals(rows).first else { throw DomainError.notFound("referral") }
        return referral
    }

    /// The two organisations of a referral as `refer` needs them: the target's kind (`nil`: no such
    /// organisation) and, for the invitations, the source's name.
    public struct Parties: Sendable {
        public var targetKind: Tenant.Kind?
        public var sourceName: String?
    }

    /// Reads `Parties` in one statement (the registry of organisations is readable in any tenant's
    /// transaction); a caller that checks the target's kind first hands them on to `refer`.
    public func parties(target: Tenant.ID, source: Tenant.ID, on connection: PostgresConnection) async throws -> Parties {
        let (kind, name) = try await connection.rows(
            """
            SELECT (SELECT kind FROM tenants WHERE id = \(target)), (SELECT name FROM tenants WHERE id = \(source))
            """, preparedAs: Prepared.KindAndName.self, logger: logger
        ).decode((String?, String?).self).first ?? (nil, nil)
        return Parties(targetKind: kind.flatMap(Tenant.Kind.init(rawValue:)), sourceName: name)
    }

    /// Tells the target of its new lead, in its tenant: its webhooks subscribed to
    /// `referral.received` once, and with `links`, each person who may accept or decline it by
    /// email, with a signed, single-use, expiring link for each answer.
    private func announce(
        _ lead: Lead, referral: Referral.ID, from sourceName: String, template: WorkflowTemplate, links: EmailActionLinks?, now: Date,
        in transaction: TenantTransaction
    ) async throws {
        let event = WebhookEvent(
            event: "referral.received", referralID: referral.description, status: lead.state.status,
            statusName: template.status(lead.state.status)?.name ?? lead.state.status, reason: nil, at: now, leadID: lead.id.description)
        guard let links else {
            try await outbox.enqueue([], event: event.event, webhookBody: try event.json(), now: now, in: transaction)
            return
        }
        let rows = try await transaction.connection.rows(
            """
            SELECT id, email, roles FROM users WHERE tenant_id = \(lead.tenantID) AND deactivated_at IS NULL
            """, logger: logger)
        var recipients: [(User.ID, String, Set<Role>)] = []
        for (id, email, roles) in try rows.decode((User.ID, String, [String]).self) {
            recipients.append((id, email, Set(roles.compactMap(Role.init(rawValue:)))))
        }
        // Every link and every email in one statement each, whatever the number of people.
        var linkIDs: [UUID] = []
        var linkUsers: [UUID] = []
        var linkActions: [String] = []
        var notices: [PostgresOutboxRepository.Notice] = []
        for (userID, email, roles) in recipients {
            let actor = WorkflowActor(userID: userID, roles: roles, side: .owner)
            let offered = WorkflowEngine.availableActions(template, lead: lead.state, actor: actor, now: now).map(\.key)
            let answers = ["accept", "decline"].filter(offered.contains)
            guard !answers.isEmpty else { continue }
            var answerLinks: [String] = []
            for action in answers {
                let id = UUID()
                linkIDs.append(id)
                linkUsers.append(userID.rawValue)
                linkActions.append(action)
                answerLinks.append(
                    "\(action == "accept" ? "Accept" : "Decline"): \(links.url(for: EmailActionToken(tenantID: lead.tenantID, linkID: id)))")
            }
            let notice = NoticeCatalog.Filled(
                NoticeCatalog.referralReceived,
                [
                    "source.name": sourceName, "lead.name": lead.details.name, "answer.links": answerLinks.joined(separator: "\n"),
                    "lead.url": "\(links.baseURL)/leads/\(lead.id)",
                ])
            notices.append(.init(email: email, notice: notice))
        }
        if !linkIDs.isEmpty {
            try await transaction.connection.rows(
                """
                INSERT INTO email_action_links (tenant_id, id, lead_id, user_id, action, created_at, expires_at)
                SELECT \(lead.tenantID), k.id, \(lead.id), k.user_id, k.action, \(now), \(now + links.lifetime)
                FROM unnest(\(linkIDs)::UUID[], \(linkUsers)::UUID[], \(linkActions)::TEXT[]) AS k(id, user_id, action)
                """, logger: logger)
        }
        try await outbox.enqueue(notices, event: event.event, webhookBody: try event.json(), now: now, in: transaction)
    }

    /// The statements of every referral and of every action on a referred lead, kept parsed per
    /// connection (`PreparedStatementKey`; optional values cast to the type Swift sends).
    enum Prepared {
        enum KindAndName: PreparedStatementKey {}
        enum Create: PreparedStatementKey {}
        enum Current: PreparedStatementKey {}
        enum Mirror: PreparedStatementKey {}
        enum MirrorMany: PreparedStatementKey {}
    }

    /// After the target acted on a referred lead (inside the target's transaction), copies its
    /// progress into the source's referral row, enqueues the notice to the referral's creator when
    /// the action notifies (`notifying` is the action's key), and returns to the target's tenant.
    /// `acceptedBefore`: the lead was accepted before this action (its mirror claimed the pool then).
    public func mirror(
        _ lead: Lead, template: WorkflowTemplate, reason: String?, notifying action: String? = nil, acceptedBefore: Bool = false,
        now: Date, in transaction: TenantTransaction
    ) async throws {
        guard let referral = lead.referralID, let source = lead.sourceTenantID else { return }
        let status = template.status(lead.state.status)
        try await transaction.visiting(source) { there in
            // An accepted lead claims its shared pool; one accepted before this action claimed it then.
            if lead.state.acceptedAt != nil, !acceptedBefore { try await claimPool(referral, now: now, in: there) }
            // What a notice needs comes back with the update: the creator's address (while active), the
            // hub's name, and the person's name as the source knows it (the target's copy may be de-identified).
            let updated = try await there.connection.rows(
                """
                UPDATE referrals AS r SET status = \(lead.state.status), status_name = \(status?.name ?? lead.state.status),
                    life_cycle = \(status?.lifeCycle.rawValue ?? LifeCycle.pending.rawValue), stage = \(status?.stage)::TEXT,
                    first_action_at = COALESCE(r.first_action_at, \(lead.state.lastActionAt)::TIMESTAMPTZ),
                    last_action_at = \(lead.state.lastActionAt)::TIMESTAMPTZ, accepted_at = \(lead.state.acceptedAt)::TIMESTAMPTZ,
                    declined_at = \(lead.state.declinedAt)::TIMESTAMPTZ, completed_at = \(lead.state.completedAt)::TIMESTAMPTZ,
                    reason = COALESCE(\(reason)::TEXT, r.reason), pullback_at = NULL
                WHERE r.tenant_id = \(there.tenant) AND r.id = \(referral) AND r.withdrawn_at IS NULL
                RETURNING r.created_by,
                    (SELECT u.email FROM users AS u WHERE u.tenant_id = r.tenant_id AND u.id = r.created_by AND u.deactivated_at IS NULL),
                    (SELECT t.name FROM tenants AS t WHERE t.id = \(lead.tenantID)),
                    (SELECT l.contact_name FROM leads AS l WHERE l.tenant_id = r.tenant_id AND l.id = r.source_lead_id)
                """, preparedAs: Prepared.Mirror.self, logger: logger
            )
            if let action, let (_, email, hubName, sourceName) = try updated.decode((User.ID, String?, String?, String?).self).first {
                let notice = try Self.notice(
                    of: action, on: lead, statusName: status?.name ?? lead.state.status, reason: reason, referral: referral, email: email,
                    hubName: hubName, sourceName: sourceName, now: now)
                try await outbox.enqueue([notice], now: now, in: there)
            }
        }
    }

    /// The notice to a referral's creator (email, when they are active) and the source's webhooks
    /// of the target's action on the referred lead.
    static func notice(
        of action: String, on lead: Lead, statusName: String, reason: String?, referral: Referral.ID, email: String?, hubName: String?,
        sourceName: String?, now: Date
    ) throws -> PostgresOutboxRepository.Message {
        var values = MessageTemplate.values(for: lead, statusName: statusName, hubName: hubName ?? "")
        if lead.identityWithheld, let sourceName {
            // The target's copy is de-identified; the source knows the person by its own lead.
            values["lead.name"] = sourceName
        }
        values["action.name"] = action
        values["action.reason"] = reason.map { "Reason: \($0)" } ?? ""
        let event = WebhookEvent(
            event: "referral.\(action)", referralID: referral.description, status: lead.state.status, statusName: statusName,
            reason: reason, at: now)
        return .init(
            event: event.event, email: email, notice: NoticeCatalog.Filled(NoticeCatalog.referralUpdate, values),
            webhookBody: try event.json())
    }

    /// `mirror` for a batch's actions on referred leads (`LeadBatch.PendingAction`): per source
    /// tenant, the referral rows in one statement and the notices in one more; returns to the
    /// target's tenant. The statement that mirrors first looks whether an accepted copy came from
    /// a shared pool, whose claim may refuse the acceptance: then it mirrors nothing, and this
    /// throws `PoolClaimNeedsStore` back in the target's tenant (for one action, or the first
    /// source, having written nothing), and the caller carries the actions out one at a time
    /// (`mirror(_:template:…)` claims the pool or refuses with `pool_taken`).
    public func mirror(_ actions: [LeadBatch.PendingAction], now: Date, in transaction: TenantTransaction) async throws {
        var bySource: [Tenant.ID: [LeadBatch.PendingAction]] = [:]
        for action in actions where action.after.referralID != nil {
            if let source = action.after.sourceTenantID { bySource[source, default: []].append(action) }
        }
        guard !bySource.isEmpty else { return }
        let home = transaction.tenant
        let sources = bySource.sorted(by: { $0.key.description < $1.key.description })
        _ = try await transaction.visiting(sources, tenant: \.key) { entry, source in
            let actions = entry.value
            let statuses = actions.map { $0.template.status($0.after.state.status) }
            func micros(_ date: Date?) -> Int64? { date.map { Int64(($0.timeIntervalSince1970 * 1_000_000).rounded()) } }
            let mirrorRows = zip(actions, statuses).compactMap { action, status -> MirrorRow? in
                guard let referral = action.after.referralID else { return nil }
                let state = action.after.state
                return MirrorRow(
                    id: referral.rawValue, status: state.status, status_name: status?.name ?? state.status,
                    life_cycle: status?.lifeCycle.rawValue ?? LifeCycle.pending.rawValue, stage: status?.stage,
                    last_action_at: micros(state.lastActionAt), accepted_at: micros(state.acceptedAt),
                    declined_at: micros(state.declinedAt), completed_at: micros(state.completedAt), reason: action.reason,
                    accepting: action.acceptsReferral)
            }
            let rows = try await source.connection.rows(
                try Self.mirrorMany(mirrorRows, source: source.tenant, home: home), preparedAs: Prepared.MirrorMany.self, logger: logger)
            var mirrored: [Referral.ID: (String?, String?, String?)] = [:]
            for (id, email, hubName, sourceName, pooled) in try rows.decode((Referral.ID?, String?, String?, String?, Int).self) {
                if pooled > 0 { throw PoolClaimNeedsStore() }
                if let id { mirrored[id] = (email, hubName, sourceName) }
            }
            var notices: [PostgresOutboxRepository.Message] = []
            for (action, status) in zip(actions, statuses) where action.decision.effects.contains(.notifyReferralCreator) {
                guard let referral = action.after.referralID, let (email, hubName, sourceName) = mirrored[referral] else { continue }
                notices.append(
                    try Self.notice(
                        of: action.decision.action, on: action.after, statusName: status?.name ?? action.after.state.status,
                        reason: action.reason, referral: referral, email: email, hubName: hubName, sourceName: sourceName, now: now))
            }
            try await outbox.enqueue(notices, now: now, in: source)
        }
    }

    /// A batch accepts a copy from a shared pool (`mirror(_:now:on:)`): the caller applies it one
    /// intent at a time (`mirror(_:template:…)` claims the pool or refuses the acceptance with `pool_taken`).
    public struct PoolClaimNeedsStore: Error {
        public init() {}
    }

    /// One referral's new state in `mirror(_:now:on:)` (times in microseconds; a missing key reads as NULL).
    struct MirrorRow: Encodable {
        var id: UUID
        var status, status_name, life_cycle: String
        var stage: String?
        var last_action_at, accepted_at, declined_at, completed_at: Int64?
        var reason: String?
        /// It accepts the copy (a copy from a shared pool is then left to the pool's claim).
        var accepting: Bool
    }

    /// The statement of `mirror(_:now:in:)` for one source tenant: the pool check, then the
    /// referral rows updated with what each notice needs returned.
    ///
    /// Every referral is reached by its key (the ids are bound beside the document, and the pool
    /// check looks each one up), so what it reads depends on the batch, not on how many referrals
    /// the source has ever made. Joined on the document alone, a generic plan (a pooled
    /// connection's, made once) estimated the document at 100 rows and read all of the source's
    /// referrals to hash-join them: in the scale simulation this statement's reads grew from 149
    /// to 338 blocks a call between its days 3–5 and 10–12 (`ReferralMirrorPlanTests`).
    static func mirrorMany(_ rows: [MirrorRow], source: Tenant.ID, home: Tenant.ID) throws -> PostgresQuery {
        let document = String(decoding: try JSONEncoder().encode(rows), as: UTF8.self)
        let ids = rows.map(\.id)
        return """
            WITH m AS MATERIALIZED (
                SELECT * FROM jsonb_to_recordset(\(document)::JSONB) AS m(id UUID, status TEXT, status_name TEXT, life_cycle TEXT,
                    stage TEXT, last_action_at BIGINT, accepted_at BIGINT, declined_at BIGINT, completed_at BIGINT, reason TEXT,
                    accepting BOOLEAN)
            ),
            pooled AS (
                SELECT count(*)::INTEGER AS n FROM m
                WHERE m.accepting AND (SELECT r.pool_id FROM referrals AS r WHERE r.tenant_id = \(source) AND r.id = m.id) IS NOT NULL
            ),
            u AS (
                UPDATE referrals AS r SET status = m.status, status_name = m.status_name, life_cycle = m.life_cycle, stage = m.stage,
                    first_action_at = COALESCE(r.first_action_at, hubnet_from_micros(m.last_action_at)),
                    last_action_at = hubnet_from_micros(m.last_action_at), accepted_at = hubnet_from_micros(m.accepted_at),
                    declined_at = hubnet_from_micros(m.declined_at), completed_at = hubnet_from_micros(m.completed_at),
                    reason = COALESCE(m.reason, r.reason), pullback_at = NULL
                FROM m
                WHERE r.tenant_id = \(source) AND r.id = ANY(\(ids)::UUID[]) AND r.id = m.id AND r.withdrawn_at IS NULL
                    AND (SELECT p.n FROM pooled AS p) = 0
                RETURNING r.id,
                    (SELECT u.email FROM users AS u WHERE u.tenant_id = r.tenant_id AND u.id = r.created_by AND u.deactivated_at IS NULL)
                        AS email,
                    (SELECT t.name FROM tenants AS t WHERE t.id = \(home)) AS hub_name,
                    (SELECT l.contact_name FROM leads AS l WHERE l.tenant_id = r.tenant_id AND l.id = r.source_lead_id) AS source_name
            )
            SELECT u.id, u.email, u.hub_name, u.source_name, p.n FROM pooled AS p LEFT JOIN u ON true
            """
    }

    /// The source's current (not withdrawn) referral of one of its leads.
    public func current(for lead: Lead.ID, in transaction: TenantTransaction) async throws -> Referral? {
        try await Self.referrals(
            transaction.connection.rows(
                """
                SELECT \(unescaped: Self.columns) FROM referrals
                WHERE tenant_id = \(transaction.tenant) AND source_lead_id = \(lead) AND withdrawn_at IS NULL
                ORDER BY created_at DESC LIMIT 1
                """, preparedAs: Prepared.Current.self, logger: logger)
        ).first
    }

    public func get(_ id: Referral.ID, in transaction: TenantTransaction) async throws -> Referral? {
        try await Self.referrals(
            transaction.connection.rows(
                "SELECT \(unescaped: Self.columns) FROM referrals WHERE tenant_id = \(transaction.tenant) AND id = \(id)", logger: logger)
        ).first
    }

    public func list(page: PageRequest, in transaction: TenantTransaction) async throws -> Page<Referral> {
        let after = page.after ?? .start
        let rows = try await Self.referrals(
            transaction.connection.rows(
                """
                SELECT \(unescaped: Self.columns) FROM referrals
                WHERE tenant_id = \(transaction.tenant) AND (created_at, id) > (hubnet_from_micros(\(after.microseconds)), \(after.id))
                ORDER BY created_at, id LIMIT \(page.limit + 1)
                """, logger: logger))
        return Page(rows: rows, limit: page.limit) { PageCursor(createdAt: $0.createdAt, id: $0.id.rawValue) }
    }

    /// Every referral of the tenant, for the outcome report.
    public func all(in transaction: TenantTransaction) async throws -> [Referral] {
        try await Self.referrals(
            transaction.connection.rows("SELECT \(unescaped: Self.columns) FROM referrals WHERE tenant_id = \(transaction.tenant)", logger: logger))
    }

    /// The target lead's history, read in the target's rows on behalf of the source, which may see
    /// it (`VisibilityPolicy`); returns to the source's tenant.
    public func targetHistory(of referral: Referral, in transaction: TenantTransaction) async throws -> [LeadHistoryEntry] {
        try await transaction.visiting(referral.targetTenantID) { there in
            try await leads.history(of: referral.targetLeadID, in: there)
        }
    }

    /// Whether the tenant has sent a referral to `other` or received one from it.
    public func exchanged(with other: Tenant.ID, in transaction: TenantTransaction) async throws -> Bool {
        let rows = try await transaction.connection.rows(
            """
            SELECT EXISTS (SELECT 1 FROM referrals WHERE tenant_id = \(transaction.tenant) AND target_tenant_id = \(other))
                OR EXISTS (SELECT 1 FROM leads WHERE tenant_id = \(transaction.tenant) AND source_tenant_id = \(other))
            """, logger: logger)
        for (exchanged,) in try rows.decode((Bool,).self) { return exchanged }
        return false
    }

    /// The target's lead of a referral it received and still holds (not withdrawn), by the
    /// referral's id; `nil` for any other id.
    public func incomingLead(_ id: Referral.ID, in transaction: TenantTransaction) async throws -> Lead? {
        let rows = try await transaction.connection.rows(
            """
            SELECT id FROM leads WHERE tenant_id = \(transaction.tenant) AND referral_id = \(id) AND withdrawn_at IS NULL
            """, logger: logger)
        for (leadID,) in try rows.decode((Lead.ID,).self) {
            return try await leads.get(leadID, in: transaction)
        }
        return nil
    }

    /// The source's records of referrals its target holds as `received` (leads of the target's
    /// tenant), read in each source's rows on the target's behalf; returns to the target's tenant.
    /// The mirror is updated in the transaction of every target action, so it is the lead's state.
    public func mirrors(of received: [Lead], in transaction: TenantTransaction) async throws -> [Referral.ID: Referral] {
        var bySource: [Tenant.ID: [Referral.ID]] = [:]
        for lead in received {
            if let source = lead.sourceTenantID, let id = lead.referralID { bySource[source, default: []].append(id) }
        }
        guard !received.isEmpty else { return [:] }
        let home = transaction.tenant
        var result: [Referral.ID: Referral] = [:]
        let sources = bySource.sorted(by: { $0.key.description < $1.key.description })
        _ = try await transaction.visiting(sources, tenant: \.key) { entry, source in
            let rows = try await Self.referrals(
                source.connection.rows(
                    """
                    SELECT \(unescaped: Self.columns) FROM referrals
                    WHERE tenant_id = \(source.tenant) AND id = ANY(\(entry.value.map(\.rawValue))) AND target_tenant_id = \(home)
                    """, logger: logger))
            for referral in rows { result[referral.id] = referral }
        }
        return result
    }

    /// Opens a shared pool for one routing of a source lead.
    public func openPool(for lead: Lead.ID, now: Date, in transaction: TenantTransaction) async throws -> UUID {
        let id = UUID()
        try await transaction.connection.rows(
            "INSERT INTO referral_pools (tenant_id, id, source_lead_id, created_at) VALUES (\(transaction.tenant), \(id), \(lead), \(now))",
            logger: logger)
        return id
    }

    /// The source's current referral of the lead, withdrawn when it may go elsewhere (ended
    /// unanswered or declined); `already_referred` otherwise. For routings that make their own
    /// referrals (a shared pool).
    public func clearForReferral(_ lead: Lead.ID, now: Date, in transaction: TenantTransaction) async throws {
        for current in try await currentAll(for: lead, in: transaction) {
            guard current.allowsReReferral else {
                throw DomainError.conflict("already_referred", "the lead is with another organisation until it expires or is declined there")
            }
            try await withdraw(current, at: now, in: transaction)
        }
    }

    private func currentAll(for lead: Lead.ID, in transaction: TenantTransaction) async throws -> [Referral] {
        try await Self.referrals(
            transaction.connection.rows(
                """
                SELECT \(unescaped: Self.columns) FROM referrals
                WHERE tenant_id = \(transaction.tenant) AND source_lead_id = \(lead) AND withdrawn_at IS NULL
                """, logger: logger))
    }

    /// When a target accepts a copy from a shared pool (in its transaction, in the source's rows):
    /// claims the pool, or refuses with `pool_taken` when another partner won it (the accept is
    /// rolled back with the transaction). The winner withdraws the other copies; one whose target
    /// is in the middle of its own accept (its row locked) is marked for the timer pass to release.
    private func claimPool(_ referral: Referral.ID, now: Date, in transaction: TenantTransaction) async throws {
        let source = transaction.tenant
        let rows = try await transaction.connection.rows(
            """
            SELECT pool_id, accepted_at IS NOT NULL, withdrawn_at IS NOT NULL FROM referrals
            WHERE tenant_id = \(source) AND id = \(referral)
            """, logger: logger)
        guard let (poolID, alreadyAccepted, withdrawn) = try rows.decode((UUID?, Bool, Bool).self).first(where: { _ in true }),
            let pool = poolID, !alreadyAccepted
        else { return }
        let taken = DomainError.conflict("pool_taken", "another partner accepted this lead first; it is no longer offered to you")
        if withdrawn { throw taken }
        // The pool row's lock serialises concurrent accepts: a later one waits, then finds a winner.
        let won = try await transaction.connection.rows(
            """
            UPDATE referral_pools SET winner_referral_id = \(referral), won_at = \(now)
            WHERE tenant_id = \(source) AND id = \(pool) AND winner_referral_id IS NULL RETURNING id
            """, logger: logger)
        guard try won.decode(UUID.self).first(where: { _ in true }) != nil else { throw taken }
        let losers = try await transaction.connection.rows(
            """
            UPDATE referrals SET withdrawn_at = \(now), pullback_at = NULL
            WHERE tenant_id = \(source) AND pool_id = \(pool) AND id <> \(referral) AND withdrawn_at IS NULL
            RETURNING id, target_tenant_id, target_lead_id
            """, logger: logger)
        let copies = try losers.decode((Referral.ID, Tenant.ID, Lead.ID).self).map { $0 }
        let released = try await transaction.visiting(copies, tenant: \.1) { copy, target in
            try await releaseCopy(copy.2, now: now, in: target)
        }
        let pending = zip(copies, released).filter { !$0.1 }.map(\.0.0)
        if !pending.isEmpty {
            try await transaction.connection.rows(
                "UPDATE referrals SET release_pending = true WHERE tenant_id = \(source) AND id = ANY(\(pending.map(\.rawValue)))",
                logger: logger)
        }
    }

    /// Withdraws a target's copy unless its row is locked (its target is acting on it right now),
    /// in the target's tenant (`TenantTransaction.visiting`). Returns whether it was released.
    private func releaseCopy(_ lead: Lead.ID, now: Date, in transaction: TenantTransaction) async throws -> Bool {
        let locked = try await transaction.connection.rows(
            "SELECT id FROM leads WHERE tenant_id = \(transaction.tenant) AND id = \(lead) FOR UPDATE SKIP LOCKED", logger: logger)
        guard try locked.decode(Lead.ID.self).first(where: { _ in true }) != nil else { return false }
        try await transaction.connection.rows(
            "UPDATE leads SET withdrawn_at = \(now) WHERE tenant_id = \(transaction.tenant) AND id = \(lead) AND withdrawn_at IS NULL",
            logger: logger)
        return true
    }

    /// Shared-pool copies left to release, of every tenant (scheduler scan).
    public func pendingReleases(limit: Int, on connection: PostgresConnection) async throws -> [(Tenant.ID, Referral.ID)] {
        let rows = try await connection.rows(
            "SELECT tenant_id, id FROM referrals WHERE release_pending LIMIT \(limit)", logger: logger)
        return try rows.decode((Tenant.ID, Referral.ID).self).map { ($0.0, $0.1) }
    }

    /// Releases one loser's copy (in the source's transaction); `false` when it is still locked.
    public func release(_ id: Referral.ID, now: Date, in transaction: TenantTransaction) async throws -> Bool {
        let rows = try await transaction.connection.rows(
            """
            SELECT target_tenant_id, target_lead_id FROM referrals WHERE tenant_id = \(transaction.tenant) AND id = \(id) AND release_pending
            FOR UPDATE SKIP LOCKED
            """, logger: logger)
        guard let (target, lead) = try rows.decode((Tenant.ID, Lead.ID).self).first(where: { _ in true }) else { return false }
        let released = try await transaction.visiting(target) { there in
            try await releaseCopy(lead, now: now, in: there)
        }
        if released {
            try await transaction.connection.rows("UPDATE referrals SET release_pending = false WHERE tenant_id = \(transaction.tenant) AND id = \(id)", logger: logger)
        }
        return released
    }

    /// Routed referrals whose pullback time has come, of every tenant (scheduler scan).
    public func duePullbacks(now: Date, limit: Int, on connection: PostgresConnection) async throws -> [(Tenant.ID, Referral.ID)] {
        let rows = try await connection.rows(
            """
            SELECT tenant_id, id FROM referrals WHERE pullback_at <= \(now) AND withdrawn_at IS NULL
            ORDER BY pullback_at LIMIT \(limit)
            """, logger: logger)
        var due: [(Tenant.ID, Referral.ID)] = []
        for (tenant, id) in try rows.decode((Tenant.ID, Referral.ID).self) { due.append((tenant, id)) }
        return due
    }

    /// Locks a referral with a pending pullback for the timer (`nil` when another worker holds it
    /// or it no longer has one), with its hop.
    public func lockForPullback(_ id: Referral.ID, in transaction: TenantTransaction) async throws
        -> (Referral, hop: Int, due: Date)?
    {
        let rows = try await transaction.connection.rows(
            """
            SELECT hop, pullback_at FROM referrals
            WHERE tenant_id = \(transaction.tenant) AND id = \(id) AND withdrawn_at IS NULL AND pullback_at IS NOT NULL
            FOR UPDATE SKIP LOCKED
            """, logger: logger)
        for (hop, due) in try rows.decode((Int, Date).self) {
            guard let referral = try await get(id, in: transaction) else { return nil }
            return (referral, hop, due)
        }
        return nil
    }

    public func clearPullback(_ id: Referral.ID, in transaction: TenantTransaction) async throws {
        try await transaction.connection.rows("UPDATE referrals SET pullback_at = NULL WHERE tenant_id = \(transaction.tenant) AND id = \(id)", logger: logger)
    }

    /// Takes a routed lead back from a target that did not act in time: the referral is withdrawn
    /// (the target loses the lead: 404, dropped from its devices) and the target's people who could
    /// have answered are told. Runs in the source's transaction and returns to it.
    public func pullBack(_ referral: Referral, leadName: String, sla: String, at now: Date, in transaction: TenantTransaction) async throws {
        try await clearPullback(referral.id, in: transaction)
        try await withdrawRow(referral, in: transaction, at: now)
        try await transaction.visiting(referral.targetTenantID) { there in
            try await withdrawCopy(referral, at: now, in: there)
            let rows = try await there.connection.rows(
                """
                SELECT email FROM users WHERE tenant_id = \(referral.targetTenantID) AND deactivated_at IS NULL
                    AND roles && ARRAY['admin', 'partner_user', 'moderator']
                """, logger: logger)
            let event = WebhookEvent(
                event: "referral.pulled_back", referralID: referral.id.description, status: referral.status,
                statusName: referral.statusName, reason: "no action within \(sla)", at: now)
            let notice = NoticeCatalog.Filled(NoticeCatalog.leadWithdrawn, ["lead.name": leadName, "sla.text": sla])
            // An email to each of its people, and the event once to each subscribed webhook.
            try await outbox.enqueue(
                try rows.decode(String.self).map { PostgresOutboxRepository.Notice(email: $0, notice: notice) }, event: event.event,
                webhookBody: try event.json(), now: now, in: there)
        }
    }

    /// The organisations a lead of the source has been referred to, withdrawn or not.
    public func targets(ofLead lead: Lead.ID, in transaction: TenantTransaction) async throws -> Set<Tenant.ID> {
        let rows = try await transaction.connection.rows(
            "SELECT target_tenant_id FROM referrals WHERE tenant_id = \(transaction.tenant) AND source_lead_id = \(lead)", logger: logger)
        return Set(try rows.decode(Tenant.ID.self).map { $0 })
    }

    /// Tells the referral's creator, in the source's transaction.
    public func notifyCreator(
        of referral: Referral, event name: String, notice: NoticeCatalog.Filled, reason: String, now: Date,
        in transaction: TenantTransaction
    ) async throws {
        let email = try await transaction.connection.rows(
            """
            SELECT email FROM users WHERE tenant_id = \(referral.sourceTenantID) AND id = \(referral.createdBy) AND deactivated_at IS NULL
            """, logger: logger
        ).first?.decode(String.self)
        let event = WebhookEvent(
            event: name, referralID: referral.id.description, status: referral.status, statusName: referral.statusName, reason: reason,
            at: now)
        try await outbox.enqueue(
            event: name, email: email, notice: notice, webhookBody: try event.json(), now: now,
            in: transaction)
    }

    /// Withdraws a referral: the source's row, then the target's copy (in the target's rows).
    private func withdraw(_ referral: Referral, at now: Date, in transaction: TenantTransaction) async throws {
        try await withdrawRow(referral, in: transaction, at: now)
        try await transaction.visiting(referral.targetTenantID) { there in
            try await withdrawCopy(referral, at: now, in: there)
        }
    }

    /// The source's side of `withdraw`, in the source's transaction.
    private func withdrawRow(_ referral: Referral, in transaction: TenantTransaction, at now: Date) async throws {
        try await transaction.connection.rows(
            "UPDATE referrals SET withdrawn_at = \(now) WHERE tenant_id = \(transaction.tenant) AND id = \(referral.id)",
            logger: logger)
    }

    /// The target's side of `withdraw`, in the target's rows.
    private func withdrawCopy(_ referral: Referral, at now: Date, in transaction: TenantTransaction) async throws {
        try await transaction.connection.rows(
            """
            UPDATE leads SET withdrawn_at = \(now)
            WHERE tenant_id = \(transaction.tenant) AND id = \(referral.targetLeadID)
            """, logger: logger)
    }

    static func referrals(_ rows: PostgresRows) async throws -> [Referral] {
        var result: [Referral] = []
        for row in rows {
            let r = row.makeRandomAccess()
            result.append(
                Referral(
                    id: try r["id"].decode(Referral.ID.self), sourceTenantID: try r["tenant_id"].decode(Tenant.ID.self),
                    sourceLeadID: try r["source_lead_id"].decode(Lead.ID?.self),
                    targetTenantID: try r["target_tenant_id"].decode(Tenant.ID.self),
                    targetLeadID: try r["target_lead_id"].decode(Lead.ID.self),
                    targetKind: Referral.TargetKind(rawValue: try r["target_kind"].decode(String.self)) ?? .listing,
                    targetListingID: try r["target_listing_id"].decode(Listing.ID?.self),
                    createdBy: try r["created_by"].decode(User.ID.self), createdAt: try r["created_at"].decode(Date.self),
                    status: try r["status"].decode(String.self), statusName: try r["status_name"].decode(String.self),
                    lifeCycle: LifeCycle(rawValue: try r["life_cycle"].decode(String.self)) ?? .pending,
                    stage: try r["stage"].decode(String?.self), firstActionAt: try r["first_action_at"].decode(Date?.self),
                    lastActionAt: try r["last_action_at"].decode(Date?.self), acceptedAt: try r["accepted_at"].decode(Date?.self),
                    declinedAt: try r["declined_at"].decode(Date?.self), completedAt: try r["completed_at"].decode(Date?.self),
                    reason: try r["reason"].decode(String?.self), withdrawnAt: try r["withdrawn_at"].decode(Date?.self)))
        }
        return result
    }
}

/// The JSON a webhook receives.
struct WebhookEvent: Encodable {
    var event: String
    var referralID: String
    var status: String
    var statusName: String
    var reason: String?
    var at: Date
    /// The lead the receiving tenant holds (`referral.received`: its new copy).
    var leadID: String? = nil

    enum CodingKeys: String, CodingKey {
        case event, referralID = "referral_id", status, statusName = "status_name", reason, at, leadID = "lead_id"
    }

    func json() throws -> String {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }
}

extension LeadDetails {
    /// The details another organisation receives: the lead team is made of the source's users.
    var withoutTeam: LeadDetails {
        var details = self
        details.team = []
        return details
    }
}
