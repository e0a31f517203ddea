import Foundation
import Hummingbird
import HubNetCore
import HubNetPostgres

/// The funnel per workflow template and the overdue report (003).
struct ReportController {
    let database: Database
    let templates: PostgresWorkflowTemplateRepository
    let reports: PostgresReportRepository
    let now: @Sendable () -> Date

    func addRoutes(to group: RouterGroup<AppRequestContext>) {
        group.get("reports/funnel", use: funnel)
        group.get("reports/overdue", use: overdue)
    }

    @Sendable func funnel(_ request: Request, context: AppRequestContext) async throws -> FunnelReport {
        let caller = try context.requireUser()
        let key = request.uri.queryParameters.get("template") ?? TenantPolicy.defaultTemplateKey(for: caller.tenantKind)
        return try await database.withTenant(caller.tenantID) { transaction in
            guard let template = try await templates.template(key, in: transaction) else {
                throw DomainError.invalid("template", "names no workflow template '\(key)'")
            }
            let (counts, visited) = try await reports.funnel(template: key, in: transaction)
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
        // Advisors see the leads they work, here as in the lead list; tenant-wide roles every lead.
        let viewer = VisibilityPolicy.seesWholeTenant(caller.roles) ? nil : caller.userID
        let (leads, byTemplate) = try await database.withTenant(caller.tenantID) { transaction in
            try await reports.overdue(asOf: asOf, viewer: viewer, limit: 500, in: transaction)
        }
        let items = leads.map { lead in
            OverdueReport.Entry(
                leadID: lead.id, template: lead.template, status: lead.status, name: lead.name,
                expectedCompletionAt: lead.expectedCompletionAt, secondsOverdue: Int(asOf.timeIntervalSince(lead.expectedCompletionAt)),
                assignedUserID: lead.assignedUserID)
        }
        return OverdueReport(asOf: asOf, total: byTemplate.values.reduce(0, +), byTemplate: byTemplate, items: items)
    }
}

extension FunnelReport: ResponseEncodable {}
