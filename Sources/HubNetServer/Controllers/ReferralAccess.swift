import Foundation
import HubNetCore
import HubNetPostgres
import PostgresNIO

/// Which referrals a user may read as a whole — the ones their organisation sent, and the ones it
/// received and still holds where the user sees the lead — for the views that both sides share
/// (FHIR Task, evidence bundles). Anything else answers as missing.
struct ReferralAccess: Sendable {
    let referrals: PostgresReferralRepository
    let tenants: PostgresTenantRepository

    /// The referral, from the source's record (the target's lead's state, mirrored by every action).
    func referral(_ id: Referral.ID, caller: AuthenticatedUser, in transaction: TenantTransaction) async throws -> Referral? {
        if let sent = try await referrals.get(id, in: transaction) { return sent }
        guard let lead = try await referrals.incomingLead(id, in: transaction),
            VisibilityPolicy.sees(lead, user: caller.userID, roles: caller.roles)
        else { return nil }
        return try await referrals.mirrors(of: [lead], in: transaction)[id]
    }

    /// The two organisations of referrals, by id.
    func organisations(of referrals: [Referral]) async throws -> [Tenant.ID: Tenant] {
        var result: [Tenant.ID: Tenant] = [:]
        for id in Set(referrals.flatMap { [$0.sourceTenantID, $0.targetTenantID] }) {
            if let tenant = try await tenants.get(id) { result[id] = tenant }
        }
        return result
    }
}
