import Foundation
import HubNetCore

/// An offline-first device: the app reads and changes leads here at any time; `sync()` sends the
/// queued intents and brings the server's changes.
///
/// Every change the app makes is checked locally by the same workflow engine the server runs, stored
/// as a numbered mutation in the local store (so it survives restarts), and shown at once: what the
/// app reads is the server's last word with the pending mutations applied on top, so after each pull
/// the pending ones are rebased onto the new server state. The server's answer is final: a rejected
/// mutation's effect disappears and is reported; a lost field edit is reported with its value.
public actor SyncClient {
    public nonisolated let store: LocalStore
    let transport: any SyncTransport
    let clock: @Sendable () -> Date
    /// Changes per pull and records per snapshot page.
    let pageSize: Int
    /// Mutations per push.
    let batchSize: Int

    struct Identity: Codable {
        var id: User.ID
        var tenantId: Tenant.ID
        var roles: [String]
    }

    private var identity: Identity?
    private var templateCache: [String: WorkflowTemplate] = [:]

    public init(
        store: LocalStore, transport: any SyncTransport, clock: @escaping @Sendable () -> Date = Date.init, pageSize: Int = 1_000,
        batchSize: Int = 100
    ) {
        self.store = store
        self.transport = transport
        self.clock = clock
        self.pageSize = pageSize
        self.batchSize = batchSize
    }

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        return encoder
    }()
    static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }()

    // MARK: Reading (server state with pending mutations on top)

    public func leads() throws -> [SyncLead] {
        let touched = try store.pendingLeads()
        return try store.records(.lead, as: SyncLead.self).map { lead in
            touched.contains(lead.id.rawValue) ? try view(lead, pending: try store.pending(lead: lead.id.rawValue)) : lead
        }
    }

    /// The ids of the leads this device holds (those `leads()` returns), without decoding them.
    public func leadIDs() throws -> [Lead.ID] {
        try store.ids(.lead).map(Lead.ID.init).sorted { $0.description < $1.description }
    }

    public func lead(_ id: Lead.ID) throws -> SyncLead? {
        guard let lead = try store.record(.lead, id.rawValue, as: SyncLead.self) else { return nil }
        return try view(lead, pending: try store.pending(lead: id.rawValue))
    }

    public func notes(of lead: Lead.ID) throws -> [SyncNote] {
        try loadCache()
        var notes = try store.records(.note, as: SyncNote.self, lead: lead.rawValue)
        let known = Set(notes.map(\.id))
        for mutation in try store.pending(lead: lead.rawValue) {
            guard case .addNote(let id, let body) = mutation.intent, !known.contains(id), let me = identity?.id else { continue }
            notes.append(SyncNote(id: id, leadId: lead, authorId: me, body: body, createdAt: mutation.actedAt ?? 0))
        }
        return notes
    }

    public func activities(of lead: Lead.ID) throws -> [SyncActivity] {
        try activities(of: lead, pending: try store.pending(lead: lead.rawValue))
    }

    public func referrals() throws -> [SyncReferral] { try store.records(.referral, as: SyncReferral.self) }

    /// The referrals made from one lead of this device's (what its source side follows), found
    /// without reading the others.
    public func referrals(of lead: Lead.ID) throws -> [SyncReferral] {
        try store.records(.referral, as: SyncReferral.self, lead: lead.rawValue)
    }

    /// Mutations made here and not yet answered by the server.
    public func pending() throws -> [Mutation] { try store.pending() }

    /// The position this device has synced to, if it has.
    public func cursor() throws -> String? { try store.meta("cursor") }

    /// The workflow a lead follows, as cached from the server.
    public func template(of lead: SyncLead) -> WorkflowTemplate? {
        try? loadCache()
        return templateCache[lead.templateKey]
    }

    /// The actions this device's user may take on the lead now: the buttons to show.
    public func availableActions(on lead: SyncLead) throws -> [WorkflowTemplate.Action] {
        try loadCache()
        guard let identity, let template = templateCache[lead.templateKey] else { return [] }
        let open = try activities(of: lead.id, pending: try store.pending(lead: lead.id.rawValue)).filter { $0.state == "open" }.count
        let actor = WorkflowActor(userID: identity.id, roles: Set(identity.roles.compactMap(Role.init(rawValue:))), side: .owner)
        return WorkflowEngine.availableActions(
            template, lead: lead.state(openActivities: open, unitMembers: nil), actor: actor, now: clock())
    }

    // MARK: Changing (checked locally, queued, shown at once)

    /// Takes a workflow action; refused here, with the engine's reason, when it is not available now.
    @discardableResult
    public func act(_ action: String, on lead: Lead.ID, _ arguments: ActionArguments = .init()) throws -> Mutation {
        let now = clock()
        guard let current = try self.lead(lead) else { throw DomainError.notFound("lead") }
        let intent = LeadAction(action, arguments)
        _ = try decide(intent, on: current, at: now)
        return try store.enqueue { Mutation(id: $0, leadId: lead, actedAt: now.micros, intent: .act(intent)) }
    }

    /// Edits fields of a lead, each against the value shown now.
    @discardableResult
    public func edit(_ lead: Lead.ID, _ fields: [LeadField: String?]) throws -> Mutation {
        guard let current = try self.lead(lead) else { throw DomainError.notFound("lead") }
        let changes = fields.sorted { $0.key.rawValue < $1.key.rawValue }.map { field, value in
            LeadFieldEdit(field: field, from: field.value(in: current.details), to: value)
        }
        var details = current.details
        for change in changes { try change.field.set(change.to, in: &details) }
        return try store.enqueue {
            Mutation(
                id: $0, leadId: lead, actedAt: self.clock().micros,
                intent: .update(LeadUpdate(baseVersion: current.version, changes: changes)))
        }
    }

    @discardableResult
    public func addNote(_ body: String, to lead: Lead.ID) throws -> LeadNote.ID {
        guard try self.lead(lead) != nil else { throw DomainError.notFound("lead") }
        let id = LeadNote.ID()
        _ = try store.enqueue { Mutation(id: $0, leadId: lead, actedAt: self.clock().micros, intent: .addNote(id: id, body: body)) }
        return id
    }

    @discardableResult
    public func scheduleActivity(_ kind: LeadActivity.Kind, title: String, dueAt: Date?, on lead: Lead.ID) throws -> LeadActivity.ID {
        guard try self.lead(lead) != nil else { throw DomainError.notFound("lead") }
        let schedule = ActivitySchedule(kind: kind, title: title, dueAt: dueAt)
        _ = try store.enqueue { Mutation(id: $0, leadId: lead, actedAt: self.clock().micros, intent: .scheduleActivity(schedule)) }
        return schedule.id
    }

    /// Refers a lead to a partner company (001). Nothing changes here until the server made the
    /// referral: it arrives with the next pull (`referrals()`), or the push rejects it.
    @discardableResult
    public func refer(_ lead: Lead.ID, to partner: Tenant.ID, expiresAt: Date? = nil) throws -> Mutation {
        guard try self.lead(lead) != nil else { throw DomainError.notFound("lead") }
        return try store.enqueue {
            Mutation(
                id: $0, leadId: lead, actedAt: self.clock().micros,
                intent: .refer(ReferralRequest(partnerId: partner, expiresAt: expiresAt)))
        }
    }

    public func closeActivity(_ id: LeadActivity.ID, of lead: Lead.ID, completed: Bool) throws {
        _ = try store.enqueue {
            Mutation(
                id: $0, leadId: lead, actedAt: self.clock().micros, intent: completed ? .completeActivity(id) : .cancelActivity(id))
        }
    }

    // MARK: Syncing

    /// Sends the pending mutations, then pulls until caught up; re-syncs from a snapshot when told to.
    ///
    /// When the server says the device is revoked or its user deactivated, the device wipes its local
    /// data, reports every mutation still queued as rejected with that code (the ones the server had
    /// applied as applied), and from then on `sync()` throws the `SyncStop`.
    public func sync() async throws -> SyncReport {
        if let stop = try store.stopped() { throw stop }
        var report = SyncReport()
        do {
            try await prepare()
            if try store.meta("cursor") == nil { try await resetFromSnapshot(nil, report: &report) }
            try await push(&report)
            try await pull(&report)
        } catch let error as SyncServerError where Self.stopCodes.contains(error.code ?? "") {
            try stop(error, report: &report)
        }
        report.changedLeads.formUnion(report.rejections.compactMap { $0.mutation?.leadId.rawValue })
        report.changedLeads.subtract(report.dropped)
        return report
    }

    /// Sends the pending mutations and does not pull (an app that sends as soon as the user acts,
    /// and pulls when poked). A device that holds no records yet (new, or its storage wiped) sends
    /// nothing here: its first `sync()` takes the snapshot first, which tells it the server's
    /// numbering of its mutations. Stops and wipes on the same answers as `sync()`.
    public func pushPending() async throws -> SyncReport {
        if let stop = try store.stopped() { throw stop }
        var report = SyncReport()
        do {
            try await prepare()
            guard try store.meta("cursor") != nil else { return report }
            try await push(&report)
        } catch let error as SyncServerError where Self.stopCodes.contains(error.code ?? "") {
            try stop(error, report: &report)
        }
        report.changedLeads.formUnion(report.rejections.compactMap { $0.mutation?.leadId.rawValue })
        return report
    }

    /// The answers after which a device must stop and wipe.
    static let stopCodes: Set<String> = ["device_revoked", "user_deactivated"]

    private func stop(_ error: SyncServerError, report: inout SyncReport) throws {
        let last = error.envelope?.lastMutationId ?? 0
        let stop = SyncStop(code: error.code ?? "device_revoked", message: error.message ?? "", lastMutationId: last)
        for row in try store.pendingRows() {
            let mutation = try? LocalStore.decoder.decode(Mutation.self, from: row.json)
            if row.id <= last {
                report.pushed += 1
                report.applied += 1
            } else {
                report.rejections.append(
                    .init(mutationID: row.id, mutation: mutation, code: stop.code, reason: "the device was stopped: \(stop.message)"))
            }
        }
        try store.wipe(stop: stop)
        identity = nil
        templateCache = [:]
        report.stopped = stop
    }

    /// Loads who the device's user is and the tenant's workflow templates from the store, when it
    /// holds them and they are not loaded yet: an app opened offline shows its queued actions and
    /// notes at once, before its first sync.
    private func loadCache() throws {
        if identity == nil, let cached = try store.meta("identity") {
            identity = try JSONDecoder().decode(Identity.self, from: Data(cached.utf8))
        }
        if templateCache.isEmpty { templateCache = try store.templates() }
    }

    /// Loads who the device's user is and the tenant's workflow templates, once.
    public func prepare() async throws {
        try loadCache()
        if identity == nil {
            let me: Identity = try await get("/v1/me")
            try store.setMeta("identity", String(decoding: try JSONEncoder().encode(me), as: UTF8.self))
            identity = me
        }
        if templateCache.isEmpty {
            struct List: Decodable { var items: [WorkflowTemplate] }
            let list: List = try await get("/v1/workflow-templates")
            try store.saveTemplates(list.items)
            templateCache = Dictionary(list.items.map { ($0.key, $0) }, uniquingKeysWith: { first, _ in first })
        }
    }

    private func push(_ report: inout SyncReport) async throws {
        while true {
            var batch = try store.pendingRows(limit: batchSize)
            guard !batch.isEmpty else { return }
            // Ids in a batch run on without a gap (after a renumbering, replays come first on their own).
            if let gap = batch.indices.dropFirst().first(where: { batch[$0].id != batch[$0 - 1].id + 1 }) { batch = Array(batch[..<gap]) }
            // The queued JSON goes out as it was stored.
            var body = Data(#"{"mutations":["#.utf8)
            for (index, row) in batch.enumerated() {
                if index > 0 { body.append(UInt8(ascii: ",")) }
                body.append(row.json)
            }
            body.append(contentsOf: Array("]}".utf8))
            let answer: PushResponse
            do {
                answer = try await exchange("POST", "/v1/sync/push", body)
            } catch let error as SyncServerError where error.code == "mutation_ids_reused" {
                // The server has numbers this store does not know: number the queue after them.
                let offset = error.envelope?.field.flatMap { field in
                    field.firstMatch(of: /^mutations\[([0-9]+)\]$/).flatMap { Int($0.1) }
                }
                let reused = offset.flatMap { $0 < batch.count ? batch[$0].id : nil } ?? batch[0].id
                guard let serverLast = error.envelope?.lastMutationId, try store.continueNumbering(after: serverLast, from: reused) > 0
                else { throw error }
                continue
            }
            let byID = Dictionary(batch.map { ($0.id, $0.json) }, uniquingKeysWith: { first, _ in first })
            let answered = answer.results.map(\.id)
            try await store.queue.write { db in
                for id in answered {
                    try db.execute(sql: "DELETE FROM pending WHERE id = ?", arguments: [id])
                }
            }
            for outcome in answer.results {
                guard let json = byID[outcome.id] else { continue }
                let mutation = try? LocalStore.decoder.decode(Mutation.self, from: json)
                report.pushed += 1
                switch outcome.outcome {
                case .applied, .appliedWithConflicts:
                    report.applied += 1
                    if let mutation {
                        report.conflicts += outcome.conflicts.map { SyncReport.Conflict(mutation: mutation, conflict: $0) }
                    }
                case .rejected:
                    report.rejections.append(
                        .init(
                            mutationID: outcome.id, mutation: mutation, code: outcome.code ?? "rejected", reason: outcome.reason ?? "",
                            field: outcome.field))
                }
            }
            if answer.results.isEmpty { return }
        }
    }

    /// Pulls page after page. The next page is asked for as soon as this one's first keys are in
    /// (the server writes its cursor before its changes), so the server prepares it while this one
    /// is read and written to the store; the pages are still applied one after another, in order.
    private func pull(_ report: inout SyncReport) async throws {
        var prefetched: (cursor: String, fetch: PageFetch)? = nil
        defer { prefetched?.fetch.cancel() }
        while true {
            guard let cursor = try store.meta("cursor") else { return }
            let fetch: PageFetch
            if let ahead = prefetched, ahead.cursor == cursor {
                fetch = ahead.fetch
            } else {
                prefetched?.fetch.cancel()
                fetch = pageFetch(pullAfter: cursor)
            }
            prefetched = nil
            let body = try await fetch.value
            if let early = try? RawSyncPage.header(body), early.hasMore == true, early.reset == nil, let next = early.cursor {
                prefetched = (next, pageFetch(pullAfter: next))
            }
            let page = try await Self.read(body)
            report.pulls += 1
            if let reason = page.reset {
                try await resetFromSnapshot(reason, report: &report)
                continue
            }
            report.pulled += page.changes.count
            for change in page.changes where change.op == .upsert {
                if let lead = change.entity == .lead ? change.id : change.leadId { report.changedLeads.insert(lead) }
            }
            let store = store
            let (dropped, purged, discarded): ([UUID], [UUID], Int) = try await store.queue.write { db in
                var dropped: [UUID] = []
                var purged: [UUID] = []
                var discarded = 0
                for change in page.changes {
                    switch change.op {
                    case .upsert: try LocalStore.upsert(change, in: db)
                    case .delete, .drop:
                        try LocalStore.remove(change.entity, change.id, in: db)
                        if change.entity == .lead { dropped.append(change.id) }
                    case .purge:
                        try LocalStore.remove(.lead, change.id, in: db)
                        discarded += try LocalStore.discardPending(lead: change.id, in: db)
                        purged.append(change.id)
                    case .reset: break
                    }
                }
                try store.setMeta("cursor", page.cursor, in: db)
                return (dropped, purged, discarded)
            }
            report.dropped += dropped
            report.purged += purged
            report.discardedMutations += discarded
            report.changedLeads.formUnion(purged)
            if !page.hasMore { return }
        }
    }

    /// Replaces the local records with a snapshot of the user's view, keeping the pending mutations;
    /// leads that were held and are not in it are reported as dropped. Pages are staged as they
    /// arrive (their records kept as the server's JSON), so memory holds one page at a time.
    private func resetFromSnapshot(_ reason: SyncResetReason?, report: inout SyncReport) async throws {
        try store.beginSnapshot()
        var fetch: PageFetch? = pageFetch(snapshotPage: nil)
        defer { fetch?.cancel() }
        var first = true
        var cursor = ""
        while let current = fetch {
            let body = try await current.value
            // The next page is on its way while this one is read and staged.
            let early = (try? RawSyncPage.header(body))?.next
            fetch = early.map { pageFetch(snapshotPage: $0) }
            let answer = try await Self.read(body)
            if answer.next != early {
                fetch?.cancel()
                fetch = answer.next.map { pageFetch(snapshotPage: $0) }
            }
            if first, let serverLast = answer.lastMutationId { try store.continueNumbering(after: serverLast) }
            first = false
            try await store.stageSnapshot(answer.changes)
            guard let position = answer.cursor else { throw SyncServerError(status: 200, body: Data("a snapshot page without a cursor".utf8)) }
            cursor = position
        }
        let (dropped, records) = try store.finishSnapshot(cursor: cursor)
        if let reason { report.resets.append(reason) }
        report.replaced = true
        report.dropped += dropped
        report.pulled += records
        report.snapshotRecords += records
    }

    // MARK: Optimistic application

    private func view(_ lead: SyncLead, pending: [Mutation]) throws -> SyncLead {
        if !pending.isEmpty { try loadCache() }
        var lead = lead
        for mutation in pending where mutation.leadId == lead.id {
            switch mutation.intent {
            case .act(let action):
                guard let state = try? decide(action, on: lead, at: Date(micros: mutation.actedAt ?? 0)) else { continue }
                lead.apply(state)
            case .update(let update):
                guard let merged = try? LeadFieldMerge.merge(update, into: lead.details, currentVersion: lead.version) else { continue }
                lead.details = merged.details
            default: continue
            }
        }
        return lead
    }

    private func activities(of lead: Lead.ID, pending: [Mutation]) throws -> [SyncActivity] {
        if !pending.isEmpty { try loadCache() }
        var activities = try store.records(.activity, as: SyncActivity.self, lead: lead.rawValue)
        for mutation in pending where mutation.leadId == lead {
            switch mutation.intent {
            case .scheduleActivity(let schedule) where !activities.contains { $0.id == schedule.id }:
                activities.append(
                    SyncActivity(
                        id: schedule.id, leadId: lead, kind: schedule.kind.rawValue, title: schedule.title, dueAt: schedule.dueAt?.micros,
                        state: "open", createdBy: identity?.id ?? User.ID(), createdAt: mutation.actedAt ?? 0))
            case .completeActivity(let id), .cancelActivity(let id):
                if let index = activities.firstIndex(where: { $0.id == id && $0.state == "open" }) {
                    activities[index].state = mutation.name == .activityComplete ? "completed" : "cancelled"
                    activities[index].closedAt = mutation.actedAt
                }
            default: continue
            }
        }
        return activities
    }

    /// The engine's decision for an action on the lead as this device shows it.
    private func decide(_ action: LeadAction, on lead: SyncLead, at now: Date) throws -> LeadState {
        try loadCache()
        guard let identity, let template = templateCache[lead.templateKey] else {
            throw DomainError.conflict("not_prepared", "sync once before acting offline")
        }
        let open = try activities(of: lead.id, pending: []).filter { $0.state == "open" }.count
        let actor = WorkflowActor(userID: identity.id, roles: Set(identity.roles.compactMap(Role.init(rawValue:))), side: .owner)
        return try WorkflowEngine.decide(
            template, lead: lead.state(openActivities: open, unitMembers: nil), actor: actor, action: action.action,
            input: action.arguments.input, now: now
        ).state
    }

    // MARK: HTTP

    private func get<Answer: Decodable>(_ path: String) async throws -> Answer {
        try await exchange("GET", path, nil)
    }

    /// A pull or snapshot page on its way: its body, fetched off the actor, so the page before it
    /// is written meanwhile.
    typealias PageFetch = Task<Data, any Error>

    private func pageFetch(pullAfter cursor: String) -> PageFetch {
        let escaped = cursor.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed) ?? cursor
        return Self.fetch(transport, "/v1/sync/pull?cursor=\(escaped)&limit=\(pageSize)")
    }

    private func pageFetch(snapshotPage token: String?) -> PageFetch {
        let query = token.map { "&page=\($0.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? $0)" } ?? ""
        return Self.fetch(transport, "/v1/sync/snapshot?limit=\(pageSize)\(query)")
    }

    /// A pull or snapshot page's body.
    private static func fetch(_ transport: any SyncTransport, _ path: String) -> PageFetch {
        Task.detached {
            let (status, data) = try await transport.send("GET", path, body: nil)
            guard (200..<300).contains(status) else { throw SyncServerError(status: status, body: data) }
            return data
        }
    }

    /// A page read off the actor, its records left as the server's JSON (`RawSyncPage`).
    private static func read(_ body: Data) async throws -> RawSyncPage {
        try await Task.detached { try RawSyncPage.parse(body) }.value
    }

    /// Pull and snapshot answers name their snake_case keys: no key strategy, much faster.
    private static let recordDecoder = JSONDecoder()

    private func exchange<Answer: Decodable>(_ method: String, _ path: String, _ body: Data?) async throws -> Answer {
        let (status, data) = try await transport.send(method, path, body: body)
        guard (200..<300).contains(status) else { throw SyncServerError(status: status, body: data) }
        if Answer.self == PullResponse.self || Answer.self == SnapshotResponse.self || Answer.self == PushResponse.self {
            return try Self.recordDecoder.decode(Answer.self, from: data)
        }
        return try Self.decoder.decode(Answer.self, from: data)
    }
}
