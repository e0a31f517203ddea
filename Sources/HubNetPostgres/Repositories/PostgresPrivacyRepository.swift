import Foundation
import HubNetCore
import Logging
import PostgresNIO

/// Consent records, the de-identification of copies whose consent lapsed, duplicate matching by
/// keyed hashes, and the access log. Every method runs inside a tenant transaction unless it says
/// it scans for the scheduler.
public struct PostgresPrivacyRepository: Sendable {
    public let logger: Logger
    let outbox: PostgresOutboxRepository

    public init(logger: Logger) {
        self.logger = logger
        self.outbox = PostgresOutboxRepository(logger: logger)
    }

    static let columns = """
        id, lead_id, scope, scope_tenant_id, scope_kind, purpose, method, recorded_by, obtained_at, expires_at, created_at, withdrawn_at
        """

    // MARK: Consent

    public func record(_ consent: Consent, in transaction: TenantTransaction) async throws {
        let (scopeTenant, scopeKind): (Tenant.ID?, String?) =
            switch consent.scope {
            case .organisation(let id): (id, nil)
            case .kind(let kind): (nil, kind.rawValue)
            case .network: (nil, nil)
            }
        try await transaction.connection.rows(
            """
            INSERT INTO lead_consents (tenant_id, id, lead_id, scope, scope_tenant_id, scope_kind, purpose, method,
                recorded_by, obtained_at, expires_at, created_at)
            VALUES (\(transaction.tenant), \(consent.id), \(consent.leadID), \(consent.scope.name), \(scopeTenant)::UUID, \(scopeKind)::TEXT,
                \(consent.purpose), \(consent.method.rawValue), \(consent.recordedBy)::UUID, \(consent.obtainedAt),
                \(consent.expiresAt)::TIMESTAMPTZ, \(consent.createdAt))
            """, preparedAs: RecordConsent.self, logger: logger)
    }

    /// A lead's consents, oldest first.
    public func consents(of lead: Lead.ID, in transaction: TenantTransaction) async throws -> [Consent] {
        try await Self.consents(
            transaction.connection.rows(
                """
                SELECT \(unescaped: Self.columns) FROM lead_consents
                WHERE tenant_id = \(transaction.tenant) AND lead_id = \(lead) ORDER BY created_at, id
                """, preparedAs: LeadConsents.self, logger: logger))
    }

    /// A lead form's consent and a referral's read of its lead's consents (a few rows), kept parsed
    /// per connection (`PreparedStatementKey`).
    enum RecordConsent: PreparedStatementKey {}
    enum LeadConsents: PreparedStatementKey {}

    /// Marks a consent withdrawn (once) and returns it; `nil` for a consent the lead does not have.
    public func withdraw(_ id: Consent.ID, lead: Lead.ID, by user: User.ID, now: Date, in transaction: TenantTransaction)
        async throws -> Consent?
    {
        try await Self.consents(
            transaction.connection.rows(
                """
                UPDATE lead_consents SET withdrawn_at = COALESCE(withdrawn_at, \(now)),
                    withdrawn_by = COALESCE(withdrawn_by, \(user))
                WHERE tenant_id = \(transaction.tenant) AND id = \(id) AND lead_id = \(lead)
                RETURNING \(unescaped: Self.columns)
                """, logger: logger)
        ).first
    }

    /// Consents of every tenant withdrawn or expired and not yet carried out (scheduler scan).
    public func dueLapses(now: Date, limit: Int, on connection: PostgresConnection) async throws -> [(Tenant.ID, Consent.ID)] {
        let rows = try await connection.rows(
            """
            SELECT tenant_id, id FROM lead_consents
            WHERE lapsed_at IS NULL AND (withdrawn_at IS NOT NULL OR expires_at <= \(now))
            ORDER BY COALESCE(withdrawn_at, expires_at) LIMIT \(limit)
            """, logger: logger)
        var due: [(Tenant.ID, Consent.ID)] = []
        for (tenant, id) in try rows.decode((Tenant.ID, Consent.ID).self) { due.append((tenant, id)) }
        return due
    }

    /// Carries out a withdrawn or expired consent (in the source's transaction): every current
    /// referral that crossed under it and is not covered by another valid consent has its target's
    /// copy de-identified (the change log takes the update to the target's devices, replacing the
    /// person's details there), and the target's people who answer referrals are told by email.
    /// Returns the targets' copies it de-identified; `nil` when another worker holds the consent or
    /// it was already carried out.
    @discardableResult
    public func lapse(_ id: Consent.ID, now: Date, in transaction: TenantTransaction) async throws -> [Lead.ID]? {
        let locked = try await Self.consents(
            transaction.connection.rows(
                """
                SELECT \(unescaped: Self.columns) FROM lead_consents
                WHERE tenant_id = \(transaction.tenant) AND id = \(id) AND lapsed_at IS NULL
                FOR UPDATE SKIP LOCKED
                """, logger: logger))
        guard let consent = locked.first, consent.hasLapsed(at: now) else { return nil }
        try await transaction.connection.rows(
            "UPDATE lead_consents SET lapsed_at = \(now) WHERE tenant_id = \(transaction.tenant) AND id = \(id)", logger: logger)
        let others = try await consents(of: consent.leadID, in: transaction).filter { $0.id != consent.id }
        let referralRows = try await transaction.connection.rows(
            """
            SELECT r.id, r.target_tenant_id, r.target_lead_id, t.kind FROM referrals r JOIN tenants t ON t.id = r.target_tenant_id
            WHERE r.tenant_id = \(transaction.tenant) AND r.consent_id = \(id) AND r.withdrawn_at IS NULL
            """, logger: logger)
        var redacted: [Lead.ID] = []
        for (referral, target, targetLead, kindName) in try referralRows.decode((Referral.ID, Tenant.ID, Lead.ID, String).self) {
            let kind = Tenant.Kind(rawValue: kindName) ?? .partnerCompany
            if let other = others.first(where: { $0.covers(target, kind: kind, at: now) }) {
                try await transaction.connection.rows(
                    "UPDATE referrals SET consent_id = \(other.id) WHERE tenant_id = \(transaction.tenant) AND id = \(referral)", logger: logger)
                continue
            }
            try await transaction.connection.rows(
                "UPDATE referrals SET consent_id = NULL WHERE tenant_id = \(transaction.tenant) AND id = \(referral)", logger: logger)
            let changed = try await transaction.visiting(target) { there in
                let changed = try await there.connection.rows(
                    """
                    UPDATE leads SET contact_name = \(LeadDetails.withheldName), contact_email = NULL, contact_phone = NULL,
                        identity_withheld = true
                    WHERE tenant_id = \(there.tenant) AND id = \(targetLead) AND referral_id = \(referral) AND NOT identity_withheld
                    RETURNING id
                    """, logger: logger)
                guard !changed.isEmpty else { return false }
                let notice = NoticeCatalog.Filled(
                    NoticeCatalog.consentLapsed,
                    ["consent.change": consent.withdrawnAt != nil ? "was withdrawn" : "expired", "referral.id": referral.description])
                try await notify(event: "referral.consent_lapsed", notice: notice, now: now, in: there)
                return true
            }
            if changed { redacted.append(targetLead) }
        }
        return redacted
    }

    /// The target of a de-identified referral asks the source for the person's consent: the
    /// referral's creator is emailed (in the target's transaction; returns to it).
    public func requestConsent(for lead: Lead, now: Date, in transaction: TenantTransaction) async throws {
        guard let referral = lead.referralID, let source = lead.sourceTenantID else {
            throw DomainError.conflict("not_referred", "only a referred lead's consent can be requested from its source")
        }
        guard lead.identityWithheld else {
            throw DomainError.conflict("consent_present", "the lead already carries the person's details")
        }
        let targetName = try await transaction.connection.rows("SELECT name FROM tenants WHERE id = \(transaction.tenant)", logger: logger)
            .first?.decode(String.self) ?? ""
        try await transaction.visiting(source) { there in
            let rows = try await there.connection.rows(
                """
                SELECT u.email, l.contact_name FROM referrals r
                JOIN leads l ON l.tenant_id = r.tenant_id AND l.id = r.source_lead_id
                LEFT JOIN users u ON u.tenant_id = r.tenant_id AND u.id = r.created_by AND u.deactivated_at IS NULL
                WHERE r.tenant_id = \(there.tenant) AND r.id = \(referral) AND r.withdrawn_at IS NULL
                """, logger: logger)
            for (email, name) in try rows.decode((String?, String).self) {
                if let email {
                    let notice = NoticeCatalog.Filled(
                        NoticeCatalog.consentRequested, ["target.name": targetName, "lead.name": name, "referral.id": referral.description])
                    try await outbox.enqueueEmail(
                        event: "referral.consent_requested", to: email, notice: notice, now: now, in: there)
                }
            }
        }
    }

    /// Emails the people of the transaction's tenant who answer referrals (admins, moderators, partner users).
    private func notify(event: String, notice: NoticeCatalog.Filled, now: Date, in transaction: TenantTransaction)
        async throws
    {
        let emails = try await transaction.connection.rows(
            """
            SELECT email FROM users WHERE tenant_id = \(transaction.tenant) AND deactivated_at IS NULL
              AND roles && ARRAY['admin', 'moderator', 'partner_user']::TEXT[]
            ORDER BY email
            """, logger: logger
        ).decode(String.self)
        guard !emails.isEmpty else { return }
        let text = try await outbox.written([notice], in: transaction)[0]
        for email in emails {
            try await outbox.enqueueEmail(
                event: event, to: email, subject: text.subject, body: text.body, now: now, in: transaction)
        }
    }

    static func consents(_ rows: PostgresRows) async throws -> [Consent] {
        var consents: [Consent] = []
        for row in rows {
            let r = row.makeRandomAccess()
            let scope: Consent.Scope
            switch try r["scope"].decode(String.self) {
            case "organisation":
                guard let id = try r["scope_tenant_id"].decode(Tenant.ID?.self) else { continue }
                scope = .organisation(id)
            case "kind":
                guard let kind = Tenant.Kind(rawValue: try r["scope_kind"].decode(String?.self) ?? "") else { continue }
                scope = .kind(kind)
            default:
                scope = .network
            }
            consents.append(
                Consent(
                    id: try r["id"].decode(Consent.ID.self), leadID: try r["lead_id"].decode(Lead.ID.self), scope: scope,
                    purpose: try r["purpose"].decode(String.self),
                    method: Consent.Method(rawValue: try r["method"].decode(String.self)) ?? .written,
                    recordedBy: try r["recorded_by"].decode(User.ID?.self), obtainedAt: try r["obtained_at"].decode(Date.self),
                    expiresAt: try r["expires_at"].decode(Date?.self), createdAt: try r["created_at"].decode(Date.self),
                    withdrawnAt: try r["withdrawn_at"].decode(Date?.self)))
        }
        return consents
    }

    // MARK: Duplicate matching

    /// How many other organisations hold a lead with the same email or phone (by keyed hash; no
    /// field of theirs is read), and this tenant's other leads with the same keys.
    public func matches(of lead: Lead.ID, in transaction: TenantTransaction) async throws
        -> (organisations: Int, leads: [Lead.ID])
    {
        let rows = try await transaction.connection.rows(
            """
            SELECT hubnet_known_elsewhere(l.tenant_id, l.email_key, l.phone_key),
                ARRAY(SELECT o.id FROM leads o
                      WHERE o.tenant_id = l.tenant_id AND o.id <> l.id
                        AND ((l.email_key IS NOT NULL AND o.email_key = l.email_key)
                          OR (l.phone_key IS NOT NULL AND o.phone_key = l.phone_key))
                      ORDER BY o.created_at, o.id)
            FROM leads l WHERE l.tenant_id = \(transaction.tenant) AND l.id = \(lead)
            """, logger: logger)
        for (count, leads) in try rows.decode((Int, [Lead.ID]).self) { return (count, leads) }
        throw DomainError.notFound("lead")
    }

    /// The tenant's leads whose email or phone matches (by keyed hash), for a subject access export.
    public func leads(matchingEmail email: String?, phone: String?, in transaction: TenantTransaction)
        async throws -> [Lead.ID]
    {
        try await transaction.connection.rows(
            """
            SELECT id FROM leads
            WHERE tenant_id = \(transaction.tenant)
              AND ((email_key IS NOT NULL AND email_key = hubnet_match_key('email', \(email)))
                OR (phone_key IS NOT NULL AND phone_key = hubnet_match_key('phone', \(phone))))
            ORDER BY created_at, id
            """, logger: logger
        ).decode(Lead.ID.self)
    }

    // MARK: Access log

    public enum Channel: String, Sendable { case api, list, console, export, snapshot }

    public struct Access: Sendable, Equatable {
        public var at: Date
        public var userID: User.ID?
        public var deviceID: Device.ID?
        public var channel: String
    }

    /// Records that `user` read the personal data of `leads` (nothing for an empty list).
    public func logAccess(
        _ leads: [Lead.ID], channel: Channel, user: User.ID?, device: Device.ID? = nil, now: Date,
        in transaction: TenantTransaction
    ) async throws {
        guard !leads.isEmpty else { return }
        try await transaction.connection.rows(
            """
            INSERT INTO lead_access_log (tenant_id, at, user_id, device_id, channel, lead_ids)
            VALUES (\(transaction.tenant), \(now), \(user), \(device), \(channel.rawValue), \(leads))
            """, logger: logger)
    }

    /// Who read a lead's personal data, oldest first.
    public func accessLog(of lead: Lead.ID, in transaction: TenantTransaction) async throws -> [Access] {
        let rows = try await transaction.connection.rows(
            """
            SELECT at, user_id, device_id, channel FROM lead_access_log
            WHERE tenant_id = \(transaction.tenant) AND lead_ids @> ARRAY[\(lead)]::UUID[]
            ORDER BY id
            """, logger: logger)
        var log: [Access] = []
        for (at, user, device, channel) in try rows.decode((Date, User.ID?, Device.ID?, String).self) {
            log.append(Access(at: at, userID: user, deviceID: device, channel: channel))
        }
        return log
    }
}

extension PostgresPrivacyRepository {
    /// Where a copy of one of the tenant's leads went: each referral made of it, to whom, when,
    /// and whether the person's details crossed (under which consent) or a de-identified copy.
    public struct Copy: Sendable {
        public var referralID: Referral.ID
        public var leadID: Lead.ID
        public var organisationID: Tenant.ID
        public var organisationName: String
        public var sentAt: Date
        public var statusName: String
        public var withdrawnAt: Date?
        public var consentID: Consent.ID?
        /// Whether the target's copy holds the person's details now.
        public var identityShared: Bool
    }

    /// The referrals the tenant made of `leads`, oldest first (in the tenant's transaction; reads
    /// only the flag of each target copy through the referral row, never its fields).
    public func copies(of leads: [Lead.ID], in transaction: TenantTransaction) async throws -> [Copy] {
        guard !leads.isEmpty else { return [] }
        let rows = try await transaction.connection.rows(
            """
            SELECT r.id, r.source_lead_id, r.target_tenant_id, t.name, r.created_at, r.status_name, r.withdrawn_at, r.consent_id
            FROM referrals r JOIN tenants t ON t.id = r.target_tenant_id
            WHERE r.tenant_id = \(transaction.tenant) AND r.source_lead_id = ANY(\(leads))
            ORDER BY r.created_at, r.id
            """, logger: logger)
        var copies: [Copy] = []
        for (id, lead, target, name, sentAt, status, withdrawnAt, consent) in try rows.decode(
            (Referral.ID, Lead.ID, Tenant.ID, String, Date, String, Date?, Consent.ID?).self)
        {
            copies.append(
                Copy(
                    referralID: id, leadID: lead, organisationID: target, organisationName: name, sentAt: sentAt, statusName: status,
                    withdrawnAt: withdrawnAt, consentID: consent, identityShared: consent != nil && withdrawnAt == nil))
        }
        return copies
    }

    /// An organisation's name (the tenants table is readable to every tenant, as the directory is).
    public func organisationName(_ id: Tenant.ID, on connection: PostgresConnection) async throws -> String? {
        try await connection.rows("SELECT name FROM tenants WHERE id = \(id)", logger: logger).decode(String.self).first
    }
}

// MARK: Erasure

extension PostgresPrivacyRepository {
    public struct Erasure: Sendable {
        public struct Copy: Sendable, Equatable {
            public var organisationID: Tenant.ID
            public var leadID: Lead.ID
            public var erasedAt: Date
        }
        public struct DeviceState: Sendable, Equatable {
            public var organisationID: Tenant.ID
            public var leadID: Lead.ID
            public var deviceID: Device.ID
            public var acknowledgedAt: Date?
        }
        public var id: UUID
        public var requestedBy: User.ID?
        public var requestedAt: Date
        public var copies: [Copy]
        public var devices: [DeviceState]
    }

    /// Erases the person on `leads` (the tenant's, in its transaction) and on every copy made of
    /// them, following referrals from tenant to tenant (withdrawn copies included). Returns the
    /// erasure's id.
    public func erase(_ leads: [Lead.ID], requestedBy user: User.ID, now: Date, in transaction: TenantTransaction)
        async throws -> UUID
    {
        let erasure = UUID()
        try await transaction.connection.rows(
            "INSERT INTO erasures (tenant_id, id, requested_by, requested_at) VALUES (\(transaction.tenant), \(erasure), \(user), \(now))",
            logger: logger)
        // Level by level: the leads, then the copies made of them, then the copies of those.
        var visited = Set<Lead.ID>()
        var level = leads.map { (transaction.tenant, $0) }
        while !level.isEmpty {
            level = level.filter { visited.insert($0.1).inserted }
            // The erasure is the requesting tenant's: each copy's erasure names it.
            let copies = try await transaction.visiting(level, tenant: \.0) { item, holder in
                let lead = item.1
                try await holder.connection.rows(
                    "SELECT hubnet_erase_lead(\(erasure), \(transaction.tenant), \(lead), \(now))", logger: logger)
                let copies = try await holder.connection.rows(
                    "SELECT target_tenant_id, target_lead_id FROM referrals WHERE tenant_id = \(holder.tenant) AND source_lead_id = \(lead)",
                    logger: logger)
                return try copies.decode((Tenant.ID, Lead.ID).self).map { ($0.0, $0.1) }
            }
            level = copies.flatMap { $0 }
        }
        return erasure
    }

    /// An erasure the tenant requested, with every copy it reached and each device's acknowledgement.
    public func erasure(_ id: UUID, in transaction: TenantTransaction) async throws -> Erasure? {
        let head = try await transaction.connection.rows(
            "SELECT requested_by, requested_at FROM erasures WHERE tenant_id = \(transaction.tenant) AND id = \(id)", logger: logger)
        guard let (by, at) = try head.decode((User.ID?, Date).self).first else { return nil }
        var erasure = Erasure(id: id, requestedBy: by, requestedAt: at, copies: [], devices: [])
        let rows = try await transaction.connection.rows("SELECT * FROM hubnet_erasure_status(\(id))", logger: logger)
        for (organisation, lead, erasedAt, device, acknowledged) in try rows.decode((Tenant.ID, Lead.ID, Date, Device.ID?, Date?).self) {
            let copy = Erasure.Copy(organisationID: organisation, leadID: lead, erasedAt: erasedAt)
            if !erasure.copies.contains(copy) { erasure.copies.append(copy) }
            if let device {
                erasure.devices.append(.init(organisationID: organisation, leadID: lead, deviceID: device, acknowledgedAt: acknowledged))
            }
        }
        return erasure
    }
}
