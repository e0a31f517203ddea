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
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                _ = try await fireDue()
            } catch {
                logger.warning("lead timers: pass failed, retrying", metadata: ["error": "\(String(reflecting: error))"])
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }

    /// One pass: fires every timer due now; returns how many fired.
    @discardableResult
    public func fireDue(batch: Int = 200) async throws -> Int {
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
