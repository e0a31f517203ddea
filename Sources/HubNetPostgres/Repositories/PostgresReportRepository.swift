import Foundation
import HubNetCore
import Logging
import PostgresNIO

/// The reads behind the reports (003): a workflow's funnel and the overdue leads.
public struct PostgresReportRepository: Sendable {
    public let logger: Logger

    public init(logger: Logger) { self.logger = logger }

    /// The leads of one workflow template: how many stand in each status, and the statuses each
    /// one went through, in order (what `FunnelReport.compute` takes).
    public func funnel(template key: String, in transaction: TenantTransaction) async throws
        -> (counts: [String: Int], visited: [[String]])
    {
        var counts: [String: Int] = [:]
        let rows = try await transaction.connection.rows(
            """
            SELECT status, count(*)::INTEGER FROM leads
            WHERE tenant_id = \(transaction.tenant) AND template_key = \(key) AND withdrawn_at IS NULL GROUP BY status
            """, logger: logger)
        for (status, count) in try rows.decode((String, Int).self) { counts[status] = count }
        let paths = try await transaction.connection.rows(
            """
            SELECT array_agg(h.to_status ORDER BY h.seq) FROM lead_history AS h
            JOIN leads AS l ON l.tenant_id = h.tenant_id AND l.id = h.lead_id
            WHERE h.tenant_id = \(transaction.tenant) AND l.template_key = \(key) AND l.withdrawn_at IS NULL
            GROUP BY h.lead_id
            """, logger: logger)
        return (counts, try paths.decode([String].self).map { $0 })
    }

    /// An open lead past its expected completion date.
    public struct OverdueLead: Sendable, Equatable {
        public var id: Lead.ID
        public var template: String
        public var status: String
        public var name: String
        public var expectedCompletionAt: Date
        public var assignedUserID: User.ID?
    }

    /// Open leads whose expected completion is on or before `asOf`, the most overdue first (at most
    /// `limit`), and how many there are per template; only those `viewer` works on when given.
    public func overdue(asOf: Date, viewer: User.ID?, limit: Int, in transaction: TenantTransaction) async throws
        -> (leads: [OverdueLead], byTemplate: [String: Int])
    {
        let rows = try await transaction.connection.rows(
            """
            SELECT id, template_key, status, contact_name, expected_completion_at, assigned_user_id FROM leads AS l
            WHERE tenant_id = \(transaction.tenant) AND completed_at IS NULL AND withdrawn_at IS NULL
              AND expected_completion_at <= \(asOf)
              AND (\(viewer)::UUID IS NULL OR \(viewer) = ANY(hubnet_lead_audience(l)))
            ORDER BY expected_completion_at, id LIMIT \(limit)
            """, logger: logger)
        var leads: [OverdueLead] = []
        for (id, template, status, name, due, assignee) in try rows.decode((Lead.ID, String, String, String, Date, User.ID?).self) {
            leads.append(
                OverdueLead(id: id, template: template, status: status, name: name, expectedCompletionAt: due, assignedUserID: assignee))
        }
        let totals = try await transaction.connection.rows(
            """
            SELECT template_key, count(*)::INTEGER FROM leads AS l
            WHERE tenant_id = \(transaction.tenant) AND completed_at IS NULL AND withdrawn_at IS NULL
              AND expected_completion_at <= \(asOf)
              AND (\(viewer)::UUID IS NULL OR \(viewer) = ANY(hubnet_lead_audience(l)))
            GROUP BY template_key
            """, logger: logger
        ).decode((String, Int).self)
        return (leads, Dictionary(totals.map { ($0, $1) }, uniquingKeysWith: +))
    }
}
