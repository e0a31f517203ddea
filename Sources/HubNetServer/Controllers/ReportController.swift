import Foundation
import Hummingbird
import HubNetCore
import HubNetPostgres

/// The funnel per workflow template and the overdue report (003).
struct ReportController {
    let database: Database
    let templates: PostgresWorkflowTemplateRepository
    let now: @Sendable () -> Date

    func addRoutes(to group: RouterGroup<AppRequestContext>) {
        group.get("reports/funnel", use: funnel)
        group.get("reports/overdue", use: overdue)
    }

    @Sendable func funnel(_ request: Request, context: AppRequestContext) async throws -> FunnelReport {
        let caller = try context.requireUser()
        let key = request.uri.queryParameters.get("template") ?? TenantPolicy.defaultTemplateKey(for: caller.tenantKind)
        let logger = database.logger
        return try await database.withTenant(caller.tenantID) { connection in
            guard let template = try await templates.template(key, tenant: caller.tenantID, on: connection) else {
                throw DomainError.invalid("template", "names no workflow template '\(key)'")
            }
            var counts: [String: Int] = [:]
            let rows = try await connection.rows(
                """
                SELECT status, count(*)::INTEGER FROM leads
                WHERE tenant_id = \(caller.tenantID) AND template_key = \(key) AND withdrawn_at IS NULL GROUP BY status
                """, logger: logger)
            for (status, count) in try rows.decode((String, Int).self) { counts[status] = count }
            var visited: [[String]] = []
            let paths = try await connection.rows(
                """
                SELECT array_agg(h.to_status ORDER BY h.seq) FROM lead_history AS h
                JOIN leads AS l ON l.tenant_id = h.tenant_id AND l.id = h.lead_id
                WHERE h.tenant_id = \(caller.tenantID) AND l.template_key = \(key) AND l.withdrawn_at IS NULL
                GROUP BY h.lead_id
                """, logger: logger)
            for path in try paths.decode([String].self) { visited.append(path) }
            return FunnelReport.compute(template, counts: counts, visited: visited)
        }
    }

    struct OverdueReport: ResponseEncodable {
        struct Entry: Encodable {
            var leadID: Lead.ID
            var template: String
            var status: String
            var name: String
            var expectedCompletionAt: Date
            var secondsOverdue: Int
            var assignedUserID: User.ID?
            enum CodingKeys: String, CodingKey {
                case leadID = "leadId", template, status, name, expectedCompletionAt, secondsOverdue, assignedUserID = "assignedUserId"
            }
        }
        var asOf: Date
        var total: Int
        var byTemplate: [String: Int]
        /// The most overdue first, at most 500.
        var items: [Entry]
    }

    /// Open leads whose expected completion date is on or before `as_of` (default now).
    @Sendable func overdue(_ request: Request, context: AppRequestContext) async throws -> OverdueReport {
        let caller = try context.requireUser()
        var asOf = now()
        if let text = request.uri.queryParameters.get("as_of") {
            guard let date = Timestamp.parseISO8601(text) else {
                throw DomainError.invalid("as_of", "must be an ISO 8601 date-time")
            }
            asOf = date
        }
        let logger = database.logger
        // Advisors see the leads they work, here as in the lead list; tenant-wide roles every lead.
        let viewer = VisibilityPolicy.seesWholeTenant(caller.roles) ? nil : caller.userID
        let (items, total) = try await database.withTenant(caller.tenantID) { connection in
            let rows = try await connection.rows(
                """
                SELECT id, template_key, status, contact_name, expected_completion_at, assigned_user_id FROM leads AS l
                WHERE tenant_id = \(caller.tenantID) AND completed_at IS NULL AND withdrawn_at IS NULL
                  AND expected_completion_at <= \(asOf)
                  AND (\(viewer)::UUID IS NULL OR \(viewer) = ANY(hubnet_lead_audience(l)))
                ORDER BY expected_completion_at, id LIMIT 500
                """, logger: logger)
            var items: [OverdueReport.Entry] = []
            for (id, template, status, name, due, assignee) in try rows.decode(
                (Lead.ID, String, String, String, Date, User.ID?).self)
            {
                items.append(
                    .init(
                        leadID: id, template: template, status: status, name: name, expectedCompletionAt: due,
                        secondsOverdue: Int(asOf.timeIntervalSince(due)), assignedUserID: assignee))
            }
            let total = try await connection.rows(
                """
                SELECT template_key, count(*)::INTEGER FROM leads AS l
                WHERE tenant_id = \(caller.tenantID) AND completed_at IS NULL AND withdrawn_at IS NULL
                  AND expected_completion_at <= \(asOf)
                  AND (\(viewer)::UUID IS NULL OR \(viewer) = ANY(hubnet_lead_audience(l)))
                GROUP BY template_key
                """, logger: logger
            ).map { try $0.decode((String, Int).self) }
            return (items, total)
        }
        let byTemplate = Dictionary(total, uniquingKeysWith: +)
        return OverdueReport(asOf: asOf, total: byTemplate.values.reduce(0, +), byTemplate: byTemplate, items: items)
    }
}

extension FunnelReport: ResponseEncodable {}
