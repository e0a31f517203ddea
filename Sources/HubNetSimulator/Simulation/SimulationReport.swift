import Foundation
import HubNetCore
import HubNetPostgres
import Logging
import PostgresNIO

/// What a run did and whether the invariants held. Deterministic: the same seed and scenario give
/// the same report, byte for byte (wall time and memory are printed beside it, not in it).
public struct SimulationReport: Sendable, Codable, Equatable {
    public struct Organisation: Sendable, Codable, Equatable {
        public var name: String
        public var kind: String
        public var leadsIn: Int
        public var accepted: Int
        public var declined: Int
        public var referred: Int
        public var expired: Int
        public var converted: Int
    }

    public struct Funnel: Sendable, Codable, Equatable {
        public var template: String
        public var created: Int
        public var acted: Int
        public var accepted: Int
        public var completed: Int
        public var expired: Int
    }

    public struct Percentiles: Sendable, Codable, Equatable {
        public var leads: Int
        public var p50Hours: Double
        public var p90Hours: Double
        public var p99Hours: Double
        /// Leads per bucket: ≤1h, ≤4h, ≤12h, ≤24h, ≤48h, ≤96h, longer.
        public var histogram: [Int]
    }

    /// Referrals from one organisation to another: how many were sent, and what became of them.
    public struct Flow: Sendable, Codable, Equatable {
        public var from: String
        public var to: String
        public var referred: Int
        public var accepted: Int
        public var declined: Int
    }

    public struct Day: Sendable, Codable, Equatable {
        public var day: Int
        public var arrivals: Int
        public var actions: Int
        public var mutations: Int
        public var changes: Int
        /// Of `changes`, the records that came with snapshots.
        public var snapshotRecords: Int
    }

    public var scenario: String
    public var seed: UInt64
    public var days: Int
    public var organisations: [Organisation]
    public var funnels: [Funnel]
    /// Every pair of organisations with referrals between them, by name.
    public var flows: [Flow]
    public var timeToFirstAction: Percentiles
    public var daily: [Day]
    public var stats: SimulationStats
    public var emailsDelivered: Int
    /// Delivery attempts that failed and were scheduled again (the mail receiver down).
    public var deliveryRetries: Int
    public var invariants: [InvariantResult]

    public var allInvariantsHeld: Bool { invariants.allSatisfy(\.held) }

    public static let histogramBounds: [Double] = [1, 4, 12, 24, 48, 96]
    public static let histogramLabels = ["≤1h", "≤4h", "≤12h", "≤24h", "≤48h", "≤96h", ">96h"]
}

extension Simulation {
    public func report(ownerURL: DatabaseURL, invariants: [InvariantResult], logger: Logger) async throws -> SimulationReport {
        let organisations = hubs + partners + sourcing
        let ids = organisations.map(\.tenant.id.rawValue)
        let names = Dictionary(organisations.map { ($0.tenant.id, $0) }, uniquingKeysWith: { a, _ in a })
        return try await withPostgresClient(ownerURL, logger: logger, maximumConnections: 1) { client in
            var lines: [SimulationReport.Organisation] = []
            for (tenant, leads, accepted, declined, referred, expired, converted) in try await client.rows(
                """
                SELECT t.id,
                    (SELECT count(*) FROM leads l WHERE l.tenant_id = t.id)::INTEGER,
                    (SELECT count(*) FROM lead_history h WHERE h.tenant_id = t.id AND h.action = 'accept')::INTEGER,
                    (SELECT count(*) FROM lead_history h WHERE h.tenant_id = t.id AND h.action = 'decline')::INTEGER,
                    ((SELECT count(*) FROM lead_history h WHERE h.tenant_id = t.id AND h.action IN ('refer_external', 'refer_internal'))
                     + (SELECT count(*) FROM referrals r WHERE r.tenant_id = t.id AND r.target_kind = 'partner'))::INTEGER,
                    (SELECT count(*) FROM lead_history h WHERE h.tenant_id = t.id AND h.action = 'expire')::INTEGER,
                    (SELECT count(*) FROM lead_history h WHERE h.tenant_id = t.id AND h.action = 'convert')::INTEGER
                FROM tenants t WHERE t.id = ANY(\(ids))
                """, logger: logger
            ).decode((Tenant.ID, Int, Int, Int, Int, Int, Int).self) {
                guard let organisation = names[tenant] else { continue }
                lines.append(
                    .init(
                        name: organisation.name, kind: organisation.kind.rawValue, leadsIn: leads, accepted: accepted, declined: declined,
                        referred: referred, expired: expired, converted: converted))
            }
            var flows: [SimulationReport.Flow] = []
            for (source, target, referred, accepted, declined) in try await client.rows(
                """
                SELECT r.tenant_id, r.target_tenant_id, count(*)::INTEGER,
                    (count(*) FILTER (WHERE r.accepted_at IS NOT NULL))::INTEGER,
                    (count(*) FILTER (WHERE r.declined_at IS NOT NULL))::INTEGER
                FROM referrals r WHERE r.tenant_id = ANY(\(ids)) GROUP BY r.tenant_id, r.target_tenant_id
                """, logger: logger
            ).decode((Tenant.ID, Tenant.ID, Int, Int, Int).self) {
                flows.append(
                    .init(
                        from: names[source]?.name ?? source.description, to: names[target]?.name ?? target.description, referred: referred,
                        accepted: accepted, declined: declined))
            }
            var funnels: [SimulationReport.Funnel] = []
            for (template, created, acted, accepted, completed, expired) in try await client.rows(
                """
                SELECT template_key, count(*)::INTEGER, count(last_action_at)::INTEGER, count(accepted_at)::INTEGER,
                    count(completed_at)::INTEGER, (count(*) FILTER (WHERE status = 'expired'))::INTEGER
                FROM leads WHERE tenant_id = ANY(\(ids)) AND withdrawn_at IS NULL GROUP BY template_key ORDER BY template_key
                """, logger: logger
            ).decode((String, Int, Int, Int, Int, Int).self) {
                funnels.append(.init(template: template, created: created, acted: acted, accepted: accepted, completed: completed, expired: expired))
            }
            var waits: [Double] = []
            for hours in try await client.rows(
                """
                SELECT (EXTRACT(EPOCH FROM min(h.at) - l.created_at) / 3600)::FLOAT8
                FROM leads l JOIN lead_history h ON h.tenant_id = l.tenant_id AND h.lead_id = l.id
                WHERE l.tenant_id = ANY(\(ids)) AND h.actor_user_id IS NOT NULL AND h.action <> 'create'
                GROUP BY l.tenant_id, l.id, l.created_at
                """, logger: logger
            ).decode(Double.self) { waits.append(hours) }
            waits.sort()
            func percentile(_ p: Double) -> Double {
                guard !waits.isEmpty else { return 0 }
                let value = waits[min(waits.count - 1, Int((Double(waits.count - 1) * p).rounded()))]
                return (value * 100).rounded() / 100
            }
            var histogram = Array(repeating: 0, count: SimulationReport.histogramBounds.count + 1)
            for wait in waits { histogram[SimulationReport.histogramBounds.firstIndex { wait <= $0 } ?? SimulationReport.histogramBounds.count] += 1 }
            var retries = 0
            for count in try await client.rows(
                "SELECT count(*)::INTEGER FROM deliveries WHERE tenant_id = ANY(\(ids)) AND outcome = 'retrying'", logger: logger
            ).decode(Int.self) { retries = count }
            var delivered = 0
            for count in try await client.rows(
                "SELECT count(*)::INTEGER FROM outbox WHERE tenant_id = ANY(\(ids)) AND delivered_at IS NOT NULL", logger: logger
            ).decode(Int.self) { delivered = count }
            let days = (0..<scenario.days).map {
                SimulationReport.Day(
                    day: $0 + 1, arrivals: stats.arrivals[$0] ?? 0, actions: stats.actions[$0] ?? 0, mutations: stats.dailyMutations[$0] ?? 0,
                    changes: stats.dailyChanges[$0] ?? 0, snapshotRecords: stats.dailySnapshotRecords[$0] ?? 0)
            }
            return SimulationReport(
                scenario: scenario.name, seed: scenario.seed, days: scenario.days,
                organisations: lines.sorted { $0.name < $1.name }, funnels: funnels,
                flows: flows.sorted { ($0.from, $0.to) < ($1.from, $1.to) },
                timeToFirstAction: .init(leads: waits.count, p50Hours: percentile(0.5), p90Hours: percentile(0.9), p99Hours: percentile(0.99), histogram: histogram),
                daily: days, stats: stats, emailsDelivered: delivered, deliveryRetries: retries,
                invariants: invariants)
        }
    }
}
