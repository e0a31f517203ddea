import Crypto
import Foundation
import Hummingbird
import HubNetCore
import HubNetPostgres
import PostgresNIO

/// Leads of the caller's tenant: intake, lists, detail with the caller's buttons, actions through
/// the workflow engine, history, notes and activities.
struct LeadController {
    let database: Database
    let leads: PostgresLeadRepository
    let notes: PostgresLeadNoteRepository
    let activities: PostgresLeadActivityRepository
    let templates: PostgresWorkflowTemplateRepository
    let users: PostgresUserRepository
    let opportunities: PostgresOpportunityRepository
    let types: PostgresLeadTypeRepository
    let referrals: PostgresReferralRepository
    let listings: PostgresListingRepository
    let links: EmailActionLinks
    let outbox: PostgresOutboxRepository
    let commands: LeadCommands
    let idempotencyKeys: PostgresIdempotencyKeyRepository
    let privacy: PostgresPrivacyRepository
    /// Actions taken at the same moment in a tenant, stored together.
    let actions: LeadActionGroups
    let now: @Sendable () -> Date

    func addRoutes(to group: RouterGroup<AppRequestContext>) {
        group.post("leads", use: create)
        group.post("leads/import", use: importCSV)
        group.get("leads", use: list)
        group.get("leads/{id}", use: get)
        group.patch("leads/{id}", use: update)
        group.delete("leads/{id}", use: delete)
        group.post("leads/{id}/actions/{action}", use: act)
        group.get("leads/{id}/history", use: history)
        group.get("leads/{id}/history/verification", use: verifyHistory)
        group.post("leads/{id}/notes", use: addNote)
        group.get("leads/{id}/notes", use: listNotes)
        group.post("leads/{id}/activities", use: scheduleActivity)
        group.get("leads/{id}/activities", use: listActivities)
        group.post("leads/{id}/activities/{activityId}/complete", use: completeActivity)
        group.post("leads/{id}/activities/{activityId}/cancel", use: cancelActivity)
        group.get("leads/{id}/related", use: related)
        group.get("lead-types", use: listTypes)
        group.put("lead-types/{key}", use: saveType)
        group.get("workflow-templates", use: listTemplates)
        group.get("workflow-templates/{key}", use: getTemplate)
        group.put("workflow-templates/{key}", use: saveTemplate)
    }

    /// Manual entry or API intake. With an `Idempotency-Key` header, the same request sent again (after
    /// a timeout or a 503 `outcome_unknown`) answers with the lead it created instead of a second one.
    @Sendable func create(_ request: Request, context: AppRequestContext) async throws -> Response {
        let caller = try context.requireUser()
        try TenantPolicy.require(caller, .workLeads)
        let idempotencyKey = try request.idempotencyKey()
        let (body, bytes) = try await request.decodeJSONWithBody(CreateLeadRequest.self, context: context)
        let (created, replayed) = try await create(
            body, requestHash: Data(SHA256.hash(data: Data(bytes.readableBytesView))), idempotencyKey: idempotencyKey, caller: caller)
        var response = try Created(body: created).response(from: request, context: context)
        if replayed { response.headers[.idempotentReplayed] = "true" }
        return response
    }

    /// A new lead, as the API and the web console create one: the same request (hash) under the
    /// same idempotency key answers with the lead it made the first time.
    func create(_ body: CreateLeadRequest, requestHash: Data, idempotencyKey: String?, caller: AuthenticatedUser) async throws
        -> (LeadResponse, replayed: Bool)
    {
        try TenantPolicy.require(caller, .workLeads)
        let key = body.template ?? TenantPolicy.defaultTemplateKey(for: caller.tenantKind)
        let now = now()
        func attempt() async throws -> (Lead, WorkflowTemplate?, replayed: Bool) {
            try await database.withTenant(caller.tenantID) { transaction in
                if let idempotencyKey,
                    let earlier = try await idempotencyKeys.find(idempotencyKey, user: caller.userID, now: now, in: transaction)
                {
                    guard earlier.requestSHA256 == requestHash else {
                        throw DomainError(
                            kind: .conflict, code: "idempotency_key_reused",
                            message: "this Idempotency-Key was used with another request body; use a new key for a new lead",
                            field: "Idempotency-Key")
                    }
                    guard let lead = try await leads.get(earlier.lead, in: transaction) else {
                        throw DomainError.notFound("lead")
                    }
                    return (lead, try await templates.template(lead.templateKey, in: transaction), true)
                }
                guard let template = try await templates.template(key, in: transaction) else {
                    throw DomainError.invalid("template", "names no workflow template '\(key)'")
                }
                var details = body.details
                var expected = body.expectedCompletionAt
                // A known type fills in its defaults (003); an unknown one is just a label.
                if let typeKey = details.type, let type = try await types.get(typeKey, in: transaction) {
                    details = type.applyDefaults(to: details)
                    if expected == nil, let days = type.estimatedCompletionDays { expected = now + Double(days) * 86_400 }
                }
                try await commands.requireTeam(details.team, caller: caller, in: transaction)
                let source = body.source ?? .api
                guard source == .api || source == .manual else {
                    throw DomainError.invalid("source", "must be manual or api; forms, imports and referrals have their own ways in")
                }
                let lead = try await leads.create(
                    details, template: template, source: source, createdBy: caller.userID,
                    listing: body.listingID, unit: body.assignedUnitID, expiresAt: body.expiresAt,
                    expectedCompletionAt: expected, now: now, in: transaction)
                if let consent = body.consent {
                    try await privacy.record(
                        try consent.consent(for: lead.id, recordedBy: caller.userID, now: now, prefix: "consent."),
                        in: transaction)
                }
                if let idempotencyKey {
                    try await idempotencyKeys.record(
                        idempotencyKey, user: caller.userID, requestSHA256: requestHash, lead: lead.id, now: now,
                        in: transaction)
                }
                return (lead, template, false)
            }
        }
        let (lead, template, replayed): (Lead, WorkflowTemplate?, Bool)
        do {
            (lead, template, replayed) = try await attempt()
        } catch let error as PSQLError where error.violates("idempotency_keys_pkey") {
            // The same key's first request committed while this one ran: answer with its lead.
            (lead, template, replayed) = try await attempt()
        }
        return (LeadResponse(lead, template: template, now: now), replayed)
    }

    struct ImportResult: ResponseEncodable {
        var dryRun: Bool
        var imported: Int
    }

    /// Imports a CSV file of leads (header row; columns as in `LeadImport.columns`), all or none:
    /// every row's problems are reported together. `?dry_run=true` checks without storing.
    @Sendable func importCSV(_ request: Request, context: AppRequestContext) async throws -> Created<ImportResult> {
        let caller = try context.requireUser()
        try TenantPolicy.require(caller, .workLeads)
        if let contentType = request.headers[.contentType]?.lowercased(), !contentType.contains("csv") {
            throw HTTPError(.unsupportedMediaType, message: "send the file as text/csv")
        }
        let dryRun = try request.boolQuery("dry_run") ?? false
        let key = request.uri.queryParameters.get("template") ?? TenantPolicy.defaultTemplateKey(for: caller.tenantKind)
        let buffer = try await request.collectBody(context: context)
        let rows = try LeadCSV.parse(buffer)
        switch LeadImport.validate(header: rows.header, rows: rows.rows) {
        case .failure(let problems):
            throw APIError(
                status: .unprocessableContent, code: "import_invalid",
                message: "\(problems.errors.count) problem(s) in the file; nothing was imported",
                field: problems.errors.first.map { "row \($0.row): \($0.field)" }, details: problems.errors)
        case .success(let valid):
            if dryRun { return Created(body: ImportResult(dryRun: true, imported: valid.count)) }
            let now = now()
            try await database.withTenant(caller.tenantID) { transaction in
                guard let template = try await templates.template(key, in: transaction) else {
                    throw DomainError.invalid("template", "names no workflow template '\(key)'")
                }
                // Two statements for the whole file, whatever its number of rows.
                _ = try await leads.createMany(
                    valid.map { .init(details: $0.details, expiresAt: $0.expiresAt, expectedCompletionAt: $0.expectedCompletionAt) },
                    template: template, source: .import, createdBy: caller.userID, now: now, in: transaction)
            }
            if valid.count >= PostgresLeadRepository.statisticsRefreshThreshold {
                // The import stands whatever becomes of this; the next autovacuum pass catches up.
                do {
                    try await leads.refreshStatistics(database: database)
                } catch {
                    context.logger.warning("statistics not refreshed after an import", metadata: ["error": "\(String(reflecting: error))"])
                }
            }
            return Created(body: ImportResult(dryRun: false, imported: valid.count))
        }
    }

    @Sendable func list(_ request: Request, context: AppRequestContext) async throws -> PageResponse<LeadResponse> {
        let (result, all, now) = try await leadPage(request, context: context)
        let byKey = Dictionary(all.map { ($0.key, $0) }, uniquingKeysWith: { first, _ in first })
        return PageResponse(result) { LeadResponse($0, template: byKey[$0.templateKey], now: now) }
    }

    /// A page of the leads the caller may see matching the request's filters, with the tenant's
    /// templates and the time the badges were computed at (the lead list, the console's table and board).
    func leadPage(_ request: Request, context: AppRequestContext) async throws -> (Page<Lead>, [WorkflowTemplate], Date) {
        let caller = try context.requireUser()
        try TenantPolicy.require(caller, .readLeads)
        let page = try request.pageRequest()
        let query = request.uri.queryParameters
        func date(_ name: String) throws(DomainError) -> Date? {
            guard let text = query.get(name) else { return nil }
            guard let date = Timestamp.parseISO8601(text) else { throw .invalid(name, "must be an ISO 8601 date-time") }
            return date
        }
        func id<Owner>(_ name: String, _: Owner.Type) throws(DomainError) -> Identifier<Owner>? {
            guard let text = query.get(name) else { return nil }
            guard let id = Identifier<Owner>(string: text) else { throw .invalid(name, "must be an id") }
            return id
        }
        var filter = LeadFilter()
        filter.statuses = query.get("status").map { $0.split(separator: ",").map(String.init) } ?? []
        filter.templateKey = query.get("template")
        if let source = query.get("source") {
            guard let value = LeadSource(rawValue: source) else { throw DomainError.invalid("source", "unknown source '\(source)'") }
            filter.source = value
        }
        filter.type = query.get("type")
        filter.assignedUserID = try id("assignee", User.self)
        filter.assignedUnitID = try id("unit", TenantUnit.self)
        filter.createdFrom = try date("created_from")
        filter.createdTo = try date("created_to")
        filter.overdueAsOf = try date("overdue_as_of")
        filter.contactEmail = query.get("email")
        if let text = query.get("q") {
            guard text.unicodeScalars.count <= 200 else { throw DomainError.invalid("q", "must be at most 200 characters") }
            let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
            filter.search = trimmed.isEmpty ? nil : trimmed
        }
        filter.includeArchived = try request.boolQuery("include_archived") ?? false
        filter.inCRM = try request.boolQuery("in_crm")
        switch query.get("sort") ?? "created_at" {
        case "created_at": filter.newestFirst = false
        case "-created_at": filter.newestFirst = true
        case let other: throw DomainError.invalid("sort", "'\(other)' is not a sort; use created_at or -created_at")
        }
        if let badge = query.get("badge") {
            guard let value = LeadFilter.Badge(rawValue: badge) else {
                throw DomainError.invalid("badge", "must be new, overdue or past_maximum")
            }
            filter.badge = value
        }
        let stage = query.get("stage")
        let lifeCycle = try query.get("life_cycle").map { (text) throws(DomainError) -> LifeCycle in
            guard let value = LifeCycle(rawValue: text) else { throw .invalid("life_cycle", "unknown life cycle '\(text)'") }
            return value
        }
        let now = now()
        filter.now = now
        // Advisors list the leads they work; tenant-wide roles every lead.
        filter.viewer = VisibilityPolicy.seesWholeTenant(caller.roles) ? nil : caller.userID
        let (result, all) = try await database.withTenant(caller.tenantID) { transaction in
            let all = try await templates.all(in: transaction)
            if let key = filter.templateKey, !all.contains(where: { $0.key == key }) {
                throw DomainError.invalid("template", "names no workflow template '\(key)'")
            }
            var filter = filter
            filter.badgesUntilFirstActionTemplates = all.filter(\.badgesUntilFirstAction).map(\.key)
            filter.maximumOpen = all.compactMap { template in template.timers.maximumOpenDays.map { (template.key, $0) } }
            // A life cycle or a stage is a set of statuses across the tenant's templates.
            var predicates: [(WorkflowTemplate.Status) -> Bool] = []
            if let lifeCycle { predicates.append { $0.lifeCycle == lifeCycle } }
            if let stage { predicates.append { $0.stage == stage } }
            for predicate in predicates {
                let statuses = Set(all.flatMap { $0.statuses.filter(predicate).map(\.key) })
                filter.statuses = filter.statuses.isEmpty ? statuses.sorted() : filter.statuses.filter(statuses.contains)
                // Nothing can match: a status no template has.
                if filter.statuses.isEmpty { filter.statuses = [""] }
            }
            let result = try await leads.list(filter, page: page, in: transaction)
            try await privacy.logAccess(
                result.items.map(\.id), channel: .list, user: caller.userID, now: now, in: transaction)
            return (result, all)
        }
        return (result, all, now)
    }

    @Sendable func get(_ request: Request, context: AppRequestContext) async throws -> LeadResponse {
        let caller = try context.requireUser()
        try TenantPolicy.require(caller, .readLeads)
        let id = try context.id("id", of: Lead.self, "lead")
        let now = now()
        let (lead, template) = try await load(id, caller: caller, logging: .api, now: now)
        let actions =
            TenantPolicy.allows(caller, .workLeads)
            ? WorkflowEngine.availableActions(template, lead: lead.state, actor: actor(caller), now: now) : []
        return LeadResponse(lead, template: template, now: now, actions: actions)
    }

    /// Edits an open lead's fields under its row lock; a closed lead is kept as it closed.
    @Sendable func update(_ request: Request, context: AppRequestContext) async throws -> LeadResponse {
        let caller = try context.requireUser()
        try TenantPolicy.require(caller, .workLeads)
        let id = try context.id("id", of: Lead.self, "lead")
        let body = try await request.decodeJSON(UpdateLeadRequest.self, context: context)
        let now = now()
        let (lead, template, _) = try await database.withTenant(caller.tenantID) { transaction in
            try await commands.update(
                id, version: body.version, caller: caller, expectedCompletionAt: body.expectedCompletionAt, unit: body.assignedUnitID,
                now: now, in: transaction) { details, _ in
                body.apply(to: &details)
                return []
            }
        }
        let actions = WorkflowEngine.availableActions(template, lead: lead.state, actor: actor(caller), now: now)
        return LeadResponse(lead, template: template, now: now, actions: actions)
    }

    /// Only leads whose template allows it (003: Pending ones) may be deleted.
    @Sendable func delete(_ request: Request, context: AppRequestContext) async throws -> NoContent {
        let caller = try context.requireUser()
        try TenantPolicy.require(caller, .workLeads)
        let id = try context.id("id", of: Lead.self, "lead")
        try await database.withTenant(caller.tenantID) { transaction in
            let (lead, template) = try await commands.lockVisibleLead(id, caller: caller, in: transaction)
            guard WorkflowEngine.canDelete(template, lead: lead.state) else {
                let status = template.status(lead.state.status)?.name ?? lead.state.status
                throw DomainError.conflict("lead_not_deletable", "a lead that is \(status) cannot be deleted")
            }
            try await leads.delete(id, in: transaction)
        }
        return NoContent()
    }

    /// Takes an action. The lead is locked while the rules decide, so two people acting at once
    /// leave one outcome: the second sees the first's result and is refused if it no longer applies.
    @Sendable func act(_ request: Request, context: AppRequestContext) async throws -> LeadResponse {
        let caller = try context.requireUser()
        try TenantPolicy.require(caller, .workLeads)
        let id = try context.id("id", of: Lead.self, "lead")
        guard let actionKey = context.parameters.get("action") else { throw DomainError.notFound("action") }
        let arguments = try await request.decodeJSON(ActionArguments.self, context: context, emptyAs: "{}", decoder: .wire)
        let response = try await perform(actionKey, arguments, on: id, caller: caller)
        context.logger.info("lead action", metadata: ["lead_id": "\(id)", "action": "\(actionKey)"])
        return response
    }

    /// One action by a user, as the API and the web console take it.
    func perform(_ actionKey: String, _ arguments: ActionArguments, on id: Lead.ID, caller: AuthenticatedUser) async throws
        -> LeadResponse
    {
        try TenantPolicy.require(caller, .workLeads)
        let acted = try await actions.act(LeadAction(actionKey, arguments), on: id, caller: caller)
        let available = WorkflowEngine.availableActions(acted.template, lead: acted.lead.state, actor: actor(caller), now: acted.now)
        return LeadResponse(acted.lead, template: acted.template, now: acted.now, actions: available)
    }

    @Sendable func history(_ request: Request, context: AppRequestContext) async throws -> LeadHistoryResponse {
        let (_, entries) = try await loadHistory(context)
        return LeadHistoryResponse(entries)
    }

    @Sendable func verifyHistory(_ request: Request, context: AppRequestContext) async throws -> HistoryVerificationResponse {
        let (id, entries) = try await loadHistory(context)
        let broken = PostgresLeadRepository.firstBrokenEntry(entries, lead: id)
        return HistoryVerificationResponse(intact: broken == nil, entries: entries.count, firstBrokenSeq: broken)
    }

    @Sendable func addNote(_ request: Request, context: AppRequestContext) async throws -> Created<NoteResponse> {
        let caller = try context.requireUser()
        try TenantPolicy.require(caller, .workLeads)
        let id = try context.id("id", of: Lead.self, "lead")
        let body = try await request.decodeJSON(NoteRequest.self, context: context)
        return Created(body: try await addNote(body.body, to: id, caller: caller))
    }

    /// A note by a user, as the API and the web console add it.
    func addNote(_ body: String, to id: Lead.ID, caller: AuthenticatedUser) async throws -> NoteResponse {
        try TenantPolicy.require(caller, .workLeads)
        let now = now()
        let note = try await database.withTenant(caller.tenantID) { transaction in
            try await commands.addNote(body, to: id, caller: caller, now: now, in: transaction)
        }
        return NoteResponse(note)
    }

    @Sendable func listNotes(_ request: Request, context: AppRequestContext) async throws -> NoteListResponse {
        let (caller, id) = try readable(context)
        let items = try await database.withTenant(caller.tenantID) { transaction in
            guard try await leads.visible(id, to: caller, in: transaction) != nil else { throw DomainError.notFound("lead") }
            return try await notes.list(lead: id, in: transaction)
        }
        return NoteListResponse(items: items.map(NoteResponse.init))
    }

    @Sendable func scheduleActivity(_ request: Request, context: AppRequestContext) async throws -> Created<ActivityResponse> {
        let caller = try context.requireUser()
        try TenantPolicy.require(caller, .workLeads)
        let id = try context.id("id", of: Lead.self, "lead")
        let body = try await request.decodeJSON(ActivityRequest.self, context: context)
        return Created(body: try await schedule(try body.schedule(), on: id, caller: caller))
    }

    /// A new activity on a lead, as the API and the web console schedule it.
    func schedule(_ schedule: ActivitySchedule, on id: Lead.ID, caller: AuthenticatedUser) async throws -> ActivityResponse {
        try TenantPolicy.require(caller, .workLeads)
        let now = now()
        let activity = try await database.withTenant(caller.tenantID) { transaction in
            try await commands.scheduleActivity(schedule, on: id, caller: caller, now: now, in: transaction)
        }
        return ActivityResponse(activity)
    }

    @Sendable func listActivities(_ request: Request, context: AppRequestContext) async throws -> ActivityListResponse {
        let (caller, id) = try readable(context)
        let items = try await database.withTenant(caller.tenantID) { transaction in
            guard try await leads.visible(id, to: caller, in: transaction) != nil else { throw DomainError.notFound("lead") }
            return try await activities.list(lead: id, in: transaction)
        }
        return ActivityListResponse(items: items.map(ActivityResponse.init))
    }

    @Sendable func completeActivity(_ request: Request, context: AppRequestContext) async throws -> ActivityResponse {
        try await close(context, as: .completed)
    }

    @Sendable func cancelActivity(_ request: Request, context: AppRequestContext) async throws -> ActivityResponse {
        try await close(context, as: .cancelled)
    }

    /// Other leads of the same contact, by email or phone (004: related leads), newest first.
    @Sendable func related(_ request: Request, context: AppRequestContext) async throws -> PageResponse<LeadResponse> {
        let (caller, id) = try readable(context)
        let now = now()
        let (items, all) = try await database.withTenant(caller.tenantID) { transaction in
            guard let lead = try await leads.visible(id, to: caller, in: transaction) else { throw DomainError.notFound("lead") }
            return (
                try await leads.related(to: lead, in: transaction),
                try await templates.all(in: transaction)
            )
        }
        let byKey = Dictionary(all.map { ($0.key, $0) }, uniquingKeysWith: { first, _ in first })
        return PageResponse(Page(items: items, nextCursor: nil)) { LeadResponse($0, template: byKey[$0.templateKey], now: now) }
    }

    struct LeadTypeList: ResponseEncodable { var items: [LeadType] }

    struct LeadTypeRequest: Decodable {
        var name: String
        var estimatedCompletionDays: Int?
        var defaultImportance: String?
        var defaultPriority: String?
    }

    @Sendable func listTypes(_ request: Request, context: AppRequestContext) async throws -> LeadTypeList {
        let caller = try context.requireUser()
        return LeadTypeList(items: try await database.withTenant(caller.tenantID) { transaction in
            try await types.list(in: transaction)
        })
    }

    /// Creates or replaces a lead type and its defaults (admin).
    @Sendable func saveType(_ request: Request, context: AppRequestContext) async throws -> LeadType {
        let caller = try context.requireUser()
        try TenantPolicy.require(caller, .manageWorkflowTemplates)
        let body = try await request.decodeJSON(LeadTypeRequest.self, context: context)
        let type = LeadType(
            key: context.parameters.get("key") ?? "", name: body.name, estimatedCompletionDays: body.estimatedCompletionDays,
            defaultImportance: body.defaultImportance, defaultPriority: body.defaultPriority)
        return try await database.withTenant(caller.tenantID) { transaction in
            try await types.save(type, in: transaction)
        }
    }

    @Sendable func listTemplates(_ request: Request, context: AppRequestContext) async throws -> WorkflowTemplateListResponse {
        let caller = try context.requireUser()
        return WorkflowTemplateListResponse(
            items: try await database.withTenant(caller.tenantID) { transaction in
                try await templates.all(in: transaction)
            })
    }

    @Sendable func getTemplate(_ request: Request, context: AppRequestContext) async throws -> WorkflowTemplate {
        let caller = try context.requireUser()
        let key = context.parameters.get("key") ?? ""
        guard let template = try await database.withTenant(caller.tenantID, { transaction in
            try await templates.template(key, in: transaction)
        }) else { throw DomainError.notFound("workflow template") }
        return template
    }

    /// Replaces the tenant's copy of a template (rename statuses and stages, reorder stages, change
    /// timer days); an inconsistent template is refused with the reason.
    @Sendable func saveTemplate(_ request: Request, context: AppRequestContext) async throws -> WorkflowTemplate {
        let caller = try context.requireUser()
        try TenantPolicy.require(caller, .manageWorkflowTemplates)
        let key = context.parameters.get("key") ?? ""
        var template = try await request.decodeJSON(WorkflowTemplate.self, context: context)
        template.key = key
        return try await database.withTenant(caller.tenantID) { transaction in
            let saved = try await templates.save(template, in: transaction)
            // Reminder intervals may have changed: each open lead of the template is due anew.
            let days = saved.statuses.map { status in status.stage.flatMap { key in saved.stages.first { $0.key == key }?.reminderDays } ?? 0 }
            try await leads.rescheduleReminders(
                template: saved.key, statuses: saved.statuses.map(\.key), days: days, in: transaction)
            return saved
        }
    }

    private func close(_ context: AppRequestContext, as state: LeadActivity.State) async throws -> ActivityResponse {
        let caller = try context.requireUser()
        try TenantPolicy.require(caller, .workLeads)
        let id = try context.id("id", of: Lead.self, "lead")
        let activityID = try context.id("activityId", of: LeadActivity.self, "activity")
        return try await close(activityID, of: id, as: state, caller: caller)
    }

    /// Completes or cancels an activity, as the API and the web console do.
    func close(_ activityID: LeadActivity.ID, of id: Lead.ID, as state: LeadActivity.State, caller: AuthenticatedUser) async throws
        -> ActivityResponse
    {
        try TenantPolicy.require(caller, .workLeads)
        let now = now()
        let activity = try await database.withTenant(caller.tenantID) { transaction in
            try await commands.closeActivity(activityID, of: id, as: state, caller: caller, now: now, in: transaction)
        }
        return ActivityResponse(activity)
    }

    private func loadHistory(_ context: AppRequestContext) async throws -> (Lead.ID, [LeadHistoryEntry]) {
        let (caller, id) = try readable(context)
        let entries = try await database.withTenant(caller.tenantID) { transaction in
            guard try await leads.visible(id, to: caller, in: transaction) != nil else { throw DomainError.notFound("lead") }
            return try await leads.history(of: id, in: transaction)
        }
        return (id, entries)
    }

    /// Everything a person's page of one lead shows, read in one transaction under the same
    /// visibility as the API: the lead, the buttons the rules give this user now, the history and
    /// whether its chain verifies, notes, activities, and the tenant's active users by id.
    struct LeadPage: Sendable {
        var lead: LeadResponse
        var template: WorkflowTemplate
        var actions: [WorkflowTemplate.Action]
        var history: [LeadHistoryEntry]
        var firstBrokenSeq: Int?
        var notes: [LeadNote]
        var activities: [LeadActivity]
        var users: [User]
        /// Other organisations holding a lead with the same email or phone (keyed-hash match).
        var knownElsewhere: Int
    }

    func page(of id: Lead.ID, caller: AuthenticatedUser) async throws -> LeadPage {
        try TenantPolicy.require(caller, .readLeads)
        let now = now()
        return try await database.withTenant(caller.tenantID) { transaction in
            guard let lead = try await leads.visible(id, to: caller, in: transaction),
                let template = try await templates.template(lead.templateKey, in: transaction)
            else { throw DomainError.notFound("lead") }
            let actions =
                TenantPolicy.allows(caller, .workLeads)
                ? WorkflowEngine.availableActions(template, lead: lead.state, actor: actor(caller), now: now) : []
            let history = try await leads.history(of: id, in: transaction)
            try await privacy.logAccess([id], channel: .console, user: caller.userID, now: now, in: transaction)
            let people = try await users.list(
                page: try PageRequest(limit: 200, after: nil), includeDeactivated: false, in: transaction)
            return LeadPage(
                lead: LeadResponse(lead, template: template, now: now, actions: actions), template: template, actions: actions,
                history: history, firstBrokenSeq: PostgresLeadRepository.firstBrokenEntry(history, lead: id),
                notes: try await notes.list(lead: id, in: transaction),
                activities: try await activities.list(lead: id, in: transaction), users: people.items,
                knownElsewhere: try await privacy.matches(of: id, in: transaction).organisations)
        }
    }

    private func readable(_ context: AppRequestContext) throws -> (AuthenticatedUser, Lead.ID) {
        let caller = try context.requireUser()
        try TenantPolicy.require(caller, .readLeads)
        return (caller, try context.id("id", of: Lead.self, "lead"))
    }

    /// A lead the caller sees, with its template; a read of its personal data is logged under `logging`.
    private func load(_ id: Lead.ID, caller: AuthenticatedUser, logging channel: PostgresPrivacyRepository.Channel? = nil, now: Date)
        async throws -> (Lead, WorkflowTemplate)
    {
        try await database.withTenant(caller.tenantID) { transaction in
            guard let lead = try await leads.visible(id, to: caller, in: transaction),
                let template = try await templates.template(lead.templateKey, in: transaction)
            else { throw DomainError.notFound("lead") }
            if let channel {
                try await privacy.logAccess([id], channel: channel, user: caller.userID, now: now, in: transaction)
            }
            return (lead, template)
        }
    }

    /// The caller as the workflow sees them: on the owning side of their own tenant's leads.
    private func actor(_ caller: AuthenticatedUser) -> WorkflowActor { LeadCommands.actor(caller) }
}
