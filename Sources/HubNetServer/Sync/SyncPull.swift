import Foundation
import HubNetCore
import HubNetPostgres
import NIOCore
import PostgresNIO

/// Reads a device's view of its tenant's change log (pull) and of the current records (snapshot),
/// and writes the answers as JSON directly: the record payloads arrive from PostgreSQL as JSON text
/// and are passed through untouched.
struct SyncPull: Sendable {
    let database: Database
    let sync: PostgresSyncRepository
    /// Snapshot pages are reads of personal data: logged per page, with the device.
    let privacy: PostgresPrivacyRepository
    let now: @Sendable () -> Date

    static let defaultLimit = 1_000
    static let maximumLimit = 10_000

    /// A pull's answer: the changes, or the reason the device must re-sync from a snapshot.
    struct Answer: Sendable {
        var cursor: SyncCursor?
        var reset: SyncResetReason?
        var hasMore: Bool
        var lastMutationID: Int64
        var changes: [PostgresSyncRepository.Change]
    }

    func pull(after cursorText: String, limit: Int, caller: AuthenticatedUser, device: Device.ID) async throws -> Answer {
        guard let cursor = SyncCursor(cursorText) else {
            throw DomainError.invalid("cursor", "is not a cursor this server issued; take a snapshot to get one")
        }
        let wholeTenant = VisibilityPolicy.seesWholeTenant(caller.roles)
        // Where the device and its tenant stand, in one statement of its own (each statement reads
        // what committed before it, in a transaction or not). A device at the head with nothing to
        // acknowledge has its answer: nothing new, and no transaction is opened.
        let (lastMutation, epoch, head, horizon, pendingPurges) = try await database.withSingleStatement { connection in
            try await sync.pullStateOnItsOwn(device: device, tenant: caller.tenantID, on: connection)
        }
        func reset(_ reason: SyncResetReason) -> Answer {
            Answer(cursor: nil, reset: reason, hasMore: false, lastMutationID: lastMutation, changes: [])
        }
        guard cursor.epoch == epoch else { return reset(.epochChanged) }
        guard cursor.seq <= head else { return reset(.cursorFromFuture) }
        if let horizon, cursor.seq < horizon {
            return reset(.behindHorizon)
        }
        if cursor.seq == head, !pendingPurges {
            return Answer(cursor: cursor, reset: nil, hasMore: false, lastMutationID: lastMutation, changes: [])
        }
        return try await database.withTenant(caller.tenantID) { transaction in
            // The device holds what it pulled up to its cursor: the erasures it applied are done.
            if pendingPurges {
                try await sync.acknowledgePurges(device: device, through: cursor.seq, now: now(), in: transaction)
            }
            // At the head there is nothing after the cursor to read.
            let rows =
                cursor.seq == head
                ? []
                : try await sync.changes(
                    after: cursor.seq, user: caller.userID, wholeTenant: wholeTenant, limit: limit,
                    in: transaction)
            var page = rows
            var hasMore = false
            if rows.count > limit {
                hasMore = true
                page = Array(rows.prefix(limit))
                let lastXID = page[page.count - 1].xid
                // Never half a transaction: drop its start from this page, or, when it fills the
                // whole page, send all of it.
                if rows[limit].xid == lastXID {
                    if page[0].xid == lastXID {
                        page += try await sync.rest(
                            ofTransaction: lastXID, after: page[page.count - 1].seq, user: caller.userID,
                            wholeTenant: wholeTenant, in: transaction)
                    } else {
                        page.removeAll { $0.xid == lastXID }
                    }
                }
            }
            if page.contains(where: { $0.op == .reset }) { return reset(.viewChanged) }
            // Caught up: stand at the head, past changes this user does not see.
            let next = SyncCursor(epoch: epoch, seq: hasMore ? page[page.count - 1].seq : max(head, cursor.seq, page.last?.seq ?? 0))
            // A lead the user has just gained arrives whole: its notes and activities too.
            let gained = page.filter { $0.gained && $0.entity == .lead && $0.op == .upsert }.map(\.id)
            for (entity, id, lead, payload) in try await sync.leadParts(gained, in: transaction) {
                page.append(.init(xid: 0, seq: 0, entity: entity, op: .upsert, id: id, leadID: lead, payload: payload, gained: false))
            }
            return Answer(cursor: next, reset: nil, hasMore: hasMore, lastMutationID: lastMutation, changes: page)
        }
    }

    /// A snapshot page: the token names where the snapshot started (its cursor) and where it is.
    struct SnapshotPage: Sendable {
        var cursor: SyncCursor
        var next: String?
        var lastMutationID: Int64
        var records: [PostgresSyncRepository.Change]
    }

    /// The records the device's user sees now, in pages of leads (each with its notes and
    /// activities), then the referrals. `cursor` is where to pull from once the last page is in.
    func snapshot(page token: String?, limit: Int, caller: AuthenticatedUser, device: Device.ID) async throws -> SnapshotPage {
        let wholeTenant = VisibilityPolicy.seesWholeTenant(caller.roles)
        return try await database.withTenant(caller.tenantID) { transaction in
            let state = try await sync.pullState(device: device, in: transaction)
            let lastMutation = state.lastMutationID
            let cursor: SyncCursor
            var after: UUID? = nil
            if let token {
                // "<cursor>~<last lead id>"
                let parts = token.split(separator: "~", omittingEmptySubsequences: false)
                guard parts.count == 2, let parsed = SyncCursor(String(parts[0])), let last = UUIDText.parse(parts[1].utf8) else {
                    throw DomainError.invalid("page", "is not a snapshot page token")
                }
                cursor = parsed
                after = last
            } else {
                // Every change at or below the head is in the records read from here on.
                cursor = SyncCursor(epoch: state.epoch, seq: state.head)
            }
            let leads = try await sync.snapshotLeads(
                user: caller.userID, wholeTenant: wholeTenant, after: after, limit: limit, in: transaction)
            try await privacy.logAccess(
                leads.map { Lead.ID($0.0) }, channel: .snapshot, user: caller.userID, device: device, now: now(), in: transaction)
            var records = leads.map {
                PostgresSyncRepository.Change(xid: 0, seq: 0, entity: .lead, op: .upsert, id: $0.0, leadID: $0.0, payload: $0.1, gained: false)
            }
            for (entity, id, lead, payload) in try await sync.leadParts(leads.map(\.0), in: transaction) {
                records.append(.init(xid: 0, seq: 0, entity: entity, op: .upsert, id: id, leadID: lead, payload: payload, gained: false))
            }
            if leads.count == limit, let last = leads.last {
                return SnapshotPage(cursor: cursor, next: "\(cursor)~\(UUIDText.lowercase(last.0))", lastMutationID: lastMutation, records: records)
            }
            for (id, payload) in try await sync.snapshotReferrals(
                user: caller.userID, wholeTenant: wholeTenant, in: transaction)
            {
                records.append(.init(xid: 0, seq: 0, entity: .referral, op: .upsert, id: id, leadID: nil, payload: payload, gained: false))
            }
            return SnapshotPage(cursor: cursor, next: nil, lastMutationID: lastMutation, records: records)
        }
    }
}

/// JSON written by hand around payloads that are already JSON.
enum SyncJSON {
    static func write(_ changes: [PostgresSyncRepository.Change], into buffer: inout ByteBuffer) {
        buffer.writeStaticString("[")
        for (index, change) in changes.enumerated() {
            if index > 0 { buffer.writeStaticString(",") }
            buffer.writeStaticString("{\"entity\":\"")
            buffer.writeString(change.entity.rawValue)
            buffer.writeStaticString("\",\"op\":\"")
            buffer.writeString(change.op.rawValue)
            buffer.writeStaticString("\",\"id\":\"")
            buffer.writeString(UUIDText.lowercase(change.id))
            buffer.writeStaticString("\"")
            if let lead = change.leadID {
                buffer.writeStaticString(",\"lead_id\":\"")
                buffer.writeString(UUIDText.lowercase(lead))
                buffer.writeStaticString("\"")
            }
            if let payload = change.payload {
                buffer.writeStaticString(",\"data\":")
                buffer.writeImmutableBuffer(payload)
            }
            buffer.writeStaticString("}")
        }
        buffer.writeStaticString("]")
    }

    static func string(_ value: String?) -> String {
        guard let value else { return "null" }
        return "\"\(value)\""
    }
}
