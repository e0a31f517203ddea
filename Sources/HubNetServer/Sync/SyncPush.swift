import Crypto
import Foundation
import HubNetCore
import HubNetPostgres
import Logging
import PostgresNIO

/// Applies a device's batch of mutations: each exactly once, in order, through `LeadCommands`
/// (the rules of the HTTP API), its outcome stored in the device's log in the same transaction as
/// its effects. A replayed mutation answers from that log.
///
/// No mutation wedges the queue: only a malformed envelope (ids missing or not consecutive) is
/// refused whole. A mutation that cannot be read, names something unknown or breaks a rule gets its
/// own `rejected` outcome and the batch goes on; one whose handling fails for another reason (a
/// defect) fails the push with 500 `mutation_failed`, and after `maximumAttempts` such pushes in a
/// row it is rejected with `failed_repeatedly`, its error id in the log.
struct SyncPush: Sendable {
    let database: Database
    let sync: PostgresSyncRepository
    let commands: LeadCommands
    /// `HUBNET_SYNC_MAX_ATTEMPTS`: failed pushes of one mutation before it is rejected. Default 3.
    let maximumAttempts: Int

    /// The most mutations one push may carry.
    static let maximumBatch = 1_000

    struct Result: Sendable {
        var outcomes: [MutationOutcome]
        var lastMutationID: Int64
    }

    /// A mutation whose handling failed with an error that is not a refusal by the rules.
    struct MutationFailure: Error {
        var mutationID: Int64
        var underlying: any Error
        /// It failed in a set-based write of several mutations, so which one is to blame is not known.
        var inSetWrite = false
    }

    func push(_ items: [PushEnvelope.Item], caller: AuthenticatedUser, device: Device.ID, now: Date, logger: Logger) async throws
        -> Result
    {
        guard let first = items.first else { throw DomainError.invalid("mutations", "must not be empty") }
        guard items.count <= Self.maximumBatch else {
            throw DomainError.invalid("mutations", "at most \(Self.maximumBatch) per push")
        }
        guard first.id >= 1, first.id <= Int64.max - Int64(Self.maximumBatch) else {
            throw DomainError.invalid("mutations[0].id", "ids start at 1 and count up")
        }
        for (offset, item) in items.enumerated() where item.id != first.id + Int64(offset) {
            throw DomainError.invalid("mutations[\(offset)].id", "must be \(first.id + Int64(offset)): ids in a batch run 1, 2, 3…")
        }
        var doomed: Set<Int64> = []
        var setBased = true
        while true {
            do {
                return try await attempt(items, caller: caller, device: device, doomed: doomed, setBased: setBased, now: now)
            } catch let failure as MutationFailure {
                if DatabaseUnavailable.classify(failure.underlying) != nil || StoreRefusal.isCollision(failure.underlying) {
                    throw failure.underlying
                }
                if failure.inSetWrite {
                    // Find the mutation to blame: the same batch again, each mutation on its own.
                    setBased = false
                    continue
                }
                let errorID = UUID()
                logger.error(
                    "sync mutation failed",
                    metadata: [
                        "error_id": "\(errorID)", "mutation_id": "\(failure.mutationID)", "device_id": "\(device)",
                        "error": "\(String(reflecting: failure.underlying))",
                    ])
                let attempts = try await database.withTenant(caller.tenantID) { transaction in
                    try await sync.recordFailure(
                        mutation: failure.mutationID, device: device, errorID: errorID, now: now, in: transaction)
                }
                guard attempts >= maximumAttempts else {
                    throw APIError(
                        status: .internalServerError, code: "mutation_failed",
                        message: "mutation \(failure.mutationID) could not be applied (error \(errorID)); send the batch again: "
                            + "after \(maximumAttempts) failures it is rejected and the queue moves on",
                        field: "mutations")
                }
                doomed.insert(failure.mutationID)
            }
        }
    }

    private func attempt(
        _ items: [PushEnvelope.Item], caller: AuthenticatedUser, device: Device.ID, doomed: Set<Int64>, setBased: Bool, now: Date
    ) async throws -> Result {
        let first = items[0].id
        return try await database.withTenant(caller.tenantID, genericPlans: true) { transaction in
            // The device row is the push's lock: one batch of a device at a time.
            guard let (last, offlineGrace, hasFailures) = try await sync.lockDeviceForPush(device, in: transaction)
            else {
                throw DomainError.unauthenticated
            }
            if first > last + 1 {
                throw DomainError.conflict(
                    "mutation_gap", "the server has mutations up to \(last); this batch starts at \(first), so \(last + 1) is missing")
            }
            var outcomes: [MutationOutcome] = []
            if first <= last {
                let logged = try await sync.logged(
                    device: device, from: first, to: min(last, items[items.count - 1].id), in: transaction)
                // A replay is the same mutation sent again. A different one under a number already
                // used (a client that lost its store and counts from 1 again) would be answered with
                // the old one's outcome and silently lost: refuse it, saying where numbering stands.
                for (offset, (item, stored)) in zip(items, logged).enumerated() {
                    let same =
                        stored.digest.map { $0 == Self.digest(item) }
                        ?? (stored.name == PostgresSyncRepository.storable(item.rawName ?? "?") && stored.leadID == item.rawLeadId)
                    if !same { throw MutationIDsReused(mutationID: item.id, offset: offset, lastMutationID: last) }
                }
                outcomes = logged.map(\.outcome)
            }
            let fresh = items.filter { $0.id > last }
            // Lock every lead the new mutations touch, in one order, before applying any: concurrent
            // batches touching the same leads queue instead of deadlocking. The locked leads and
            // the tenant's templates are what the batch decides on in memory.
            let touched = Set(fresh.compactMap { try? $0.mutation.get().leadId }).map { (UUIDText.lowercase($0.rawValue), $0) }
                .sorted { $0.0 < $1.0 }.map(\.1)
            // Notes, edits and workflow actions are decided here (`LeadBatch`); a batch of activities only needs the locks.
            func has(_ kind: (LeadIntent) -> Bool) -> Bool {
                fresh.contains { if case .success(let mutation) = $0.mutation { kind(mutation.intent) } else { false } }
            }
            let acts = has { if case .act = $0 { true } else { false } }
            let edits = has { if case .update = $0 { true } else { false } }
            let notes = has { if case .addNote = $0 { true } else { false } }
            var locked: [Lead] = []
            var lastEntries: [Lead.ID: LeadHistoryEntry?] = [:]
            // Templates decide field edits (a closed lead is not edited) and actions.
            var templates: [WorkflowTemplate] = []
            // The leads the batch changes; a lead that only gets notes is shared with other batches
            // adding notes to it.
            var changed = Set<Lead.ID>()
            for item in fresh {
                guard case .success(let mutation) = item.mutation else { continue }
                if case .addNote = mutation.intent { continue }
                changed.insert(mutation.leadId)
            }
            let shared = Set(touched).subtracting(changed)
            if acts || edits {
                // The locks come with the templates; each changed lead's last history entry is read
                // after the locks are held, so that the batch chains edits and actions on it.
                templates = try await commands.templates.all(lockingLeads: touched, shared: shared, in: transaction)
                (locked, lastEntries) = try await commands.leads.readLocked(touched, historyOf: changed, in: transaction)
            } else if notes {
                locked = try await commands.leads.lockMany(touched, shared: shared, in: transaction)
            } else {
                locked = try await commands.leads.lockOnly(touched, in: transaction)
            }
            // The people actions name or notify, when some action does.
            let intents = fresh.compactMap { try? $0.mutation.get().intent }
            let leadsByID = Dictionary(locked.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
            let templatesByKey = Dictionary(templates.map { ($0.key, $0) }, uniquingKeysWith: { first, _ in first })
            let namesPeople = fresh.contains { item in
                guard case .success(let mutation) = item.mutation, case .act(let action) = mutation.intent else { return false }
                if action.arguments.advisorId != nil || action.arguments.assigneeId != nil { return true }
                let template = leadsByID[mutation.leadId].flatMap { templatesByKey[$0.templateKey] }
                return template?.action(action.action)?.effects.contains(.notifyAssignee) ?? false
            }
            let people =
                namesPeople
                ? try await commands.users.many(
                    LeadBatch.peopleToRead(intents, leads: locked, caller: caller), in: transaction) : nil
            let grace = TimeInterval(offlineGrace)
            var batch = LeadBatch(
                caller: caller, leads: locked, templates: templates, lastEntries: lastEntries, people: people, grace: grace, now: now)
            let failures =
                hasFailures ? try await sync.failures(device: device, from: fresh.first?.id ?? 0, in: transaction) : [:]
            var applied = last
            var logged: [SyncMutationLogEntry] = []
            let already = outcomes.count
            for item in fresh {
                let outcome: MutationOutcome
                switch item.mutation {
                case .failure(let refusal):
                    outcome = Self.rejection(item.id, refusal)
                case .success(let mutation):
                    if let failure = failures[item.id], doomed.contains(item.id) || failure.attempts >= maximumAttempts {
                        outcome = MutationOutcome(
                            id: item.id, outcome: .rejected, code: "failed_repeatedly",
                            reason: "the server failed to apply this mutation \(failure.attempts) times (error \(failure.errorID) in its log); "
                                + "it will not be applied")
                    } else {
                        let actedAt = mutation.actedAt.map(Date.init(micros:))
                        switch setBased
                            ? batch.decide(mutation.intent, on: mutation.leadId, position: outcomes.count, actedAt: actedAt) : .needsStore
                        {
                        case .accepted(let conflicts):
                            outcome = MutationOutcome(
                                id: mutation.id, outcome: conflicts.isEmpty ? .applied : .appliedWithConflicts, conflicts: conflicts)
                        case .refused(let refusal):
                            outcome = Self.rejection(mutation.id, refusal)
                        case .needsStore:
                            // Written in order: what the batch accepted so far, then this intent on its own.
                            try await write(&batch, outcomes: &outcomes, logged: &logged, already: already, caller: caller, now: now, in: transaction)
                            outcome = try await applyOnce(
                                mutation, caller: caller, grace: grace, read: batch.asRead(mutation.leadId), now: now, in: transaction)
                            batch.appliedInStore(mutation.leadId)
                            // The batch decides later intents on this lead from what the action left.
                            let later = fresh.contains { $0.id > item.id && (try? $0.mutation.get().leadId) == mutation.leadId }
                            if later {
                                batch.replace(mutation.leadId, with: try await commands.leads.get(mutation.leadId, in: transaction))
                            }
                        }
                    }
                }
                let actedAt = item.rawActedAt.flatMap { Timestamp.validMicros.contains($0) ? $0 : nil }
                logged.append(
                    SyncMutationLogEntry(
                        id: item.id, name: item.rawName ?? "?", leadID: item.rawLeadId, actedAt: actedAt, outcome: outcome,
                        digest: Self.digest(item)))
                outcomes.append(outcome)
                applied = item.id
            }
            try await write(&batch, outcomes: &outcomes, logged: &logged, already: already, caller: caller, now: now, in: transaction)
            try await sync.record(
                logged, device: device, now: now, clearFailures: !failures.isEmpty,
                lastMutationID: applied > last ? applied : nil, in: transaction)
            return Result(outcomes: outcomes, lastMutationID: applied)
        }
    }

    /// Stores what the batch accepted since the last write, set-based: the notes in one statement,
    /// the leads' edits and their history in three, the actions and their history in two, and the
    /// mirrors of referred leads' actions in two per source tenant (and one to move to each). A note whose id was taken already becomes its
    /// mutation's `duplicate_id` rejection; any other failure fails this attempt, and the push tries
    /// the batch again one mutation at a time to find the one to blame.
    private func write(
        _ batch: inout LeadBatch, outcomes: inout [MutationOutcome], logged: inout [SyncMutationLogEntry], already: Int,
        caller: AuthenticatedUser, now: Date, in transaction: TenantTransaction
    ) async throws {
        guard batch.hasPendingWrites else { return }
        let first = batch.pendingNotes.first.map { outcomes[$0.mutation].id } ?? outcomes.last?.id ?? 0
        do {
            let stored = try await commands.notes.addMany(
                batch.pendingNotes, author: caller.userID, now: now, in: transaction)
            for note in batch.pendingNotes where !stored.contains(note.id) {
                let refused = Self.rejection(
                    outcomes[note.mutation].id, DomainError.conflict("duplicate_id", "a note with this id exists"))
                outcomes[note.mutation] = refused
                logged[note.mutation - already].outcome = refused
            }
            try await commands.leads.applyEdits(batch.pendingEdits, actor: caller.userID, at: now, in: transaction)
            try await commands.store(batch.pendingActions, now: now, in: transaction)
        } catch {
            throw MutationFailure(mutationID: first, underlying: error, inSetWrite: true)
        }
        batch.written()
    }

    /// Applies one mutation inside a savepoint: a refusal by the rules undoes its partial effects and
    /// becomes its outcome; anything else fails the batch as a `MutationFailure`.
    private func applyOnce(
        _ mutation: Mutation, caller: AuthenticatedUser, grace: TimeInterval, read: (Lead, WorkflowTemplate, LeadHistoryEntry?)? = nil,
        now: Date, in transaction: TenantTransaction
    ) async throws -> MutationOutcome {
        do {
            let applied = try await transaction.connection.withSavepoint(logger: database.logger, undoing: { Self.permanentRefusal($0) != nil }) {
                try TenantPolicy.require(caller, .workLeads)
                let offline = LeadCommands.OfflineTiming(actedAt: mutation.actedAt.map(Date.init(micros:)), grace: grace)
                // The push locked every lead its mutations touch before applying any.
                return try await commands.apply(
                    mutation.intent, to: mutation.leadId, caller: caller, offline: offline, held: true, read: read, now: now, in: transaction)
            }
            if case .lead(_, _, let conflicts) = applied, !conflicts.isEmpty {
                return MutationOutcome(id: mutation.id, outcome: .appliedWithConflicts, conflicts: conflicts)
            }
            return MutationOutcome(id: mutation.id, outcome: .applied)
        } catch {
            guard let refusal = Self.permanentRefusal(error) else { throw MutationFailure(mutationID: mutation.id, underlying: error) }
            return Self.rejection(mutation.id, refusal)
        }
    }

    /// A refusal as a mutation's outcome; a field's value that fails its rule is `invalid_value`.
    static func rejection(_ id: Int64, _ refusal: DomainError) -> MutationOutcome {
        let code = refusal.code == "validation_failed" ? "invalid_value" : refusal.code
        return MutationOutcome(id: id, outcome: .rejected, code: code, reason: refusal.message, field: refusal.field)
    }

    /// The refusal a mutation gets for good, or `nil` when the failure is not the mutation's fault.
    static func permanentRefusal(_ error: any Error) -> DomainError? {
        switch error {
        case let error as DomainError: return error
        case let refusal as WorkflowRefusal: return refusal.domainError
        default: return StoreRefusal.domainError(error)
        }
    }

}

extension SyncPush {
    static let canonical: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return encoder
    }()

    /// What a mutation is, whatever order its keys were sent in: the digest of its canonical form
    /// (of its name and lead, when it cannot be read).
    static func digest(_ item: PushEnvelope.Item) -> Data {
        var hasher = SHA256()
        if case .success(let mutation) = item.mutation, let canonical = try? Self.canonical.encode(mutation) {
            hasher.update(data: canonical)
        } else {
            hasher.update(data: Data("\(item.rawName ?? "?")|\(item.rawLeadId.map(UUIDText.lowercase) ?? "-")".utf8))
        }
        return Data(hasher.finalize())
    }
}

/// A push that reuses a mutation number for a different mutation: 409 `mutation_ids_reused` with
/// the device's `last_mutation_id`, after which the client numbers its queue.
struct MutationIDsReused: Error {
    var mutationID: Int64
    /// Where it is in the batch (the error's field: `mutations[offset]`).
    var offset: Int
    var lastMutationID: Int64
}
