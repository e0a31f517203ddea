/// Who may see and who may act on each kind of lead record, decided in one place for the API,
/// the sync protocol and the tests.
///
/// The tenant that holds a lead owns it and works it. The side that referred or distributed the
/// lead (a referring hub, a sourcing company) follows its progress — status, stage, dates and
/// history — but never its internal notes or activities, and never acts. Anyone else sees nothing.
public enum VisibilityPolicy {
    public enum Relation: Sendable, Equatable {
        /// The caller's tenant holds the lead.
        case owner
        /// The caller's tenant referred or distributed the lead and the referral is current.
        case source
        /// Any other tenant, a withdrawn referral's former target, or nobody.
        case unrelated
    }

    public enum Record: Sendable, Equatable, CaseIterable {
        case lead, history, notes, activities, referral
    }

    public static func canSee(_ record: Record, as relation: Relation) -> Bool {
        switch (relation, record) {
        case (.owner, _): true
        case (.source, .lead), (.source, .history), (.source, .referral): true
        case (.source, .notes), (.source, .activities): false
        case (.unrelated, _): false
        }
    }

    /// Every field the source of a referral receives about it, by every path (API, device pull
    /// and snapshot, `hubnet_sync_referral` in SQL): status, dates and outcome; nothing of the
    /// target's notes, activities or copy of the lead.
    public static let sourceReferralFields: Set<String> = [
        "id", "source_lead_id", "target_tenant_id", "target_lead_id", "target_kind", "target_listing_id", "created_by",
        "created_at", "status", "status_name", "life_cycle", "stage", "first_action_at", "last_action_at", "accepted_at",
        "declined_at", "completed_at", "reason", "withdrawn_at", "version",
    ]

    /// Only the owner acts; the source's attempts are refused with `source_cannot_act`.
    public static func canAct(as relation: Relation) -> Bool { relation == .owner }

    /// Which of its tenant's records a user's devices hold. Admins, moderators, viewers and partner
    /// users hold every lead of the tenant (and every referral it made); an advisor (a hub's TA
    /// provider) holds the leads they work: assigned to them or to a unit of theirs, created by them,
    /// or with them on the lead team, and the referrals they made. Migration 0006's `hubnet_lead_audience` computes the same set in
    /// the database; a change of roles, standing or units re-syncs the user's devices.
    public static func seesWholeTenant(_ roles: Set<Role>) -> Bool {
        !roles.isDisjoint(with: [.admin, .moderator, .viewer, .partnerUser])
    }

    /// Whether a user of the lead's own tenant sees the lead, and so may act on it: acting requires
    /// seeing, by every path (API, sync push, email link). The same rule decides which leads the
    /// user's devices hold (`hubnet_lead_audience` in SQL computes `Lead.audience`).
    public static func sees(_ lead: Lead, user: User.ID, roles: Set<Role>) -> Bool {
        seesWholeTenant(roles) || lead.audience.contains(user)
    }

    /// The refusal a device gets for a mutation on a lead its user no longer sees (removed from
    /// the unit, a role taken away, the lead reassigned while it was offline).
    public static let notVisible = DomainError(
        kind: .forbidden, code: "not_visible", message: "the lead is no longer in this user's view; the device drops it")

    /// The refusal any change to a lead gets once the person's data was erased.
    public static let erased = DomainError(
        kind: .conflict, code: "lead_erased", message: "the person's data on this lead was erased; it takes no more changes")

    /// The refusal a source party gets for any action.
    public static let sourceRefusal = WorkflowRefusal(
        .sourceCannotAct, "the side that referred or sourced a lead sees it but cannot act on it")
}
