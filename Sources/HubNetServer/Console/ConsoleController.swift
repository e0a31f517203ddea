import Foundation
import HTTPTypes
import Hummingbird
import HubNetCore
import HubNetPostgres
import Crypto
import Logging
import NIOCore

/// The web console: server-rendered pages for people at their desks, under `/` (the API stays
/// under `/v1`). Every page reads and acts through the API's own controllers with the signed-in
/// user as the caller, so the console shows and allows exactly what the API would.
struct ConsoleController {
    struct Settings: Sendable {
        /// Where people reach the console, for links in emails.
        var baseURL: String
        /// Print each sign-in link to standard error (the embedded database: sign in without mail).
        var printSignInLinks: Bool
        /// Mark the cookie Secure (the console is served over HTTPS).
        var secureCookies: Bool
        var linkLifetime: TimeInterval = 15 * 60
        var sessionLifetime: TimeInterval = 12 * 3600
    }

    let database: Database
    let sessions: PostgresConsoleSessionRepository
    let outbox: PostgresOutboxRepository
    let templates: PostgresWorkflowTemplateRepository
    let leads: LeadController
    let referrals: ReferralController
    let reports: ReportController
    let devices: DeviceController
    let messageTemplates: MessageTemplateController
    let users: UserController
    let webhooks: WebhookController
    let crm: CRMController
    let listings: ListingController
    let sync: SyncController
    let tenants: PostgresTenantRepository
    let notifier: SyncNotifier
    let heartbeat: Duration
    let renderer: ConsoleRenderer
    let settings: Settings
    let addressLimiter: RateLimiter
    let emailLimiter: RateLimiter
    let trustForwardedFor: Bool
    let now: @Sendable () -> Date

    /// The console's routes: HTML pages and forms, not API operations (the OpenAPI document
    /// describes the API; `OperationsTests` checks every other route is in it).
    static let routes: Set<String> = [
        "GET /", "GET /sign-in", "POST /sign-in", "GET /sign-in/link", "POST /sign-in/link", "GET /assets/{file}", "GET /leads",
        "GET /leads/{id}", "GET /leads/new", "POST /leads/new", "POST /leads/{id}/actions/{action}", "POST /leads/{id}/notes", "POST /leads/{id}/activities", "POST /leads/{id}/activities/{activityId}/{outcome}", "POST /sign-out", "POST /sign-out/everywhere",
        "GET /board", "GET /referrals", "GET /reports", "GET /devices", "POST /devices/{id}/revoke",
        "GET /users", "POST /users", "POST /users/{id}/deactivate", "GET /deliveries", "GET /live",
        "GET /templates", "POST /templates", "POST /templates/{id}/delete",
        "GET /clients", "GET /listings", "GET /listings/hsds.json", "GET /opportunities", "GET /settings", "POST /settings",
    ]

    func addRoutes(to router: Router<AppRequestContext>) {
        router.get("/", use: home)
        router.get("sign-in", use: signInForm)
        router.post("sign-in", use: signIn)
        router.get("sign-in/link", use: linkForm)
        router.post("sign-in/link", use: useLink)
        router.get("assets/{file}", use: asset)
        let pages = router.group()
            .add(middleware: ConsoleSessionMiddleware(database: database, sessions: sessions, renderer: renderer, now: now))
        pages.get("leads", use: leadTable)
        pages.get("leads/new", use: newLeadForm)
        pages.post("leads/new", use: createLead)
        pages.get("leads/{id}", use: leadPage)
        pages.post("leads/{id}/actions/{action}", use: act)
        pages.post("leads/{id}/notes", use: addNote)
        pages.post("leads/{id}/activities", use: scheduleActivity)
        pages.post("leads/{id}/activities/{activityId}/{outcome}", use: closeActivity)
        pages.get("board", use: board)
        pages.get("referrals", use: referralList)
        pages.get("reports", use: reportPage)
        pages.get("devices", use: deviceList)
        pages.post("devices/{id}/revoke", use: revokeDevice)
        pages.get("users", use: userList)
        pages.post("users", use: addUser)
        pages.post("users/{id}/deactivate", use: deactivateUser)
        pages.get("deliveries", use: deliveryLog)
        pages.get("live", use: live)
        pages.get("templates", use: templateList)
        pages.get("clients", use: clientList)
        pages.get("opportunities", use: opportunityList)
        pages.get("settings", use: settingsPage)
        pages.post("settings", use: saveSettings)
        pages.get("listings", use: listingList)
        pages.get("listings/hsds.json", use: listingExport)
        pages.post("templates", use: addTemplate)
        pages.post("templates/{id}/delete", use: deleteTemplate)
        pages.post("sign-out", use: signOut)
        pages.post("sign-out/everywhere", use: signOutEverywhere)
    }

    // MARK: Sign-in

    @Sendable func home(_ request: Request, context: AppRequestContext) async throws -> Response {
        ConsoleRenderer.redirect("/leads")
    }

    @Sendable func asset(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let name = context.parameters.get("file"), let response = renderer.asset(name) else { throw DomainError.notFound("asset") }
        return response
    }

    @Sendable func signInForm(_ request: Request, context: AppRequestContext) async throws -> Response {
        renderer.page("sign-in", SignInView())
    }

    struct SignInForm: Decodable { var email: String? }

    /// Sends one single-use link per organisation where the address belongs to an active user. The
    /// answer is the same whether or not it does, so the form does not tell who has an account.
    @Sendable func signIn(_ request: Request, context: AppRequestContext) async throws -> Response {
        let form = try await decodeForm(SignInForm.self, request)
        let email = (form?.email ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        guard email.count <= 320, email.contains("@"), !email.unicodeScalars.contains(where: { $0.value < 0x20 }) else {
            return renderer.page(
                "sign-in", SignInView(email: String(email.prefix(320)), problem: "Enter your email address, such as ana@example.org."),
                status: .unprocessableContent)
        }
        let now = now()
        let address = LeadFormController.clientAddress(request, context: context, trustForwardedFor: trustForwardedFor)
        let byAddress = await addressLimiter.admit(address, now: now)
        let byEmail = await emailLimiter.admit(email.lowercased(), now: now)
        guard byAddress.allowed, byEmail.allowed else {
            var response = renderer.page(
                "sign-in", SignInView(email: email, problem: "Too many sign-in attempts. Wait a minute and try again."),
                status: .tooManyRequests)
            response.headers[.retryAfter] = String(max(byAddress.retryAfter, byEmail.retryAfter))
            return response
        }
        let accounts = try await database.withNetwork { connection in try await sessions.accounts(email: email, on: connection) }
        for account in accounts {
            let token = try await database.withTenant(account.tenantID) { transaction in
                let token = try await sessions.createLink(
                    for: account.userID, now: now, lifetime: settings.linkLifetime, in: transaction)
                let link = "\(settings.baseURL)/sign-in/link?token=\(token.stringValue)"
                let notice = NoticeCatalog.Filled(
                    NoticeCatalog.signIn,
                    [
                        "tenant.name": account.tenantName, "sign_in.link": link,
                        "sign_in.minutes": String(Int(settings.linkLifetime / 60)),
                    ])
                try await outbox.enqueueEmail(
                    event: "console.sign_in", to: account.email, notice: notice, now: now, in: transaction)
                return token
            }
            if settings.printSignInLinks {
                FileHandle.standardError.write(
                    Data("Sign-in link for \(account.email) (\(account.tenantName)): \(settings.baseURL)/sign-in/link?token=\(token.stringValue)\n".utf8))
            }
        }
        context.logger.info("console sign-in requested", metadata: ["accounts": "\(accounts.count)"])
        return renderer.page("sign-in", SignInView(sent: true, email: email))
    }

    /// Opening the link shows a button; only pressing it (a POST) uses the link, so a mail
    /// scanner that follows links does not spend it.
    @Sendable func linkForm(_ request: Request, context: AppRequestContext) async throws -> Response {
        let token = request.uri.queryParameters.get("token") ?? ""
        guard BearerToken(token)?.kind == .signInLink else { return linkRefused() }
        return renderer.page("sign-in-link", SignInLinkView(token: token))
    }

    struct LinkForm: Decodable { var token: String? }

    @Sendable func useLink(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let form = try await decodeForm(LinkForm.self, request), let token = form.token.flatMap(BearerToken.init),
            token.kind == .signInLink
        else { return linkRefused() }
        let now = now()
        let opened = try await database.withTenant(token.tenantID) { transaction -> (BearerToken, String)? in
            guard let user = try await sessions.consumeLink(token, now: now, on: transaction.connection) else { return nil }
            let session = try await sessions.createSession(
                for: user, now: now, lifetime: settings.sessionLifetime, in: transaction)
            return (session.cookie, session.csrf)
        }
        guard let (cookie, _) = opened else { return linkRefused() }
        var response = ConsoleRenderer.redirect("/leads")
        response.setCookie(ConsoleCookie.set(cookie, lifetime: settings.sessionLifetime, secure: settings.secureCookies))
        context.logger.info("console session opened", metadata: ["tenant_id": "\(token.tenantID)"])
        return response
    }

    private func linkRefused() -> Response {
        renderer.page(
            "error",
            ErrorView(
                chrome: .signedOut, heading: "This link does not work",
                message: "Sign-in links work once, within 15 minutes. Ask for a new one.", back: "/sign-in"),
            status: .gone)
    }

    @Sendable func signOut(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let session = context.console else { return ConsoleRenderer.redirect("/sign-in") }
        try await database.withTenant(session.user.tenantID) { transaction in
            try await sessions.revoke(session.sessionID, now: now(), in: transaction)
        }
        var response = ConsoleRenderer.redirect("/sign-in")
        response.setCookie(ConsoleCookie.clear(secure: settings.secureCookies))
        return response
    }

    /// Ends every console session of this user, in every browser.
    @Sendable func signOutEverywhere(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let session = context.console else { return ConsoleRenderer.redirect("/sign-in") }
        let ended = try await database.withTenant(session.user.tenantID) { transaction in
            try await sessions.revokeAll(of: session.user.userID, now: now(), in: transaction)
        }
        context.logger.info("console sessions ended everywhere", metadata: ["sessions": "\(ended)"])
        var response = ConsoleRenderer.redirect("/sign-in")
        response.setCookie(ConsoleCookie.clear(secure: settings.secureCookies))
        return response
    }

    // MARK: Leads

    /// The lead table: the API's lead list (same filters, same visibility, keyset pages) as HTML.
    @Sendable func leadTable(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let session = context.console else { return ConsoleRenderer.redirect("/sign-in") }
        return try await page(session) {
            // Empty fields of the filter form mean "any"; the rest is the API's query as it is.
            let query = request.uri.queryParameters
            var items: [(String, String)] = []
            for (key, value) in query where !value.isEmpty { items.append((String(key), String(value))) }
            let filtered = Request(head: Self.head(path: "/leads", query: items), body: .init(buffer: ByteBuffer()))
            let page = try await leads.list(filtered, context: context)
            let (all, people) = try await database.withTenant(session.user.tenantID) { transaction in
                (
                    try await templates.all(in: transaction),
                    try await leads.users.list(
                        page: try PageRequest(limit: 200), includeDeactivated: true, in: transaction).items
                )
            }
            let names = Dictionary(people.map { ($0.id, $0.displayName) }, uniquingKeysWith: { first, _ in first })
            let templateNames = Dictionary(all.map { ($0.key, $0.name) }, uniquingKeysWith: { first, _ in first })
            func value(_ key: String) -> String { items.first { $0.0 == key }?.1 ?? "" }
            let chosenTemplate = value("template")
            let shown = all.filter { chosenTemplate.isEmpty || $0.key == chosenTemplate }
            var statuses: [ConsoleOption] = []
            var seen = Set<String>()
            for template in shown {
                for status in template.statuses where seen.insert(status.key).inserted {
                    statuses.append(ConsoleOption(value: status.key, label: status.name, selected: status.key == value("status")))
                }
            }
            let stages = Array(Set(shown.flatMap { $0.statuses.compactMap(\.stage) })).sorted()
            let next = page.nextCursor.flatMap { cursor in
                Self.head(path: "/leads", query: items.filter { $0.0 != "cursor" } + [("cursor", cursor)]).path
            }
            let rows = page.items.map { lead in
                LeadsView.Row(
                    id: lead.id.description, name: lead.contact.name, email: lead.contact.email, statusName: lead.statusName,
                    badges: ConsoleBadge.of(lead.badges), templateName: templateNames[lead.template] ?? lead.template,
                    assignee: lead.assignedUserID.flatMap { names[$0] } ?? "", created: ConsoleDate.format(lead.createdAt),
                    createdISO: lead.createdAt.ISO8601Format(), expires: ConsoleDate.format(lead.expiresAt))
            }
            let view = LeadsView(
                chrome: ConsoleChrome(session), q: value("q"),
                templates: all.map { ConsoleOption(value: $0.key, label: $0.name, selected: $0.key == chosenTemplate) },
                statuses: statuses, stages: stages.map { ConsoleOption(value: $0, label: $0, selected: $0 == value("stage")) },
                badges: [("new", "New"), ("overdue", "Overdue"), ("past_maximum", "Past maximum")].map {
                    ConsoleOption(value: $0.0, label: $0.1, selected: $0.0 == value("badge"))
                },
                assignees: people.filter { $0.deactivatedAt == nil }.map {
                    ConsoleOption(value: $0.id.description, label: $0.displayName, selected: $0.id.description == value("assignee"))
                },
                sorts: [("created_at", "Oldest first"), ("-created_at", "Newest first")].map {
                    ConsoleOption(value: $0.0, label: $0.1, selected: $0.0 == (value("sort").isEmpty ? "created_at" : value("sort")))
                },
                hubTable: session.user.tenantKind == .hub, leadTableOnly: value("in_crm") == "false", rows: rows, count: rows.count,
                one: rows.count == 1, nextHref: next)
            return renderer.page("leads", view)
        }
    }

    @Sendable func leadPage(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let session = context.console else { return ConsoleRenderer.redirect("/sign-in") }
        return try await page(session) {
            let id = try context.id("id", of: Lead.self, "lead")
            let done = request.uri.queryParameters.get("done").map { String($0) }
            return try await renderLead(id, session: session, done: done, problem: nil, status: .ok)
        }
    }

    /// Manual entry of a lead (000: a moderator types one in), in one of the tenant's workflows.
    @Sendable func newLeadForm(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let session = context.console else { return ConsoleRenderer.redirect("/sign-in") }
        return try await page(session) { try await renderNewLead(session, form: NewLeadForm(), problem: nil, status: .ok) }
    }

    struct NewLeadForm: Decodable {
        var template: String?
        var name: String?
        var email: String?
        var phone: String?
        var city: String?
        var region: String?
        var request: String?
        /// Made with the form: a second press of the button (or a resent form) finds the same lead.
        var key: String?
        /// The consent checkbox (`on`) and how the person gave it.
        var consent: String?
        var consent_method: String?
    }

    func renderNewLead(
        _ session: PostgresConsoleSessionRepository.SignedIn, form: NewLeadForm, problem: String?, status: HTTPResponse.Status
    ) async throws -> Response {
        try TenantPolicy.require(session.user, .workLeads)
        let all = try await database.withTenant(session.user.tenantID) { transaction in
            try await templates.all(in: transaction)
        }
        let chosen = form.template ?? TenantPolicy.defaultTemplateKey(for: session.user.tenantKind)
        let view = NewLeadView(
            chrome: ConsoleChrome(session), templates: all.map { ConsoleOption(value: $0.key, label: $0.name, selected: $0.key == chosen) },
            name: form.name ?? "", email: form.email ?? "", phone: form.phone ?? "", city: form.city ?? "", region: form.region ?? "",
            request: form.request ?? "", key: form.key ?? UUID().uuidString, consent: form.consent == "on",
            consentMethods: ["verbal", "written", "electronic"].map {
                ConsoleOption(value: $0, label: $0.capitalized, selected: $0 == (form.consent_method ?? "verbal"))
            }, problem: problem)
        return renderer.page("lead-new", view, status: status)
    }

    @Sendable func createLead(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let session = context.console else { return ConsoleRenderer.redirect("/sign-in") }
        return try await page(session) {
            let form = try await decodeForm(NewLeadForm.self, request) ?? NewLeadForm()
            func text(_ value: String?) -> String? {
                let trimmed = value?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
                return trimmed.isEmpty ? nil : trimmed
            }
            var contact: [String: Any] = ["name": form.name ?? ""]
            for (key, value) in [("email", form.email), ("phone", form.phone), ("city", form.city), ("region", form.region)] {
                if let value = text(value) { contact[key] = value }
            }
            var body: [String: Any] = ["contact": contact, "source": "manual"]
            if let template = text(form.template) { body["template"] = template }
            if let asked = text(form.request) { body["request"] = asked }
            if form.consent == "on" {
                body["consent"] = [
                    "scope": "network", "purpose": "referral to other organisations of the network",
                    "method": text(form.consent_method) ?? "verbal",
                ]
            }
            // The API's own create, so the console's leads are validated, defaulted and idempotent alike.
            let json = try JSONSerialization.data(withJSONObject: body, options: [.sortedKeys])
            let id: Lead.ID
            do {
                let decoded = try JSONDecoder.hubnet.decode(CreateLeadRequest.self, from: json)
                let key = text(form.key).flatMap { $0.utf8.count <= 255 && $0.utf8.allSatisfy { (0x21...0x7E).contains($0) } ? $0 : nil }
                id = try await leads.create(
                    decoded, requestHash: Data(SHA256.hash(data: json)), idempotencyKey: key.map { "console-" + $0 }, caller: session.user
                ).0.id
            } catch let error where Self.isRefusal(error) {
                let (apiError, _) = APIError.from(error)
                return try await renderNewLead(session, form: form, problem: apiError.message, status: apiError.status)
            }
            return ConsoleRenderer.redirect("/leads/\(id)?done=created")
        }
    }

    /// The form fields of any action; empty fields are absent inputs.
    struct ActionForm: Decodable {
        var reason: String?
        var status: String?
        var listing_id: String?
        var advisor_id: String?
        var assignee_id: String?
        var create_opportunity: String?
    }

    @Sendable func act(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let session = context.console else { return ConsoleRenderer.redirect("/sign-in") }
        return try await page(session) {
            let id = try context.id("id", of: Lead.self, "lead")
            guard let key = context.parameters.get("action") else { throw DomainError.notFound("action") }
            let form = try await decodeForm(ActionForm.self, request) ?? ActionForm()
            func text(_ value: String?) -> String? {
                let trimmed = value?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
                return trimmed.isEmpty ? nil : trimmed
            }
            func identifier<Owner>(_ value: String?, _ field: String) throws(DomainError) -> Identifier<Owner>? {
                guard let text = text(value) else { return nil }
                guard let id = Identifier<Owner>(string: text) else { throw .invalid(field, "must be an id") }
                return id
            }
            let arguments = ActionArguments(
                reason: text(form.reason), status: text(form.status), listingId: try identifier(form.listing_id, "listing_id"),
                advisorId: try identifier(form.advisor_id, "advisor_id"), assigneeId: try identifier(form.assignee_id, "assignee_id"),
                createOpportunity: text(form.create_opportunity) == "true" ? true : nil)
            let done: LeadResponse
            do {
                done = try await leads.perform(key, arguments, on: id, caller: session.user)
            } catch let error where Self.isRefusal(error) {
                // The rules said no (a reason missing, the lead moved on): the page again, with why.
                let (apiError, _) = APIError.from(error)
                return try await renderLead(id, session: session, done: nil, problem: apiError.message, status: apiError.status)
            }
            context.logger.info("lead action", metadata: ["lead_id": "\(id)", "action": "\(key)", "via": "console"])
            if request.uri.queryParameters.get("back") == "board" {
                return ConsoleRenderer.redirect(Self.head(path: "/board", query: [("template", done.template)]).path ?? "/board")
            }
            return ConsoleRenderer.redirect("/leads/\(id)?done=\(key.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")")
        }
    }

    struct NoteForm: Decodable { var body: String? }

    @Sendable func addNote(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let session = context.console else { return ConsoleRenderer.redirect("/sign-in") }
        return try await page(session) {
            let id = try context.id("id", of: Lead.self, "lead")
            let form = try await decodeForm(NoteForm.self, request)
            do {
                _ = try await leads.addNote(form?.body ?? "", to: id, caller: session.user)
            } catch let error where Self.isRefusal(error) {
                let (apiError, _) = APIError.from(error)
                return try await renderLead(id, session: session, done: nil, problem: apiError.message, status: apiError.status)
            }
            return ConsoleRenderer.redirect("/leads/\(id)?done=note")
        }
    }

    struct ActivityForm: Decodable {
        var kind: String?
        var title: String?
        /// `datetime-local` (`2026-05-01T09:00`), read as UTC as the console shows times.
        var due: String?
    }

    /// Schedules an activity (003: activities must be closed before a life-cycle lead closes).
    @Sendable func scheduleActivity(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let session = context.console else { return ConsoleRenderer.redirect("/sign-in") }
        return try await page(session) {
            let id = try context.id("id", of: Lead.self, "lead")
            let form = try await decodeForm(ActivityForm.self, request) ?? ActivityForm()
            do {
                guard let kind = LeadActivity.Kind(rawValue: form.kind ?? "") else {
                    throw DomainError.invalid("kind", "choose call, meeting, email or task")
                }
                var due: Date?
                if let text = form.due?.trimmingCharacters(in: .whitespaces), !text.isEmpty {
                    let full = text.count == 16 ? text + ":00Z" : text + "Z"
                    guard let date = Timestamp.parseISO8601(full) else { throw DomainError.invalid("due", "must be a date and time") }
                    due = date
                }
                _ = try await leads.schedule(ActivitySchedule(kind: kind, title: form.title ?? "", dueAt: due), on: id, caller: session.user)
            } catch let error where Self.isRefusal(error) {
                let (apiError, _) = APIError.from(error)
                return try await renderLead(id, session: session, done: nil, problem: apiError.message, status: apiError.status)
            }
            return ConsoleRenderer.redirect("/leads/\(id)?done=activity")
        }
    }

    @Sendable func closeActivity(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let session = context.console else { return ConsoleRenderer.redirect("/sign-in") }
        return try await page(session) {
            let id = try context.id("id", of: Lead.self, "lead")
            let activityID = try context.id("activityId", of: LeadActivity.self, "activity")
            let state: LeadActivity.State
            switch context.parameters.get("outcome") {
            case "complete": state = .completed
            case "cancel": state = .cancelled
            default: throw DomainError.notFound("activity outcome")
            }
            do {
                _ = try await leads.close(activityID, of: id, as: state, caller: session.user)
            } catch let error where Self.isRefusal(error) {
                let (apiError, _) = APIError.from(error)
                return try await renderLead(id, session: session, done: nil, problem: apiError.message, status: apiError.status)
            }
            return ConsoleRenderer.redirect("/leads/\(id)?done=activity")
        }
    }

    /// The tenant's pokes for open pages (the sync live channel, with the session as the credential):
    /// a page that shows leads offers a refresh when something changed.
    @Sendable func live(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let session = context.console else { return ConsoleRenderer.redirect("/sign-in") }
        return SyncController.eventStream(notifier.subscribe(session.user.tenantID), heartbeat: heartbeat)
    }

    // MARK: Rendering

    private func renderLead(
        _ id: Lead.ID, session: PostgresConsoleSessionRepository.SignedIn, done: String?, problem: String?, status: HTTPResponse.Status
    ) async throws -> Response {
        let page = try await leads.page(of: id, caller: session.user)
        let names = Dictionary(page.users.map { ($0.id, $0.displayName) }, uniquingKeysWith: { first, _ in first })
        let statusNames = Dictionary(page.template.statuses.map { ($0.key, $0.name) }, uniquingKeysWith: { first, _ in first })
        let needsListing = page.actions.contains { $0.requirements.contains(.referralTarget(.listing)) }
        let listings =
            needsListing ? try await referrals.suggestions(for: id, caller: session.user, limit: 20).items.map {
                ConsoleOption(value: $0.listing.id.description, label: "\($0.listing.name) (\($0.listing.hub.name))", selected: false)
            } : []
        let lead = page.lead
        // What the last form did (Post/Redirect/Get): only names the page knows are shown.
        let notice =
            done == "note" ? "Note added." : done == "activity" ? "Activity saved." : done == "created" ? "Lead saved." : page.template.actions.first { $0.key == done }.map { "\($0.name): done." }
        let actions = page.actions.map { action in
            let choices: [String] = action.transitions.flatMap { transition -> [String] in
                guard transition.from.contains(lead.status), case .chosen(let keys) = transition.to else { return [] }
                return keys.filter { $0 != lead.status }
            }
            let wantsAdvisor = action.requirements.contains(.referralTarget(.advisor))
            let wantsAssignee = action.requirements.contains(.assignee)
            let people = page.users.filter { user in
                wantsAdvisor ? user.roles.contains(.advisor) && user.id != session.user.userID : true
            }
            return LeadView.Action(
                leadID: lead.id.description, key: action.key, name: action.name,
                confirm: ["decline", "withdraw", "close_not_converted", "lost"].contains(action.key) ? "\(action.name) this lead?" : nil,
                needsReason: action.requirements.contains(.reason), hasStatusChoices: !choices.isEmpty,
                statusChoices: choices.map { ConsoleOption(value: $0, label: statusNames[$0] ?? $0, selected: false) },
                hasUserChoices: wantsAdvisor || wantsAssignee,
                userChoices: (wantsAdvisor || wantsAssignee)
                    ? people.map { ConsoleOption(value: $0.id.description, label: $0.displayName, selected: false) } : [],
                userField: wantsAdvisor ? "advisor_id" : "assignee_id", userLabel: wantsAdvisor ? "Advisor" : "Assign to",
                hasListingChoices: action.requirements.contains(.referralTarget(.listing)) && !listings.isEmpty,
                noListingChoices: action.requirements.contains(.referralTarget(.listing)) && listings.isEmpty,
                listingChoices: action.requirements.contains(.referralTarget(.listing)) ? listings : [],
                offersOpportunity: action.requirements.contains(.linkedOpportunity) && !lead.opportunityLinked)
        }
        // Quick replies (004): the tenant's email templates filled in for this lead, to send from
        // the person's own mail program.
        let replies =
            canWriteLeads(session) && lead.contact.email != nil
            ? try await messageTemplates.quickReplies(for: id, caller: session.user).map { reply in
                LeadView.Reply(
                    name: reply.name, subject: reply.subject, body: reply.body,
                    mailto: Self.mailto(lead.contact.email ?? "", subject: reply.subject, body: reply.body))
            } : []
        var fields: [LeadView.Field] = []
        func add(_ label: String, _ value: String?) {
            if let value, !value.isEmpty { fields.append(.init(label: label, value: value)) }
        }
        if lead.erasedAt != nil {
            add("Personal data", "Erased \(ConsoleDate.format(lead.erasedAt))")
        } else if lead.identityWithheld {
            add("Personal data", "Withheld: the person has not consented to share their details with you (ask the referring organisation)")
        }
        add("Known to", page.knownElsewhere > 0 ? "\(page.knownElsewhere) other organisation\(page.knownElsewhere == 1 ? "" : "s")" : nil)
        add("Email", lead.contact.email)
        add("Phone", lead.contact.phone)
        add("City", lead.contact.city)
        add("Region", lead.contact.region)
        for field in LeadTextField.all { add(field.label, lead.texts[field]) }
        add("Workflow", page.template.name)
        add("Stage", lead.stage)
        add("Source", lead.source)
        add("Assignee", lead.assignedUserID.flatMap { names[$0] })
        add("Created", ConsoleDate.format(lead.createdAt))
        add("Expires", ConsoleDate.format(lead.expiresAt))
        add("Expected completion", ConsoleDate.format(lead.expectedCompletionAt))
        add("Target close", ConsoleDate.format(lead.targetCloseAt))
        add("Completed", ConsoleDate.format(lead.completedAt))
        let canWrite = TenantPolicy.allows(session.user, .workLeads)
        let view = LeadView(
            chrome: ConsoleChrome(session, notice: notice), id: lead.id.description, name: lead.contact.name,
            statusName: lead.statusName, badges: ConsoleBadge.of(lead.badges), problem: problem, actions: actions,
            noActions: canWrite ? "No action is open to you on this lead now." : "Your role reads leads; it does not act on them.",
            canWrite: canWrite, hasReplies: !replies.isEmpty, replies: replies,
            fields: fields, hasActivities: !page.activities.isEmpty,
            activities: page.activities.map {
                .init(
                    leadID: lead.id.description, id: $0.id.description, kind: $0.kind.rawValue, title: $0.title, state: $0.state.rawValue,
                    due: $0.dueAt.map { ConsoleDate.format($0) }, open: $0.state == .open && canWrite)
            },
            kinds: LeadActivity.Kind.allCases.map { ConsoleOption(value: $0.rawValue, label: $0.rawValue.capitalized, selected: false) },
            hasNotes: !page.notes.isEmpty,
            notes: page.notes.map { .init(author: names[$0.authorID] ?? "Someone", at: ConsoleDate.format($0.createdAt), body: $0.body) },
            chain: page.firstBrokenSeq.map { "The history chain is broken at entry \($0)." }
                ?? "The history chain verifies (\(page.history.count) entries).",
            history: page.history.map { entry in
                .init(
                    at: ConsoleDate.format(entry.at), action: entry.action, from: entry.fromStatus.map { statusNames[$0] ?? $0 } ?? "",
                    to: statusNames[entry.toStatus] ?? entry.toStatus, actor: entry.actorUserID.flatMap { names[$0] } ?? "System",
                    reason: entry.reason ?? "")
            })
        return renderer.page("lead", view, status: status)
    }

    private func canWriteLeads(_ session: PostgresConsoleSessionRepository.SignedIn) -> Bool {
        TenantPolicy.allows(session.user, .workLeads)
    }

    /// A `mailto:` link with the subject and body filled in (RFC 6068: percent-encoded, CRLF line ends).
    static func mailto(_ address: String, subject: String, body: String) -> String {
        let allowed = CharacterSet.alphanumerics.union(.init(charactersIn: "-._~"))
        func encode(_ text: String) -> String { text.addingPercentEncoding(withAllowedCharacters: allowed) ?? "" }
        let crlf = body.replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\n", with: "\r\n")
        return "mailto:\(encode(address))?subject=\(encode(subject))&body=\(encode(crlf))"
    }

    /// Runs a page; a refusal (not found, forbidden, invalid) becomes an HTML page with its status.
    func page(
        _ session: PostgresConsoleSessionRepository.SignedIn, _ body: () async throws -> Response
    ) async throws -> Response {
        do {
            return try await body()
        } catch let error where Self.isRefusal(error) {
            let (apiError, _) = APIError.from(error)
            let heading =
                switch apiError.status {
                case .notFound: "Not found"
                case .forbidden: "Not allowed"
                default: "That did not work"
                }
            return renderer.page(
                "error", ErrorView(chrome: ConsoleChrome(session), heading: heading, message: apiError.message, back: "/leads"),
                status: apiError.status)
        }
    }

    /// Errors that are answers (4xx), not failures: shown on the page. Anything else goes to the
    /// error middleware, which logs it.
    static func isRefusal(_ error: any Error) -> Bool {
        let (apiError, isInternal) = APIError.from(error)
        return !isInternal && (400..<500).contains(apiError.status.code)
    }

    /// A form body, or `nil` when it does not decode as this form; more than `maximumFormBytes` is a 413.
    func decodeForm<Form: Decodable>(_ type: Form.Type, _ request: Request) async throws -> Form? {
        try Self.decodeForm(type, from: try await Self.collectForm(request))
    }

    static let maximumFormBytes = 64 * 1024

    static func collectForm(_ request: Request) async throws -> ByteBuffer {
        do {
            return try await request.body.collect(upTo: maximumFormBytes)
        } catch is NIOTooManyBytesError {
            throw HTTPError(.contentTooLarge, message: "the form sent more than this page accepts")
        }
    }

    /// Any bytes: a form, or `nil` (never a trap: see the console's fuzz test).
    static func decodeForm<Form: Decodable>(_ type: Form.Type, from body: ByteBuffer) throws -> Form? {
        try? URLEncodedFormDecoder().decode(Form.self, from: String(buffer: body))
    }

    /// A request head for an internal call with this path and query.
    static func head(path: String, query: [(String, String)]) -> HTTPRequest {
        var components = URLComponents()
        components.path = path
        components.queryItems = query.isEmpty ? nil : query.map { URLQueryItem(name: $0.0, value: $0.1) }
        // URLComponents leaves '+' alone in queries; the API reads it as a space, as forms send it.
        let text = (components.string ?? path).replacingOccurrences(of: "+", with: "%2B")
        return HTTPRequest(method: .get, scheme: nil, authority: nil, path: text)
    }
}
