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
    let now: @Sendable () -> Date
    let interval: Duration
    let logger: Logger

    public init(database: Database, now: @escaping @Sendable () -> Date, interval: Duration = .seconds(1)) {
        self.database = database
        self.leads = PostgresLeadRepository(logger: database.logger)
        self.templates = PostgresWorkflowTemplateRepository(logger: database.logger)
        self.referrals = PostgresReferralRepository(logger: database.logger)
        self.now = now
        self.interval = interval
        self.logger = database.logger
    }

    public func run() async throws {
        await runPeriodically(every: interval, name: "lead timers", logger: logger) { _ = try await fireDue() }
    }

    /// One pass: fires every timer due now (expiries, then inactivity reminders); returns how many fired.
    @discardableResult
    public func fireDue(batch: Int = 200) async throws -> Int {
        try await fireDueExpiries(batch: batch) + (try await sendDueReminders())
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
            var handled = 0
            for (tenant, id) in due {
                switch try await remind(id, tenant: tenant, now: now) {
                case .sent:
                    sent += 1
                    handled += 1
                case .rescheduled: handled += 1
                case .busy: break
                }
            }
            // Every lead handled leaves the scan (sent, or moved to its right due time): stop when
            // nothing was due, or when what is due is being handled by another process.
            if due.count < batch || handled == 0 { return sent }
        }
    }

    enum ReminderOutcome { case sent, rescheduled, busy }

    private func remind(_ id: Lead.ID, tenant: Tenant.ID, now: Date) async throws -> ReminderOutcome {
        try await database.withTenant(tenant) { connection in
            guard let lead = try await leads.lockForTimer(id, tenant: tenant, on: connection) else { return .busy }
            guard let template = try await templates.template(lead.templateKey, tenant: tenant, on: connection),
                let due = LeadSchedule.nextReminder(lead.state, template: template), due <= now,
                let assignee = lead.state.assignedUserID,
                let stageKey = template.status(lead.state.status)?.stage,
                let days = template.stages.first(where: { $0.key == stageKey })?.reminderDays
            else {
                // Not due after all (the template changed, the lead moved): put it where it belongs.
                let correct = try await templates.template(lead.templateKey, tenant: tenant, on: connection).flatMap {
                    LeadSchedule.nextReminder(lead.state, template: $0)
                }
                try await leads.setReminder(id, tenant: tenant, at: correct.map { max($0, now + 1) }, on: connection)
                return .rescheduled
            }
            let rows = try await connection.rows(
                """
                SELECT email FROM users WHERE tenant_id = \(tenant) AND id = \(assignee) AND deactivated_at IS NULL
                """, logger: logger)
            var reminded = lead.state
            reminded.remindedAt = now
            let next = LeadSchedule.nextReminder(reminded, template: template)
            if let email = try rows.decode(String.self).first {
                let stage = template.stages.first { $0.key == stageKey }?.name ?? stageKey
                try await PostgresOutboxRepository(logger: logger).enqueue(
                    event: "lead.reminder", email: email, subject: "Reminder: \(lead.details.name) is waiting in \(stage)",
                    body: "No action on \(lead.details.name) for \(days) days in the \(stage) stage.\n", webhookBody: "{}",
                    tenant: tenant, now: now, on: connection)
            }
            try await leads.reminded(id, tenant: tenant, at: now, next: next, on: connection)
            return .sent
        }
    }

    /// Expires every lead whose expiry is due now; returns how many expired.
    ///
    /// A due lead that cannot expire (its template has no expire action, or not from its status)
    /// has its expiry cleared, so it leaves the scan: the scan takes the oldest due leads first, and
    /// such leads would otherwise fill every batch and starve the ones behind them.
    @discardableResult
    public func fireDueExpiries(batch: Int = 200) async throws -> Int {
        let now = now()
        var fired = 0
        while true {
            let due = try await database.withSchedulerScan { connection in
                try await leads.dueExpiries(now: now, limit: batch, on: connection)
            }
            var handled = 0
            for (tenant, id) in due {
                switch try await expire(id, tenant: tenant, now: now) {
                case .fired:
                    fired += 1
                    handled += 1
                case .cleared: handled += 1
                case .busy: break
                }
            }
            // Every lead handled leaves the scan: stop when nothing more was due, or when what is
            // due is being fired by another process.
            if due.count < batch || handled == 0 { return fired }
        }
    }

    enum ExpiryOutcome { case fired, cleared, busy }

    private func expire(_ id: Lead.ID, tenant: Tenant.ID, now: Date) async throws -> ExpiryOutcome {
        try await database.withTenant(tenant) { connection in
            guard let lead = try await leads.lockForTimer(id, tenant: tenant, on: connection) else { return .busy }
            // Moved on since the scan (acted on, or its expiry moved): nothing due here now.
            guard let expiresAt = lead.state.expiresAt, expiresAt <= now, lead.state.completedAt == nil else { return .cleared }
            guard let template = try await templates.template(lead.templateKey, tenant: tenant, on: connection),
                template.action("expire") != nil,
                let decision = try? WorkflowEngine.decide(template, lead: lead.state, actor: .system, action: "expire", now: now)
            else {
                try await leads.clearExpiry(id, tenant: tenant, on: connection)
                return .cleared
            }
            try await leads.apply(decision, to: lead, template: template, actor: nil, reason: "expired", at: now, on: connection)
            if let updated = try await leads.get(id, tenant: tenant, on: connection) {
                try await referrals.mirror(
                    updated, template: template, reason: nil,
                    notifying: decision.effects.contains(.notifyReferralCreator) ? decision.action : nil, now: now, on: connection)
            }
            return .fired
        }
    }
}
