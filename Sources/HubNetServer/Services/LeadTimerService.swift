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
    /// passed without an action, and again every interval while nothing happens.
    @discardableResult
    public func sendDueReminders(batch: Int = 200) async throws -> Int {
        let now = now()
        let shortest = BuiltInTemplates.all.flatMap(\.stages).compactMap(\.reminderDays).min() ?? 1
        let logger = logger
        let candidates = try await database.withSchedulerScan { connection in
            let rows = try await connection.rows(
                """
                SELECT tenant_id, id FROM leads
                WHERE completed_at IS NULL AND withdrawn_at IS NULL AND assigned_user_id IS NOT NULL
                  AND GREATEST(created_at, last_action_at, reminded_at) <= \(now - Double(shortest) * 86_400)
                ORDER BY GREATEST(created_at, last_action_at, reminded_at) LIMIT \(batch)
                """, logger: logger)
            var due: [(Tenant.ID, Lead.ID)] = []
            for (tenant, lead) in try rows.decode((Tenant.ID, Lead.ID).self) { due.append((tenant, lead)) }
            return due
        }
        var sent = 0
        for (tenant, id) in candidates where try await remind(id, tenant: tenant, now: now) { sent += 1 }
        return sent
    }

    private func remind(_ id: Lead.ID, tenant: Tenant.ID, now: Date) async throws -> Bool {
        try await database.withTenant(tenant) { connection in
            guard let lead = try await leads.lockForTimer(id, tenant: tenant, on: connection),
                let assignee = lead.state.assignedUserID,
                let template = try await templates.template(lead.templateKey, tenant: tenant, on: connection),
                let stageKey = template.status(lead.state.status)?.stage,
                let days = template.stages.first(where: { $0.key == stageKey })?.reminderDays
            else { return false }
            let rows = try await connection.rows(
                """
                SELECT GREATEST(l.created_at, l.last_action_at, l.reminded_at), u.email
                FROM leads AS l JOIN users AS u ON u.tenant_id = l.tenant_id AND u.id = \(assignee) AND u.deactivated_at IS NULL
                WHERE l.tenant_id = \(tenant) AND l.id = \(id)
                """, logger: logger)
            guard let (anchor, email) = try await rows.decode((Date, String).self).first(where: { _ in true }),
                now.timeIntervalSince(anchor) >= Double(days) * 86_400
            else { return false }
            let stage = template.stages.first { $0.key == stageKey }?.name ?? stageKey
            try await PostgresOutboxRepository(logger: logger).enqueue(
                event: "lead.reminder", email: email, subject: "Reminder: \(lead.details.name) is waiting in \(stage)",
                body: "No action on \(lead.details.name) for \(days) days in the \(stage) stage.\n", webhookBody: "{}",
                tenant: tenant, now: now, on: connection)
            try await connection.rows(
                "UPDATE leads SET reminded_at = \(now) WHERE tenant_id = \(tenant) AND id = \(id)", logger: logger)
            return true
        }
    }

    /// Expires every lead whose expiry is due now; returns how many expired.
    @discardableResult
    public func fireDueExpiries(batch: Int = 200) async throws -> Int {
        let now = now()
        var fired = 0
        while true {
            let due = try await database.withSchedulerScan { connection in
                try await leads.dueExpiries(now: now, limit: batch, on: connection)
            }
            var firedThisBatch = 0
            for (tenant, id) in due where try await expire(id, tenant: tenant, now: now) { firedThisBatch += 1 }
            fired += firedThisBatch
            // Stop when nothing was due, or when everything due is being fired by another process.
            if due.count < batch || firedThisBatch == 0 { return fired }
        }
    }

    private func expire(_ id: Lead.ID, tenant: Tenant.ID, now: Date) async throws -> Bool {
        try await database.withTenant(tenant) { connection in
            guard let lead = try await leads.lockForTimer(id, tenant: tenant, on: connection),
                let expiresAt = lead.state.expiresAt, expiresAt <= now,
                let template = try await templates.template(lead.templateKey, tenant: tenant, on: connection),
                template.action("expire") != nil
            else { return false }
            guard let decision = try? WorkflowEngine.decide(template, lead: lead.state, actor: .system, action: "expire", now: now)
            else { return false }
            try await leads.apply(decision, to: lead, actor: nil, reason: "expired", at: now, on: connection)
            if let updated = try await leads.get(id, tenant: tenant, on: connection) {
                try await referrals.mirror(
                    updated, template: template, reason: nil,
                    notifying: decision.effects.contains(.notifyReferralCreator) ? decision.action : nil, now: now, on: connection)
            }
            return true
        }
    }
}
