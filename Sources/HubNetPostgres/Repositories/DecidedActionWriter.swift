import Foundation
import HubNetCore
import Logging
import PostgresNIO

/// The one writer of workflow actions decided in memory (`LeadBatch.PendingAction`): a push's
/// batch, one action over HTTP, a timer pass's expiries. A handful of statements whatever the
/// number of actions.
public struct DecidedActionWriter: Sendable {
    let leads: PostgresLeadRepository
    let referrals: PostgresReferralRepository
    let outbox: PostgresOutboxRepository

    public init(leads: PostgresLeadRepository, referrals: PostgresReferralRepository, outbox: PostgresOutboxRepository) {
        self.leads = leads
        self.referrals = referrals
        self.outbox = outbox
    }

    /// Stores `actions` (all in `tenant`) and `notices` to go out from it: the referrals' mirrors
    /// and notices in each source first — when one accepts a copy from a shared pool,
    /// `PoolClaimNeedsStore` is thrown before anything is written (its claim decides, one action
    /// at a time) — then the leads' new states and their history entries, new opportunities and
    /// CRM clients, then the notices.
    public func store(
        _ actions: [LeadBatch.PendingAction], notices: [PostgresOutboxRepository.Message], now: Date,
        in transaction: TenantTransaction
    ) async throws {
        guard !actions.isEmpty else { return }
        try await referrals.mirror(actions, now: now, in: transaction)
        try await leads.applyActions(actions, in: transaction)
        try await outbox.enqueue(notices, now: now, in: transaction)
    }
}
