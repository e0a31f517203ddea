import Foundation
import HubNetCore
import HubNetPostgres
import HubNetSync
import Logging
import PostgresNIO

/// Everything the invariants are judged on, gathered at the end of a run. Plain data, so a test can
/// hand the checker a world with something broken in it.
public struct World: Sendable {
    public struct DeviceView: Sendable {
        public var label: String
        public var user: User.ID
        /// How the device's leads differ from its user's view (`InvariantChecker.differences`),
        /// compared as each device is read, so the check's memory does not grow with what all the
        /// devices hold together.
        public var differences: [String]
        public var pending: Int
        /// Mutations the device made, and what the server's log holds for it: (rows, distinct ids).
        public var made: Int64
        public var logged: (rows: Int, distinct: Int)
    }

    public struct Mirror: Sendable {
        public var referral: String
        public var mirrored: String
        /// The target lead's status, or `nil` when the target row is missing.
        public var target: String?
    }

    public var devices: [DeviceView] = []
    public var mirrors: [Mirror] = []
    /// Leads whose expiry is due and did not fire, and leads that expired more than once.
    public var unfiredTimers: [String] = []
    public var timersFiredTwice: [String] = []
    /// Outbox emails: id → delivered; and how often each id reached the mail sink.
    public var emails: [String: Bool] = [:]
    public var mailReceived: [String: Int] = [:]
    /// Actions recorded on a lead by a user of another tenant, and source actions the API let through.
    public var foreignActions: [String] = []
    public var sourceSuccesses: [String] = []
    /// Seen during the run: devices holding a lead outside their user's view right after a pull.
    public var outsideView: [String] = []
    /// Referrals whose target copy holds the person's details without a valid consent covering it,
    /// or is de-identified although one does.
    public var consentBreaches: [String] = []
    /// Faults answered otherwise than documented, seen during the run.
    public var faultFindings: [String] = []
    /// Devices the organisations' admins revoked, and people they deactivated, during the run;
    /// and every device of the run's organisations as the database has it: (device, user, revoked).
    public var devicesRevoked: Set<Device.ID> = []
    public var usersDeactivated: Set<User.ID> = []
    public var storedDevices: [(device: Device.ID, user: User.ID, revoked: Bool)] = []

    public init() {}
}

public struct InvariantResult: Sendable, Codable, Equatable {
    public var name: String
    public var violations: [String]
    public var held: Bool { violations.isEmpty }
}

/// The invariants of issue 6 and the consent rule of issue 14, each with the entities involved in every violation.
public enum InvariantChecker {
    /// How the leads a device holds differ from what its user may hold, as the server has it now:
    /// each lead that differs or is missing, and each held outside the view.
    public static func differences(of label: String, holding held: [Lead.ID: SyncLead], view: [Lead.ID: SyncLead]) -> [String] {
        var differences: [String] = []
        for (id, lead) in view where held[id] != lead {
            if let mine = held[id] {
                differences.append(
                    "\(label): lead \(id) (\(lead.name)) differs from the server (device \(mine.status) v\(mine.version), server \(lead.status) v\(lead.version))")
            } else {
                differences.append("\(label): lacks lead \(id) (\(lead.name))")
            }
        }
        for id in held.keys where view[id] == nil {
            differences.append("\(label): holds lead \(id) outside its user's view")
        }
        return differences
    }

    public static func check(_ world: World) -> [InvariantResult] {
        var converge: [String] = []
        for device in world.devices {
            if device.pending > 0 { converge.append("\(device.label): \(device.pending) mutations still pending") }
            converge += device.differences
        }
        var exactlyOnce: [String] = []
        for device in world.devices where device.logged.rows != Int(device.made) || device.logged.distinct != device.logged.rows {
            exactlyOnce.append("\(device.label): made \(device.made) mutations, the server logged \(device.logged.rows) (\(device.logged.distinct) distinct)")
        }
        let mirrors = world.mirrors.filter { $0.target != $0.mirrored }.map {
            "referral \($0.referral): source shows \($0.mirrored), target is \($0.target ?? "missing")"
        }
        var delivered: [String] = []
        for (id, done) in world.emails.sorted(by: { $0.key < $1.key }) {
            let count = world.mailReceived[id] ?? 0
            if !done { delivered.append("email \(id) was never delivered") } else if count != 1 { delivered.append("email \(id) arrived \(count) times") }
        }
        return [
            InvariantResult(name: "every device converges to the server's view of its user", violations: converge.sorted()),
            InvariantResult(name: "no device held a record outside its user's view after a pull", violations: world.outsideView),
            InvariantResult(name: "every mutation applied exactly once", violations: exactlyOnce.sorted()),
            InvariantResult(name: "every referral's source copy mirrors its target", violations: mirrors.sorted()),
            InvariantResult(name: "every due timer fired once", violations: (world.unfiredTimers.map { "due, not fired: \($0)" } + world.timersFiredTwice.map { "fired twice: \($0)" }).sorted()),
            InvariantResult(name: "every outbox notification delivered once", violations: delivered),
            InvariantResult(name: "no action by a source party ever succeeded", violations: (world.sourceSuccesses + world.foreignActions).sorted()),
            InvariantResult(
                name: "a person's details crossed to another organisation only under their consent", violations: world.consentBreaches.sorted()),
            InvariantResult(
                name: "faults got their documented answers: 503 with Retry-After while the database was down, 401 for a revoked device or a deactivated user, nothing queued lost",
                violations: world.faultFindings + revocations(world)),
        ]
    }
}

extension InvariantChecker {
    /// A device is revoked exactly when its admin revoked it or its user was deactivated.
    static func revocations(_ world: World) -> [String] {
        world.storedDevices.compactMap { stored in
            let expected = world.devicesRevoked.contains(stored.device) || world.usersDeactivated.contains(stored.user)
            guard stored.revoked != expected else { return nil }
            return stored.revoked
                ? "device \(stored.device) is revoked, though nobody revoked it or deactivated its user"
                : "device \(stored.device) still works, though it was revoked or its user deactivated"
        }.sorted()
    }
}

extension Simulation {
    /// Reads the world: each device's store, and, as the schema owner, what spans tenants.
    public func world(ownerURL: DatabaseURL, logger: Logger) async throws -> World {
        var world = World()
        world.outsideView = outsideView
        world.sourceSuccesses = sourceSuccesses
        world.faultFindings = faultFindings
        world.devicesRevoked = devicesRevoked
        world.usersDeactivated = usersDeactivated
        // This run's organisations only: a database that holds earlier runs' (`DATABASE_URL`)
        // holds their leads, referrals and emails too, which this run neither made nor received.
        let tenants = (hubs + partners + sourcing).map { $0.tenant.id }
        world.mailReceived = sink.messages
        try await withPostgresClient(ownerURL, logger: logger, maximumConnections: 1) { client in
            // Every lead's device form and audience, once.
            var byTenant: [Tenant.ID: [(SyncLead, Set<User.ID>)]] = [:]
            let decoder = JSONDecoder()
            for (tenant, json, audience) in try await client.rows(
                """
                SELECT tenant_id, hubnet_sync_lead(l)::TEXT, hubnet_lead_audience(l) FROM leads l
                WHERE tenant_id = ANY(\(tenants)) AND withdrawn_at IS NULL
                """, logger: logger
            ).decode((Tenant.ID, String, [UUID]).self) {
                let lead = try decoder.decode(SyncLead.self, from: Data(json.utf8))
                byTenant[tenant, default: []].append((lead, Set(audience.map(User.ID.init))))
            }
            var logged: [Device.ID: (Int, Int)] = [:]
            for (device, rows, distinct) in try await client.rows(
                """
                SELECT device_id, count(*)::INTEGER, count(DISTINCT mutation_id)::INTEGER FROM sync_mutations
                WHERE tenant_id = ANY(\(tenants)) GROUP BY device_id
                """, logger: logger
            ).decode((Device.ID, Int, Int).self) { logged[device] = (rows, distinct) }
            for person in people {
                let wide = person.kind != .advisor || person.widened  // a `viewer` sees the whole hub
                let visible = (byTenant[person.organisation.tenant.id] ?? []).filter { wide || $0.1.contains(person.userID) }
                let view = Dictionary(visible.map { ($0.0.id, $0.0) }, uniquingKeysWith: { first, _ in first })
                for device in person.devices {
                    let held = Dictionary(try await device.client.leads().map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
                    let made = Int64(try device.client.store.lastMutationID())
                    world.devices.append(
                        World.DeviceView(
                            label: device.label, user: person.userID,
                            differences: InvariantChecker.differences(of: device.label, holding: held, view: view),
                            pending: try await device.client.pending().count, made: made, logged: logged[device.id] ?? (0, 0)))
                }
            }
            for (device, user, revoked) in try await client.rows(
                "SELECT id, user_id, revoked_at IS NOT NULL FROM devices WHERE tenant_id = ANY(\(tenants))", logger: logger
            ).decode((Device.ID, User.ID, Bool).self) { world.storedDevices.append((device, user, revoked)) }
            for (referral, mirrored, target) in try await client.rows(
                """
                SELECT r.id::TEXT, r.status, t.status FROM referrals r
                LEFT JOIN leads t ON t.tenant_id = r.target_tenant_id AND t.id = r.target_lead_id
                WHERE r.tenant_id = ANY(\(tenants)) AND r.withdrawn_at IS NULL
                """, logger: logger
            ).decode((String, String, String?).self) { world.mirrors.append(.init(referral: referral, mirrored: mirrored, target: target)) }
            let now = clock.now
            for name in try await client.rows(
                """
                SELECT contact_name FROM leads
                WHERE tenant_id = ANY(\(tenants)) AND withdrawn_at IS NULL AND completed_at IS NULL AND expires_at <= \(now)
                """, logger: logger
            ).decode(String.self) { world.unfiredTimers.append(name) }
            for lead in try await client.rows(
                """
                SELECT lead_id::TEXT FROM lead_history WHERE tenant_id = ANY(\(tenants)) AND action = 'expire'
                GROUP BY tenant_id, lead_id HAVING count(*) > 1
                """, logger: logger
            ).decode(String.self) { world.timersFiredTwice.append(lead) }
            for (id, delivered) in try await client.rows(
                "SELECT id::TEXT, delivered_at IS NOT NULL FROM outbox WHERE tenant_id = ANY(\(tenants)) AND channel = 'email'", logger: logger
            ).decode((String, Bool).self) { world.emails[id] = delivered }
            for (lead, action) in try await client.rows(
                """
                SELECT h.lead_id::TEXT, h.action FROM lead_history h
                WHERE h.tenant_id = ANY(\(tenants)) AND h.actor_user_id IS NOT NULL
                  AND NOT EXISTS (SELECT 1 FROM users u WHERE u.tenant_id = h.tenant_id AND u.id = h.actor_user_id)
                """, logger: logger
            ).decode((String, String).self) { world.foreignActions.append("lead \(lead): \(action) by a user of another tenant") }
            for (referral, holds) in try await client.rows(
                """
                SELECT r.id::TEXT, r.consent_id IS NULL OR NOT t.identity_withheld FROM referrals r
                JOIN leads t ON t.tenant_id = r.target_tenant_id AND t.id = r.target_lead_id
                WHERE r.tenant_id = ANY(\(tenants)) AND t.erased_at IS NULL AND (
                    (r.consent_id IS NULL AND (NOT t.identity_withheld OR t.contact_email IS NOT NULL OR t.contact_phone IS NOT NULL))
                    OR (r.consent_id IS NOT NULL AND r.withdrawn_at IS NULL AND (t.identity_withheld OR NOT EXISTS (
                        SELECT 1 FROM lead_consents c WHERE c.tenant_id = r.tenant_id AND c.id = r.consent_id
                          AND c.withdrawn_at IS NULL AND c.lapsed_at IS NULL))))
                """, logger: logger
            ).decode((String, Bool).self) {
                world.consentBreaches.append(
                    holds ? "referral \(referral): the target holds the person's details without a valid consent"
                        : "referral \(referral): de-identified although a valid consent covers it")
            }
        }
        return world
    }
}
