import Foundation
import HubNetCore
import HubNetPostgres
import HubNetSync
import PostgresNIO

/// What the simulation counted as it went (the database tells the rest at the end).
public struct SimulationStats: Sendable, Codable, Equatable {
    public var arrivals: [Int: Int] = [:]
    public var actions: [Int: Int] = [:]
    public var byChannel: [String: Int] = [:]
    public var byAction: [String: Int] = [:]
    /// Actions a person chose that the device's workflow engine refused before queueing (a
    /// simulator asking for something the template does not offer shows up here, not silently).
    public var refusedOnDevice: [String: Int] = [:]
    public var notes = 0
    public var edits = 0
    /// A moderator's edit of a lead's region in the same hour as the advisor working it.
    public var doubleEdits = 0
    /// Advisors' views widened or narrowed by their hub's admin.
    public var viewChanges = 0
    /// Devices whose storage was wiped (their token kept).
    public var deviceWipes = 0
    /// Leads routed by a distribution rule, pulled back from a partner that did not act within
    /// the SLA, and refused because no partner could take them.
    public var routed = 0
    public var pullbacks = 0
    public var unroutable = 0
    /// Hours the mail receiver was down.
    public var smtpOutageHours = 0
    /// Crashes and restarts of PostgreSQL, and requests refused with 503 while it was down.
    public var databaseRestarts = 0
    public var refusedWhileDatabaseDown = 0
    /// Kills (SIGKILL) and restarts of the server process, and device syncs that failed while it was gone.
    public var serverKills = 0
    public var failedWhileServerDown = 0
    /// Devices revoked while offline, and their syncs refused with 401 afterwards (each then
    /// registered again by its person).
    public var deviceRevocations = 0
    public var revokedSyncsRefused = 0
    /// People deactivated while offline, and their devices' syncs refused with 401 afterwards
    /// (a successor then took their place).
    public var userDeactivations = 0
    public var deactivatedSyncsRefused = 0
    /// Devices whose clock runs ahead of the true time, and behind it.
    public var clocksAhead = 0
    public var clocksBehind = 0
    public var leftToExpire = 0
    public var offlineSpells = 0
    public var sourceAttempts = 0
    public var sourceRefusals = 0
    public var syncs = 0
    public var pushes = 0
    public var mutations = 0
    public var pulls = 0
    /// Due devices that did not pull: their live channel had not poked them (their cursor was at
    /// their tenant's log head), so a pull would have found nothing.
    public var pullsNotPoked = 0
    public var changesPulled = 0
    /// Of `changesPulled`, the records that came with snapshots.
    public var snapshotRecords = 0
    public var conflicts = 0
    public var rejections = 0
    public var rejectionCodes: [String: Int] = [:]
    public var resets = 0
    public var drops = 0
    /// Per day: mutations pushed and changes pulled.
    public var dailyMutations: [Int: Int] = [:]
    public var dailyChanges: [Int: Int] = [:]
    /// Of the changes pulled each day, the records that came with snapshots (new, wiped and reset
    /// devices taking all their users see again).
    public var dailySnapshotRecords: [Int: Int] = [:]

    mutating func record(_ report: SyncReport, day: Int) {
        syncs += 1
        if report.pushed > 0 { pushes += 1 }
        mutations += report.pushed
        pulls += report.pulls
        changesPulled += report.pulled
        snapshotRecords += report.snapshotRecords
        conflicts += report.conflicts.count
        rejections += report.rejections.count
        for rejection in report.rejections { rejectionCodes[rejection.code, default: 0] += 1 }
        resets += report.resets.count
        drops += report.dropped.count
        dailyMutations[day, default: 0] += report.pushed
        dailyChanges[day, default: 0] += report.pulled
        dailySnapshotRecords[day, default: 0] += report.snapshotRecords
    }
}

/// What a user's devices may hold, read by the server role under row-level security.
enum Views {
    /// The leads among `held` that `user` does not see (missing, withdrawn, or outside their view):
    /// the check costs the device's records, not the tenant's leads.
    static func outside(_ held: [Lead.ID], of user: User.ID, tenant: Tenant.ID, in database: Database) async throws -> Set<Lead.ID> {
        guard !held.isEmpty else { return [] }
        return try await database.withTenant(tenant) { transaction in
            let rows = try await transaction.connection.rows(
                """
                SELECT h.id FROM unnest(\(held.map(\.rawValue))::UUID[]) AS h(id)
                WHERE NOT EXISTS (
                    SELECT 1 FROM leads l
                    WHERE l.tenant_id = \(tenant) AND l.id = h.id AND l.withdrawn_at IS NULL
                      AND (EXISTS (SELECT 1 FROM users u WHERE u.tenant_id = \(tenant) AND u.id = \(user)
                                   AND u.roles && ARRAY['admin', 'moderator', 'viewer', 'partner_user'])
                           OR \(user) = ANY(hubnet_lead_audience(l))))
                """, logger: database.logger)
            var ids = Set<Lead.ID>()
            for id in try rows.decode(Lead.ID.self) { ids.insert(id) }
            return ids
        }
    }
}
