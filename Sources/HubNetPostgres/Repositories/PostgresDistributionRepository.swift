import Foundation
import HubNetCore
import Logging
import PostgresNIO

/// Distribution rules of sourcing companies, organisations' declared capacity, and partners' load.
public struct PostgresDistributionRepository: Sendable {
    public let logger: Logger

    public init(logger: Logger) { self.logger = logger }

    /// The tenant's rule and its turn (manual, turn 0, when it has none). With `lock`, the row is
    /// locked to the end of the transaction, so concurrent routings take turns one after another.
    public func rule(lock: Bool = false, in transaction: TenantTransaction) async throws -> (DistributionRule, turn: Int) {
        if lock {
            try await transaction.connection.rows(
                """
                INSERT INTO distribution_rules (tenant_id, mode, updated_at) VALUES (\(transaction.tenant), 'manual', now())
                ON CONFLICT (tenant_id) DO NOTHING
                """, logger: logger)
        }
        let rows = try await transaction.connection.rows(
            """
            SELECT mode, pool, stale_after_hours, turn, sla_hours, sla_business_days, max_hops, time_zone, listings
            FROM distribution_rules WHERE tenant_id = \(transaction.tenant)
            \(unescaped: lock ? "FOR UPDATE" : "")
            """, logger: logger)
        for (mode, pool, stale, turn, slaHours, slaDays, maxHops, zone, listings) in try rows.decode(
            (String, [UUID], Int?, Int, Int?, Int?, Int, String, [UUID]).self)
        {
            let sla: DistributionRule.SLA? = slaHours.map { .hours($0) } ?? slaDays.map { .businessDays($0) }
            var rule = DistributionRule(
                mode: DistributionRule.Mode(rawValue: mode) ?? .manual, pool: pool.map(Tenant.ID.init), staleAfterHours: stale, sla: sla,
                maxHops: maxHops, timeZone: zone)
            rule.listings = listings.map(Listing.ID.init)
            return (rule, turn)
        }
        return (.manual, 0)
    }

    /// Replaces the rule; the turn starts again at the pool's first partner.
    public func save(_ rule: DistributionRule, now: Date, in transaction: TenantTransaction) async throws {
        var slaHours: Int?
        var slaDays: Int?
        switch rule.sla {
        case .hours(let hours): slaHours = hours
        case .businessDays(let days): slaDays = days
        case nil: break
        }
        try await transaction.connection.rows(
            """
            INSERT INTO distribution_rules (tenant_id, mode, pool, stale_after_hours, turn, updated_at, sla_hours, sla_business_days,
                max_hops, time_zone, listings)
            VALUES (\(transaction.tenant), \(rule.mode.rawValue), \(rule.pool.map(\.rawValue)), \(rule.staleAfterHours), 0, \(now), \(slaHours),
                \(slaDays), \(rule.maxHops), \(rule.timeZone), \(rule.listings.map(\.rawValue)))
            ON CONFLICT (tenant_id) DO UPDATE SET mode = EXCLUDED.mode, pool = EXCLUDED.pool, listings = EXCLUDED.listings,
                stale_after_hours = EXCLUDED.stale_after_hours, turn = 0, updated_at = EXCLUDED.updated_at,
                sla_hours = EXCLUDED.sla_hours, sla_business_days = EXCLUDED.sla_business_days, max_hops = EXCLUDED.max_hops,
                time_zone = EXCLUDED.time_zone
            """, logger: logger)
    }

    public func setTurn(_ turn: Int, in transaction: TenantTransaction) async throws {
        try await transaction.connection.rows(
            "UPDATE distribution_rules SET turn = \(max(0, turn)) WHERE tenant_id = \(transaction.tenant)", logger: logger)
    }

    /// The partners' loads (only partner companies appear).
    public func loads(of partners: [Tenant.ID], since: Date, on connection: PostgresConnection) async throws -> [Tenant.ID: PartnerLoad] {
        try await loads(of: partners, kinds: [.partnerCompany], since: since, on: connection)
    }

    /// Organisations' loads, of the given kinds (hubs for suggestions and the directory).
    public func loads(of organisations: [Tenant.ID], kinds: Set<Tenant.Kind>, since: Date, on connection: PostgresConnection) async throws
        -> [Tenant.ID: PartnerLoad]
    {
        guard !organisations.isEmpty else { return [:] }
        let rows = try await connection.rows(
            """
            SELECT tenant_id, kind, name, open_slots, not_accepting_until, open_accepted, received, accepted, last_seen
            FROM hubnet_organisation_loads(\(organisations.map(\.rawValue)), \(since))
            """, logger: logger)
        var loads: [Tenant.ID: PartnerLoad] = [:]
        for (id, kind, name, slots, until, open, received, accepted, seen) in try rows.decode(
            (Tenant.ID, String, String, Int?, Date?, Int, Int, Int, Date?).self)
        {
            guard let kind = Tenant.Kind(rawValue: kind), kinds.contains(kind) else { continue }
            loads[id] = PartnerLoad(
                tenantID: id, name: name, openSlots: slots, notAcceptingUntil: until, openAccepted: open, received: received,
                accepted: accepted, lastSeen: seen)
        }
        return loads
    }

    /// The tenant's declared capacity.
    public func capacity(in transaction: TenantTransaction) async throws -> (openSlots: Int?, notAcceptingUntil: Date?) {
        let rows = try await transaction.connection.rows(
            "SELECT open_slots, not_accepting_until FROM tenant_settings WHERE tenant_id = \(transaction.tenant)", logger: logger)
        for (slots, until) in try rows.decode((Int?, Date?).self) { return (slots, until) }
        return (nil, nil)
    }

    public func setCapacity(openSlots: Int?, notAcceptingUntil: Date?, in transaction: TenantTransaction) async throws {
        try await transaction.connection.rows(
            """
            INSERT INTO tenant_settings (tenant_id, open_slots, not_accepting_until)
            VALUES (\(transaction.tenant), \(openSlots), \(notAcceptingUntil))
            ON CONFLICT (tenant_id) DO UPDATE SET open_slots = EXCLUDED.open_slots, not_accepting_until = EXCLUDED.not_accepting_until
            """, logger: logger)
    }
}
