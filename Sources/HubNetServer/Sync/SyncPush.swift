import Foundation
import HubNetCore
import HubNetPostgres
import PostgresNIO

/// Applies a device's batch of mutations: each exactly once, in order, through `LeadCommands`
/// (the rules of the HTTP API), its outcome stored in the device's log in the same transaction as
/// its effects. A replayed mutation answers from that log.
struct SyncPush: Sendable {
    let database: Database
    let sync: PostgresSyncRepository
    let commands: LeadCommands

    /// The most mutations one push may carry.
    static let maximumBatch = 1_000

    struct Result: Sendable {
        var outcomes: [MutationOutcome]
        var lastMutationID: Int64
    }

    func push(_ mutations: [Mutation], caller: AuthenticatedUser, device: Device.ID, now: Date) async throws -> Result {
        guard let first = mutations.first else { throw DomainError.invalid("mutations", "must not be empty") }
        guard mutations.count <= Self.maximumBatch else {
            throw DomainError.invalid("mutations", "at most \(Self.maximumBatch) per push")
        }
        guard first.id >= 1, first.id <= Int64.max - Int64(Self.maximumBatch) else {
            throw DomainError.invalid("mutations[0].id", "ids start at 1 and count up")
        }
        for (offset, mutation) in mutations.enumerated() where mutation.id != first.id + Int64(offset) {
            throw DomainError.invalid("mutations[\(offset)].id", "must be \(first.id + Int64(offset)): ids in a batch run 1, 2, 3…")
        }
        return try await database.withTenant(caller.tenantID) { connection in
            // The device row is the push's lock: one batch of a device at a time.
            guard let last = try await sync.lockDevice(device, tenant: caller.tenantID, on: connection) else {
                throw DomainError.unauthenticated
            }
            if first.id > last + 1 {
                throw DomainError.conflict(
                    "mutation_gap", "the server has mutations up to \(last); this batch starts at \(first.id), so \(last + 1) is missing")
            }
            var outcomes: [MutationOutcome] = []
            if first.id <= last {
                outcomes = try await sync.outcomes(
                    device: device, from: first.id, to: min(last, mutations[mutations.count - 1].id), tenant: caller.tenantID,
                    on: connection)
            }
            // Lock every lead the new mutations touch, in one order, before applying any: concurrent
            // batches touching the same leads queue instead of deadlocking.
            let touched = Set(mutations.filter { $0.id > last }.map(\.leadId.rawValue)).sorted { $0.uuidString < $1.uuidString }
            try await sync.lockLeads(touched, tenant: caller.tenantID, on: connection)
            let grace = TimeInterval(try await sync.offlineGrace(tenant: caller.tenantID, on: connection))
            var applied = last
            var fresh: [(Mutation, MutationOutcome)] = []
            for mutation in mutations where mutation.id > last {
                let outcome = try await applyOnce(mutation, caller: caller, grace: grace, now: now, on: connection)
                fresh.append((mutation, outcome))
                outcomes.append(outcome)
                applied = mutation.id
            }
            try await sync.record(fresh, device: device, tenant: caller.tenantID, now: now, on: connection)
            if applied > last {
                try await sync.setLastMutationID(applied, device: device, tenant: caller.tenantID, on: connection)
            }
            return Result(outcomes: outcomes, lastMutationID: applied)
        }
    }

    /// Applies one mutation inside a savepoint: a refusal by the rules undoes its partial effects and
    /// becomes its outcome; anything else (a lost connection, a deadlock) fails the whole batch, which
    /// the device retries.
    private func applyOnce(
        _ mutation: Mutation, caller: AuthenticatedUser, grace: TimeInterval, now: Date, on connection: PostgresConnection
    ) async throws -> MutationOutcome {
        let logger = database.logger
        try await connection.rows("SAVEPOINT mutation", logger: logger)
        do {
            let conflicts = try await apply(mutation, caller: caller, grace: grace, now: now, on: connection)
            try await connection.rows("RELEASE SAVEPOINT mutation", logger: logger)
            return MutationOutcome(id: mutation.id, outcome: .applied, conflicts: conflicts)
        } catch {
            guard let refusal = Self.permanentRefusal(error) else { throw error }
            try await connection.rows("ROLLBACK TO SAVEPOINT mutation", logger: logger)
            return MutationOutcome(id: mutation.id, outcome: .rejected, code: refusal.code, reason: refusal.message)
        }
    }

    /// The refusal a mutation gets for good, or `nil` when the failure may pass on a retry.
    static func permanentRefusal(_ error: any Error) -> DomainError? {
        switch error {
        case let error as DomainError: return error
        case let refusal as WorkflowRefusal: return refusal.domainError
        case let error as PSQLError where error.isDataException:
            return DomainError(kind: .invalid, code: "invalid_value", message: "a value is out of range or malformed")
        case let error as PSQLError where error.serverInfo?[.sqlState]?.hasPrefix("23") == true:
            return DomainError(kind: .conflict, code: "constraint_violated", message: "the change contradicts a stored record")
        default: return nil
        }
    }

    private func apply(
        _ mutation: Mutation, caller: AuthenticatedUser, grace: TimeInterval, now: Date, on connection: PostgresConnection
    ) async throws -> [FieldConflict] {
        try TenantPolicy.require(caller, .workLeads)
        switch mutation.name {
        case .leadAction:
            guard let action = mutation.action else { throw DomainError.invalid("action", "is required for lead.action") }
            let arguments = mutation.arguments ?? .init()
            let body = LeadActionRequest(
                reason: arguments.reason, status: arguments.status, listingID: arguments.listingId, advisorID: arguments.advisorId,
                createOpportunity: arguments.createOpportunity, assigneeID: arguments.assigneeId)
            _ = try await commands.act(
                action, on: mutation.leadId, with: body, caller: caller,
                offline: .init(actedAt: mutation.actedAt.map(Date.init(micros:)), grace: grace), now: now, on: connection)
            return []
        case .leadUpdate:
            guard let changes = mutation.changes, !changes.isEmpty else {
                throw DomainError.invalid("changes", "is required for lead.update")
            }
            let (_, _, conflicts) = try await commands.update(mutation.leadId, version: nil, caller: caller, now: now, on: connection) {
                details in
                let merged = try LeadFieldMerge.merge(changes, into: details)
                details = merged.details
                return merged.conflicts
            }
            return conflicts
        case .noteAdd:
            guard let id = mutation.recordId, let body = mutation.body else {
                throw DomainError.invalid("record_id", "record_id and body are required for note.add")
            }
            _ = try await commands.addNote(body, id: LeadNote.ID(id), to: mutation.leadId, caller: caller, now: now, on: connection)
            return []
        case .activitySchedule:
            guard let id = mutation.recordId, let kind = mutation.kind, let title = mutation.title else {
                throw DomainError.invalid("record_id", "record_id, kind and title are required for activity.schedule")
            }
            _ = try await commands.scheduleActivity(
                kind, title: title, dueAt: mutation.dueAt.map(Date.init(micros:)), id: LeadActivity.ID(id),
                on: mutation.leadId, caller: caller, now: now, on: connection)
            return []
        case .activityComplete, .activityCancel:
            guard let id = mutation.recordId else { throw DomainError.invalid("record_id", "is required for \(mutation.name.rawValue)") }
            _ = try await commands.closeActivity(
                LeadActivity.ID(id), of: mutation.leadId, as: mutation.name == .activityComplete ? .completed : .cancelled,
                caller: caller, now: now, on: connection)
            return []
        }
    }
}
