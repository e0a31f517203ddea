import Foundation
import HubNetCore
import HubNetPostgres
import Logging
import ServiceLifecycle

/// Fires lead timers: a pending or accepted lead whose expiry has passed is expired by the
/// template's system action, written to its history and mirrored to its referral's source.
///
/// Durable and exactly-once without a separate queue: the due time lives on the lead row, a fired
/// timer closes the lead so it is never due again, and each firing locks the lead with
/// `FOR UPDATE SKIP LOCKED`, so several server processes share the work and never fire one twice.
/// After downtime the first pass catches up on everything that fell due meanwhile.
public struct LeadTimerService: Service {
    let database: Database
    let leads: PostgresLeadRepository
    let templates: PostgresWorkflowTemplateRepository
    let referrals: PostgresReferralRepository
    let distribution: PostgresDistributionRepository
    let privacy: PostgresPrivacyRepository
    let users: PostgresUserRepository
    let now: @Sendable () -> Date
    let interval: Duration
    let logger: Logger
    /// For the invitation a re-routed lead's new target gets.
    let links: EmailActionLinks?
    /// Under the test clock: each background pass takes its turn with the clock's moves.
    let gate: PassGate?

    public init(
        database: Database, now: @escaping @Sendable () -> Date, interval: Duration = .seconds(1), links: EmailActionLinks? = nil,
        gate: PassGate? = nil
    ) {
        self.gate = gate
        self.database = database
        self.distribution = PostgresDistributionRepository(logger: database.logger)
        self.privacy = PostgresPrivacyRepository(logger: database.logger)
        self.users = PostgresUserRepository(logger: database.logger)
        self.links = links
        self.leads = PostgresLeadRepository(logger: database.logger)
        self.templates = PostgresWorkflowTemplateRepository(logger: database.logger)
        self.referrals = PostgresReferralRepository(logger: database.logger)
        self.now = now
        self.interval = interval
        self.logger = database.logger
    }

    public func run() async throws {
        await runPeriodically(every: interval, name: "lead timers", logger: logger) {
            if let gate { _ = try await gate.run { try await fireDue() } } else { _ = try await fireDue() }
        }
    }

    /// One pass: fires every timer due now (expiries, SLA pullbacks, then inactivity reminders);
    /// returns how many fired.
    @discardableResult
    public func fireDue(batch: Int = 200) async throws -> Int {
        try await fireDueExpiries(batch: batch) + (try await firePullbacks(batch: batch)) + (try await releasePoolCopies(batch: batch))
            + (try await lapseConsents(batch: batch)) + (try await sendDueReminders())
    }

    /// Carries out consents that expired (on the server's clock) or were withdrawn and not yet
    /// carried out: the copies that crossed under them are de-identified in their targets. Exactly
    /// once: `lapsed_at` is set in the transaction that carries it out, under `FOR UPDATE SKIP LOCKED`.
    @discardableResult
    public func lapseConsents(batch: Int = 200) async throws -> Int {
        let now = now()
        let due = try await database.withSchedulerScan { connection in try await privacy.dueLapses(now: now, limit: batch, on: connection) }
        var lapsed = 0
        for (tenant, id) in due {
            if try await database.withTenant(tenant, { transaction in try await privacy.lapse(id, now: now, in: transaction) })
                != nil
            {
                lapsed += 1
            }
        }
        return lapsed
    }

    /// Withdraws the copies of shared-pool losers that were mid-accept when the winner took the
    /// lead (their own accept then failed with `pool_taken`); returns how many were released.
    @discardableResult
    public func releasePoolCopies(batch: Int = 200) async throws -> Int {
        let now = now()
        let pending = try await database.withSchedulerScan { connection in
            try await referrals.pendingReleases(limit: batch, on: connection)
        }
        var released = 0
        for (tenant, id) in pending {
            if try await database.withTenant(tenant, { transaction in try await referrals.release(id, now: now, in: transaction) }) {
                released += 1
            }
        }
        return released
    }

    /// Pulls back every routed lead whose target did not act within the rule's SLA and routes it to
    /// the next partner (or back to the source after the rule's hops). Exactly once: the due time
    /// lives on the source's referral row, is cleared in the transaction that fires it, and each
    /// firing locks the row with `FOR UPDATE SKIP LOCKED`; after downtime the first pass catches up.
    @discardableResult
    public func firePullbacks(batch: Int = 200) async throws -> Int {
        let now = now()
        var fired = 0
        while true {
            let due = try await database.withSchedulerScan { connection in
                try await referrals.duePullbacks(now: now, limit: batch, on: connection)
            }
            var handled = 0
            for (tenant, id) in due {
                switch try await pullBack(id, tenant: tenant, now: now) {
                case .fired:
                    fired += 1
                    handled += 1
                case .cleared: handled += 1
                case .busy: break
                }
            }
            if due.count < batch || handled == 0 { return fired }
        }
    }

    enum PullbackOutcome { case fired, cleared, busy }

    private func pullBack(_ id: Referral.ID, tenant: Tenant.ID, now: Date) async throws -> PullbackOutcome {
        try await database.withTenant(tenant) { transaction in
            guard let (referral, hop, _) = try await referrals.lockForPullback(id, in: transaction) else { return .busy }
            // The target acted (or the lead closed) after the scan: nothing to pull back.
            guard referral.firstActionAt == nil, referral.lifeCycle == .pending, let sourceLead = referral.sourceLeadID,
                let lead = try await leads.get(sourceLead, lock: true, in: transaction)
            else {
                try await referrals.clearPullback(id, in: transaction)
                return .cleared
            }
            let (rule, turn) = try await distribution.rule(lock: true, in: transaction)
            let tried = try await referrals.targets(ofLead: sourceLead, in: transaction)
            let loads = try await distribution.loads(of: rule.pool + [referral.targetTenantID], since: now - DistributionController.window, on: transaction.connection)
            let from = loads[referral.targetTenantID]?.name ?? "the partner"
            try await referrals.pullBack(referral, leadName: lead.details.name, sla: rule.slaText, at: now, in: transaction)
            var choice: Distribution.Choice?
            if hop < rule.maxHops {
                choice = Distribution.choose(rule, loads: loads, turn: turn, excluded: tried, now: now).0
            }
            let why = "no action at \(from) within \(rule.slaText)"
            if let choice {
                let next = try await referrals.refer(
                    lead, to: .init(tenant: choice.partner, kind: .partner, listing: nil), by: referral.createdBy, links: links, now: now,
                    pullbackAt: rule.pullbackDeadline(from: now), hop: hop + 1, in: transaction)
                try await leads.recordEvent("pullback", on: lead, actor: nil, reason: "\(why); \(choice.explanation)", at: now, in: transaction)
                try await distribution.setTurn(choice.nextTurn % max(rule.pool.count, 1), in: transaction)
                let notice = NoticeCatalog.Filled(
                    NoticeCatalog.referralRerouted,
                    [
                        "lead.name": lead.details.name, "pullback.why": why,
                        "pullback.next": choice.explanation.prefix(1).uppercased() + choice.explanation.dropFirst(),
                    ])
                try await referrals.notifyCreator(of: next, event: "referral.rerouted", notice: notice, reason: why, now: now, in: transaction)
            } else {
                let ending = hop >= rule.maxHops ? "after \(hop) partner\(hop == 1 ? "" : "s")" : "no other partner can take it"
                try await leads.recordEvent("pullback", on: lead, actor: nil, reason: "\(why); returned to you (\(ending))", at: now, in: transaction)
                let notice = NoticeCatalog.Filled(
                    NoticeCatalog.referralReturned, ["lead.name": lead.details.name, "pullback.why": why, "pullback.ending": ending])
                try await referrals.notifyCreator(of: referral, event: "referral.returned", notice: notice, reason: why, now: now, in: transaction)
            }
            logger.info("referral pulled back", metadata: ["referral_id": "\(id)", "hop": "\(hop)", "rerouted": "\(choice != nil)"])
            return .fired
        }
    }

    /// Reminds the assignee of a lead in a stage with a reminder interval (002) once that many days
    /// passed without an action, and again every interval while nothing happens. The due time lives
    /// on the lead (`remind_at`), set from the tenant's own template whenever the lead's status or
    /// assignee changes, so only due leads are scanned.
    @discardableResult
    public func sendDueReminders(batch: Int = 200) async throws -> Int {
        let now = now()
        var sent = 0
        while true {
            let due = try await database.withSchedulerScan { connection in
                try await leads.dueReminders(now: now, limit: batch, on: connection)
            }
            var tenants: [Tenant.ID] = []
            var byTenant: [Tenant.ID: [Lead.ID]] = [:]
            for (tenant, id) in due {
                if byTenant[tenant] == nil { tenants.append(tenant) }
                byTenant[tenant, default: []].append(id)
            }
            var handled = 0
            for tenant in tenants {
                let (reminded, rescheduled) = try await remind(byTenant[tenant] ?? [], tenant: tenant, now: now)
                sent += reminded
                handled += reminded + rescheduled
            }
            // Every lead handled leaves the scan (sent, or moved to its right due time): stop when
            // nothing was due, or when what is due is being handled by another process.
            if due.count < batch || handled == 0 { return sent }
        }
    }

    /// One tenant's due reminders in one transaction, set-based: the leads another process holds
    /// are skipped; returns how many were reminded and how many moved to their right due time.
    private func remind(_ ids: [Lead.ID], tenant: Tenant.ID, now: Date) async throws -> (reminded: Int, rescheduled: Int) {
        try await database.withTenant(tenant) { transaction in
            let locked = try await leads.lockForTimers(ids, in: transaction)
            let (current, _) = try await leads.readLocked(locked, in: transaction)
            guard !current.isEmpty else { return (0, 0) }
            let templates = Dictionary(
                try await self.templates.all(in: transaction).map { ($0.key, $0) }, uniquingKeysWith: { first, _ in first })
            var updates: [PostgresLeadRepository.ReminderUpdate] = []
            var reminders: [(lead: Lead, assignee: User.ID, stage: String, days: Int)] = []
            for lead in current {
                guard let template = templates[lead.templateKey],
                    let due = LeadSchedule.nextReminder(lead.state, template: template), due <= now,
                    let assignee = lead.state.assignedUserID,
                    let stageKey = template.status(lead.state.status)?.stage,
                    let stage = template.stages.first(where: { $0.key == stageKey }), let days = stage.reminderDays
                else {
                    // Not due after all (the template changed, the lead moved): put it where it belongs.
                    let correct = templates[lead.templateKey].flatMap { LeadSchedule.nextReminder(lead.state, template: $0) }
                    updates.append(.init(lead.id, reminded: false, next: correct.map { max($0, now + 1) }))
                    continue
                }
                var reminded = lead.state
                reminded.remindedAt = now
                updates.append(.init(lead.id, reminded: true, next: LeadSchedule.nextReminder(reminded, template: template)))
                reminders.append((lead, assignee, stage.name, days))
            }
            // The assignees still active are emailed; a reminder is recorded either way.
            let people = try await users.many(Array(Set(reminders.map(\.assignee))), in: transaction)
            let active = Dictionary(
                people.filter { $0.deactivatedAt == nil }.map { ($0.id, $0.email) }, uniquingKeysWith: { first, _ in first })
            let notices = reminders.compactMap { reminder -> PostgresOutboxRepository.Message? in
                guard let email = active[reminder.assignee] else { return nil }
                let notice = NoticeCatalog.Filled(
                    NoticeCatalog.reminder,
                    ["lead.name": reminder.lead.details.name, "stage.name": reminder.stage, "reminder.days": String(reminder.days)])
                return .init(event: "lead.reminder", email: email, notice: notice, webhookBody: "{}")
            }
            try await PostgresOutboxRepository(logger: logger).enqueue(notices, now: now, in: transaction)
            try await leads.recordReminders(updates, at: now, in: transaction)
            return (reminders.count, updates.count - reminders.count)
        }
    }

    /// Expires every lead whose expiry is due now; returns how many expired.
    ///
    /// A due lead that cannot expire (its template has no expire action, or not from its status)
    /// has its expiry cleared, so it leaves the scan: the scan takes the oldest due leads first, and
    /// such leads would otherwise fill every batch and starve the ones behind them. Each tenant's
    /// due leads are fired in one transaction, decided in memory and stored set-based by the writer
    /// of pushed and HTTP actions (`DecidedActionWriter`): a handful of statements per tenant,
    /// whatever the number of leads.
    @discardableResult
    public func fireDueExpiries(batch: Int = 200) async throws -> Int {
        let now = now()
        var fired = 0
        while true {
            let due = try await database.withSchedulerScan { connection in
                try await leads.dueExpiries(now: now, limit: batch, on: connection)
            }
            var tenants: [Tenant.ID] = []
            var byTenant: [Tenant.ID: [Lead.ID]] = [:]
            for (tenant, id) in due {
                if byTenant[tenant] == nil { tenants.append(tenant) }
                byTenant[tenant, default: []].append(id)
            }
            var handled = 0
            for tenant in tenants {
                let (expired, cleared) = try await expire(byTenant[tenant] ?? [], tenant: tenant, now: now)
                fired += expired
                handled += expired + cleared
            }
            // Every lead handled leaves the scan: stop when nothing more was due, or when what is
            // due is being fired by another process.
            if due.count < batch || handled == 0 { return fired }
        }
    }

    /// Fires one tenant's due expiries: the leads another process holds are skipped (it is firing
    /// them); returns how many expired and how many left the scan otherwise.
    private func expire(_ ids: [Lead.ID], tenant: Tenant.ID, now: Date) async throws -> (expired: Int, cleared: Int) {
        try await database.withTenant(tenant) { transaction in
            let locked = try await leads.lockForTimers(ids, in: transaction)
            let (current, lastEntries) = try await leads.readLocked(locked, in: transaction)
            guard !current.isEmpty else { return (0, 0) }
            let templates = Dictionary(
                try await self.templates.all(in: transaction).map { ($0.key, $0) }, uniquingKeysWith: { first, _ in first })
            var actions: [LeadBatch.PendingAction] = []
            var cannot: [Lead.ID] = []
            var movedOn = 0
            for lead in current {
                // Moved on since the scan (acted on, or its expiry moved): nothing due here now.
                guard let expiresAt = lead.state.expiresAt, expiresAt <= now, lead.state.completedAt == nil else {
                    movedOn += 1
                    continue
                }
                guard let template = templates[lead.templateKey], template.action("expire") != nil,
                    let decision = try? WorkflowEngine.decide(template, lead: lead.state, actor: .system, action: "expire", now: now)
                else {
                    cannot.append(lead.id)
                    continue
                }
                var after = lead
                after.state = decision.state
                after.version += 1
                // The history says why; the source's mirror keeps the reason it had.
                let entry = LeadHistoryEntry.following(
                    lastEntries[lead.id] ?? nil, lead: lead.id, action: decision.action, from: decision.from, to: decision.to, actor: nil,
                    reason: "expired", at: now)
                actions.append(
                    LeadBatch.PendingAction(
                        before: lead, after: after, decision: decision, template: template, reason: nil, entry: entry, mutation: 0,
                        opportunity: nil, notifiedAssignee: nil))
            }
            try await leads.clearExpiries(cannot, in: transaction)
            try await DecidedActionWriter(leads: leads, referrals: referrals, outbox: PostgresOutboxRepository(logger: logger)).store(
                actions, notices: [], now: now, in: transaction)
            return (actions.count, cannot.count + movedOn)
        }
    }
}
