import Foundation
import Hummingbird
import HubNetCore
import HubNetPostgres

/// The console's pages beyond the lead table: the stage board (002), outgoing referrals, reports
/// (funnel and overdue, 003) and devices. Each reads through the API's controller for the same
/// data, with the signed-in user as the caller.
extension ConsoleController {
    /// Leads of one staged workflow in columns by stage, with the engine's forward and back moves.
    @Sendable func board(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let session = context.console else { return ConsoleRenderer.redirect("/sign-in") }
        return try await page(session) {
            let all = try await database.withTenant(session.user.tenantID) { transaction in
                try await templates.all(in: transaction)
            }
            let staged = all.filter { $0.statuses.contains { $0.stage != nil } }
            let chosen = request.uri.queryParameters.get("template").map { String($0) } ?? staged.first?.key ?? ""
            guard let template = all.first(where: { $0.key == chosen }) else { throw DomainError.invalid("template", "names no workflow") }
            let query = [("template", template.key), ("limit", "200"), ("sort", "-created_at")]
            let (page, _, now) = try await leads.leadPage(
                Request(head: Self.head(path: "/leads", query: query), body: .init(buffer: ByteBuffer())), context: context)
            let actor = LeadCommands.actor(session.user)
            let stageOrder = template.statuses.compactMap(\.stage).reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
            let stageNames = Dictionary(template.stages.map { ($0.key, $0.name) }, uniquingKeysWith: { first, _ in first })
            var columns = stageOrder.map { BoardView.Column(name: stageNames[$0] ?? $0, count: 0, cards: []) }
            for lead in page.items {
                guard let stage = template.status(lead.state.status)?.stage, let index = stageOrder.firstIndex(of: stage) else { continue }
                let moves = TenantPolicy.allows(session.user, .workLeads)
                    ? WorkflowEngine.availableActions(template, lead: lead.state, actor: actor, now: now).filter { action in
                        action.transitions.contains { $0.from.contains(lead.state.status) && ($0.to == .nextStage || $0.to == .previousStage) }
                    } : []
                let response = LeadResponse(lead, template: template, now: now)
                columns[index].cards.append(
                    .init(
                        id: lead.id.description, name: lead.details.name, statusName: response.statusName,
                        badges: ConsoleBadge.of(response.badges),
                        moves: moves.map { .init(leadID: lead.id.description, key: $0.key, name: $0.name) }))
                columns[index].count += 1
            }
            let view = BoardView(
                chrome: ConsoleChrome(session, section: .board),
                templates: all.map { ConsoleOption(value: $0.key, label: $0.name, selected: $0.key == template.key) },
                hasColumns: !columns.isEmpty, columns: columns, templateName: template.name)
            return renderer.page("board", view)
        }
    }

    /// The tenant's outgoing referrals: where each lead went and the target's mirrored progress.
    @Sendable func referralList(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let session = context.console else { return ConsoleRenderer.redirect("/sign-in") }
        return try await page(session) {
            let result = try await referrals.list(request, context: context)
            var names: [Tenant.ID: String] = [:]
            for target in Set(result.items.map(\.targetTenantID)) { names[target] = try await tenants.get(target)?.name }
            let leadNames = try await database.withTenant(session.user.tenantID) { transaction in
                var found: [Lead.ID: String] = [:]
                for id in Set(result.items.compactMap(\.sourceLeadID)) {
                    found[id] = try await leads.leads.get(id, in: transaction)?.details.name
                }
                return found
            }
            let rows = result.items.map { referral in
                ReferralsView.Row(
                    sourceLead: referral.sourceLeadID?.description, name: referral.sourceLeadID.flatMap { leadNames[$0] } ?? "A lead",
                    target: names[referral.targetTenantID] ?? "Another organisation", statusName: referral.statusName,
                    lifeCycle: referral.lifeCycle.replacingOccurrences(of: "_", with: " "), reason: referral.reason,
                    created: ConsoleDate.format(referral.createdAt), lastAction: ConsoleDate.format(referral.lastActionAt),
                    withdrawn: referral.withdrawnAt != nil)
            }
            let next = result.nextCursor.flatMap { Self.head(path: "/referrals", query: [("cursor", $0)]).path }
            return renderer.page("referrals", ReferralsView(chrome: ConsoleChrome(session, section: .referrals), rows: rows, nextHref: next))
        }
    }

    /// The funnel of one workflow as a bar chart and a table, and the overdue report.
    @Sendable func reportPage(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let session = context.console else { return ConsoleRenderer.redirect("/sign-in") }
        return try await page(session) {
            let funnel = try await reports.funnel(request, context: context)
            let overdue = try await reports.overdue(
                Request(head: Self.head(path: "/reports/overdue", query: []), body: .init(buffer: ByteBuffer())), context: context)
            let all = try await database.withTenant(session.user.tenantID) { transaction in
                try await templates.all(in: transaction)
            }
            let statusNames = Dictionary(
                all.flatMap { template in template.statuses.map { ($0.key, $0.name) } }, uniquingKeysWith: { first, _ in first })
            let largest = max(1, funnel.statuses.map(\.count).max() ?? 1)
            let bars = funnel.statuses.enumerated().map { index, status in
                ReportsView.Bar(
                    label: status.name, count: status.count, width: status.count == 0 ? 0 : max(2, status.count * 360 / largest),
                    y: index * 26 + 4, textY: index * 26 + 18)
            }
            let view = ReportsView(
                chrome: ConsoleChrome(session, section: .reports),
                templates: all.map { ConsoleOption(value: $0.key, label: $0.name, selected: $0.key == funnel.template) },
                templateName: all.first { $0.key == funnel.template }?.name ?? funnel.template, total: funnel.total, bars: bars,
                chartHeight: max(30, bars.count * 26 + 8), hasOverdue: !overdue.items.isEmpty, overdueTotal: overdue.total,
                overdue: overdue.items.prefix(200).map { entry in
                    .init(
                        id: entry.leadID.description, name: entry.name, status: statusNames[entry.status] ?? entry.status,
                        expected: ConsoleDate.format(entry.expectedCompletionAt),
                        days: String(format: "%.1f days", Double(entry.secondsOverdue) / 86_400))
                })
            return renderer.page("reports", view)
        }
    }

    /// The user's devices (an admin: everyone's), with revoke.
    @Sendable func deviceList(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let session = context.console else { return ConsoleRenderer.redirect("/sign-in") }
        return try await page(session) {
            let listed = try await devices.list(request, context: context)
            let people = try await database.withTenant(session.user.tenantID) { transaction in
                try await leads.users.list(
                    page: try PageRequest(limit: 200), includeDeactivated: true, in: transaction).items
            }
            let names = Dictionary(people.map { ($0.id, $0.displayName) }, uniquingKeysWith: { first, _ in first })
            let rows = listed.items.map { device in
                DevicesView.Row(
                    id: device.id.description, name: device.name, owner: names[device.userId] ?? "", created: ConsoleDate.format(device.createdAt),
                    lastSeen: ConsoleDate.format(device.lastSeenAt), revoked: device.revokedAt.map { ConsoleDate.format($0) })
            }
            return renderer.page("devices", DevicesView(chrome: ConsoleChrome(session, section: .devices), rows: rows))
        }
    }

    @Sendable func revokeDevice(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let session = context.console else { return ConsoleRenderer.redirect("/sign-in") }
        return try await page(session) {
            _ = try await devices.revoke(request, context: context)
            return ConsoleRenderer.redirect("/devices")
        }
    }

    /// The tenant's people; admins add people and deactivate them (their sessions, tokens and
    /// devices stop at once; the last admin stays).
    @Sendable func userList(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let session = context.console else { return ConsoleRenderer.redirect("/sign-in") }
        return try await page(session) { try await renderUsers(request, context: context, session: session, problem: nil, status: .ok) }
    }

    func renderUsers(
        _ request: Request, context: AppRequestContext, session: PostgresConsoleSessionRepository.SignedIn, problem: String?,
        status: HTTPResponse.Status
    ) async throws -> Response {
        let listed = try await users.list(
            Request(head: Self.head(path: "/users", query: [("limit", "200"), ("include_deactivated", "true")]), body: .init(buffer: ByteBuffer())),
            context: context)
        let canManage = TenantPolicy.allows(session.user, .manageUsers)
        let rows = listed.items.map { user in
            UsersView.Row(
                id: user.id.description, name: user.displayName, email: user.email, roles: user.roles.joined(separator: ", "),
                active: user.active, deactivatable: canManage && user.active && user.id != session.user.userID)
        }
        let roles = Role.allCases.filter { $0.exists(in: session.user.tenantKind) }.map {
            ConsoleOption(value: $0.rawValue, label: $0.rawValue.replacingOccurrences(of: "_", with: " ").capitalized, selected: false)
        }
        return renderer.page(
            "users", UsersView(chrome: ConsoleChrome(session, section: .users), rows: rows, canManage: canManage, roles: roles, problem: problem),
            status: status)
    }

    struct UserForm: Decodable {
        var email: String?
        var display_name: String?
        var roles: [String]?
    }

    @Sendable func addUser(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let session = context.console else { return ConsoleRenderer.redirect("/sign-in") }
        return try await page(session) {
            let form = try await decodeForm(UserForm.self, request) ?? UserForm()
            do {
                let roles = try Role.parse(form.roles ?? [])
                _ = try await users.create(
                    UserDraft(email: form.email ?? "", displayName: form.display_name ?? "", roles: roles), actor: session.user)
            } catch let error where Self.isRefusal(error) {
                let (apiError, _) = APIError.from(error)
                return try await renderUsers(request, context: context, session: session, problem: apiError.message, status: apiError.status)
            }
            return ConsoleRenderer.redirect("/users")
        }
    }

    @Sendable func deactivateUser(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let session = context.console else { return ConsoleRenderer.redirect("/sign-in") }
        return try await page(session) {
            _ = try await users.delete(request, context: context)
            return ConsoleRenderer.redirect("/users")
        }
    }

    /// The outbox's delivery log: every attempt at an email or webhook, newest first (admins).
    @Sendable func deliveryLog(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let session = context.console else { return ConsoleRenderer.redirect("/sign-in") }
        return try await page(session) {
            let log = try await webhooks.deliveries(request, context: context)
            let rows = log.items.map {
                DeliveriesView.Row(
                    at: ConsoleDate.format($0.at), event: $0.event, channel: $0.channel, recipient: $0.recipient, attempt: $0.attempt,
                    outcome: $0.outcome, detail: $0.detail)
            }
            return renderer.page("deliveries", DeliveriesView(chrome: ConsoleChrome(session, section: .deliveries), rows: rows))
        }
    }

    /// Message templates with their #tags (the texts of notices and quick replies); admins only.
    @Sendable func templateList(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let session = context.console else { return ConsoleRenderer.redirect("/sign-in") }
        return try await page(session) { try await renderTemplates(request, context: context, session: session, problem: nil, status: .ok) }
    }

    func renderTemplates(
        _ request: Request, context: AppRequestContext, session: PostgresConsoleSessionRepository.SignedIn, problem: String?,
        status: HTTPResponse.Status
    ) async throws -> Response {
        try TenantPolicy.require(session.user, .manageWorkflowTemplates)
        let listed = try await messageTemplates.list(request, context: context)
        let rows = listed.items.map {
            TemplatesView.Row(
                id: $0.id?.description ?? "", name: $0.name, channel: $0.channel, subject: $0.subject ?? "", body: $0.body,
                notice: $0.notice ?? "")
        }
        let given = Set(listed.items.compactMap(\.notice))
        let notices = NoticeCatalog.all.map { notice in
            let key = NoticeCatalog.key(of: notice)
            return TemplatesView.Notice(
                key: key, subject: notice.subject, tags: NoticeCatalog.tags(of: notice).sorted().map { "#\($0)" }.joined(separator: " "),
                given: given.contains(key))
        }
        let tags = MessageTemplate.knownTags.sorted { $0.key < $1.key }.map { TemplatesView.Tag(tag: "#" + $0.key, meaning: $0.value) }
        return renderer.page(
            "templates", TemplatesView(
                chrome: ConsoleChrome(session, section: .templates), rows: rows, tags: tags, notices: notices, problem: problem),
            status: status)
    }

    struct TemplateForm: Decodable {
        var name: String?
        var subject: String?
        var body: String?
        /// The catalog notice the text replaces; empty for a quick reply.
        var notice: String?
    }

    @Sendable func addTemplate(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let session = context.console else { return ConsoleRenderer.redirect("/sign-in") }
        return try await page(session) {
            let form = try await decodeForm(TemplateForm.self, request) ?? TemplateForm()
            do {
                _ = try await messageTemplates.create(
                    MessageTemplate(
                        name: form.name ?? "", channel: .email, subject: form.subject ?? "", body: form.body ?? "",
                        notice: form.notice?.isEmpty == false ? form.notice : nil),
                    caller: session.user)
            } catch let error where Self.isRefusal(error) {
                let (apiError, _) = APIError.from(error)
                return try await renderTemplates(request, context: context, session: session, problem: apiError.message, status: apiError.status)
            }
            return ConsoleRenderer.redirect("/templates")
        }
    }

    @Sendable func deleteTemplate(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let session = context.console else { return ConsoleRenderer.redirect("/sign-in") }
        return try await page(session) {
            _ = try await messageTemplates.delete(request, context: context)
            return ConsoleRenderer.redirect("/templates")
        }
    }

    /// The hub CRM (000): the people whose leads the hub accepted, newest first, each linked to its lead.
    @Sendable func clientList(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let session = context.console else { return ConsoleRenderer.redirect("/sign-in") }
        return try await page(session) {
            let result = try await crm.listClients(request, context: context)
            let rows = result.items.map {
                ClientsView.Row(
                    leadID: $0.leadID.description, name: $0.name, email: $0.email ?? "", city: $0.city ?? "", since: ConsoleDate.format($0.createdAt))
            }
            let next = result.nextCursor.flatMap { Self.head(path: "/clients", query: [("cursor", $0)]).path }
            return renderer.page("clients", ClientsView(chrome: ConsoleChrome(session, section: .clients), rows: rows, nextHref: next))
        }
    }

    /// The hub's listings, and their HSDS export.
    @Sendable func listingList(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let session = context.console else { return ConsoleRenderer.redirect("/sign-in") }
        return try await page(session) {
            let result = try await listings.list(
                Request(head: Self.head(path: "/listings", query: [("limit", "200")]), body: .init(buffer: ByteBuffer())), context: context)
            let rows = result.items.map {
                ListingsView.Row(
                    name: $0.name, areas: $0.serviceAreas.joined(separator: ", "), categories: $0.categories.joined(separator: ", "),
                    accepting: $0.acceptingReferrals, published: $0.published)
            }
            return renderer.page("listings", ListingsView(chrome: ConsoleChrome(session, section: .listings), rows: rows))
        }
    }

    /// The same HSDS document as `GET /v1/listings/export`, as a download.
    @Sendable func listingExport(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let session = context.console else { return ConsoleRenderer.redirect("/sign-in") }
        return try await page(session) {
            var response = try await listings.exportHSDS(request, context: context).response(from: request, context: context)
            response.headers[.contentDisposition] = "attachment; filename=\"listings-hsds.json\""
            return response
        }
    }

    /// Opportunities, with the lead each came from (001: a lead converts into one).
    @Sendable func opportunityList(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let session = context.console else { return ConsoleRenderer.redirect("/sign-in") }
        return try await page(session) {
            let result = try await crm.listOpportunities(request, context: context)
            let rows = result.items.map {
                OpportunitiesView.Row(
                    name: $0.name, leadID: $0.leadID?.description, stage: $0.stage, amount: $0.amount.map { "\($0)" } ?? "",
                    closed: $0.closed, created: ConsoleDate.format($0.createdAt))
            }
            let next = result.nextCursor.flatMap { Self.head(path: "/opportunities", query: [("cursor", $0)]).path }
            return renderer.page(
                "opportunities", OpportunitiesView(chrome: ConsoleChrome(session, section: .opportunities), rows: rows, nextHref: next))
        }
    }

    /// The tenant's settings (admins): how late an action taken offline may arrive and still count.
    @Sendable func settingsPage(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let session = context.console else { return ConsoleRenderer.redirect("/sign-in") }
        return try await page(session) {
            guard session.user.has(.admin) else { throw DomainError.forbidden("only an admin may change the tenant's settings") }
            let current = try await sync.settings(request, context: context)
            return renderer.page(
                "settings", SettingsView(chrome: ConsoleChrome(session, section: .settings), graceHours: Self.hours(current.offlineGraceSeconds)))
        }
    }

    struct SettingsForm: Decodable { var grace_hours: String? }

    @Sendable func saveSettings(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let session = context.console else { return ConsoleRenderer.redirect("/sign-in") }
        return try await page(session) {
            let form = try await decodeForm(SettingsForm.self, request) ?? SettingsForm()
            let text = form.grace_hours?.trimmingCharacters(in: .whitespaces) ?? ""
            do {
                // Hours with up to two decimals; the range is the store's (0 to 7 days).
                guard let hours = Double(text), hours.isFinite, (0...168).contains(hours) else {
                    throw DomainError.invalid("grace_hours", "must be a number of hours from 0 to 168 (7 days)")
                }
                _ = try await sync.save(.init(offlineGraceSeconds: Int((hours * 3600).rounded())), caller: session.user)
            } catch let error where Self.isRefusal(error) {
                let (apiError, _) = APIError.from(error)
                return renderer.page(
                    "settings", SettingsView(chrome: ConsoleChrome(session, section: .settings), graceHours: text, problem: apiError.message),
                    status: apiError.status)
            }
            return ConsoleRenderer.redirect("/settings")
        }
    }

    static func hours(_ seconds: Int) -> String {
        seconds % 3600 == 0 ? "\(seconds / 3600)" : String(format: "%.2f", Double(seconds) / 3600)
    }
}
