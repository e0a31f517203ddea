import Foundation
import HTTPTypes
import HubNetCore
import HubNetPostgres
import HubNetServer
import HubNetTestSupport
import HummingbirdTesting
import Logging
import PostgresNIO
import Testing

/// The six sync invariants of DESIGN.md and the protocol rules of issue 5, against PostgreSQL.
@Suite("Sync protocol")
struct SyncProtocolTests {
    func notes(_ app: TestApplication, _ lead: Lead.ID, token: String) async throws -> [[String: Any]] {
        try #require((try await app.request(.get, "/v1/leads/\(lead)/notes", token: token)).json?["items"] as? [[String: Any]])
    }

    func status(_ app: TestApplication, _ lead: Lead.ID, token: String) async throws -> String? {
        (try await app.request(.get, "/v1/leads/\(lead)", token: token)).json?["status"] as? String
    }

    @Test("1 idempotent push: each mutation applies once, a replayed batch changes nothing, a gap is refused with nothing applied")
    func idempotentPush() async throws {
        try await withTestApplication { app in
            let hub = try await app.fixtures.tenant(.hub, users: [[.moderator]])
            let token = hub.users[0].token
            let device = try await SyncTestDevice.register(app, as: hub.users[0])
            let lead = try await app.createLead(token: token)
            let batch = [
                Mutation(id: 1, leadId: lead, intent: .addNote(id: LeadNote.ID(), body: "called, left a message")),
                Mutation(id: 2, leadId: lead, intent: .act(LeadAction("accept"))),
            ]
            let first = try await device.push(batch)
            #expect(first.results.map(\.outcome) == [.applied, .applied])
            #expect(first.results.map(\.replayed) == [false, false])
            #expect(first.lastMutationId == 2)

            let replay = try await device.push(batch)
            #expect(replay.results.map(\.outcome) == [.applied, .applied])
            #expect(replay.results.map(\.replayed) == [true, true])
            #expect(try await notes(app, lead, token: token).count == 1)
            let history = try await app.request(.get, "/v1/leads/\(lead)/history", token: token)
            #expect((history.json?["items"] as? [Any])?.count == 2)

            let gap = try await device.pushRaw([Mutation(id: 4, leadId: lead, intent: .addNote(id: LeadNote.ID(), body: "skipped one"))])
            #expect(gap.status == .conflict)
            #expect(gap.errorCode == "mutation_gap")
            #expect(try await notes(app, lead, token: token).count == 1)

            // A batch overlapping the stored ones: the old answer, then the new mutation.
            let overlap = try await device.push([
                batch[1], Mutation(id: 3, leadId: lead, intent: .addNote(id: LeadNote.ID(), body: "second visit")),
            ])
            #expect(overlap.results.map(\.replayed) == [true, false])
            #expect(overlap.lastMutationId == 3)
            #expect(try await notes(app, lead, token: token).count == 2)
        }
    }

    @Test("2 server-authoritative: an offline decline of a lead accepted meanwhile is rejected with a reason, and the device's log moves on")
    func offlineDeclineAfterAccept() async throws {
        try await withTestApplication { app in
            let hub = try await app.fixtures.tenant(.hub, users: [[.moderator], [.moderator]])
            let device = try await SyncTestDevice.register(app, as: hub.users[0])
            let lead = try await app.createLead(token: hub.users[0].token)
            // Someone else accepts while the device is offline.
            #expect(try await app.request(.post, "/v1/leads/\(lead)/actions/accept", token: hub.users[1].token, json: "{}").status == .ok)
            let answer = try await device.push([
                Mutation(id: 1, leadId: lead, intent: .act(LeadAction("decline", .init(reason: "out of area"))))
            ])
            let outcome = try #require(answer.results.first)
            #expect(outcome.outcome == .rejected)
            #expect(outcome.code == "action_not_available")
            #expect(outcome.reason?.isEmpty == false)
            #expect(answer.lastMutationId == 1)
            #expect(try await status(app, lead, token: hub.users[0].token) == "accepted")
            // The rejected mutation is spent: the next one is 2.
            let next = try await device.push([Mutation(id: 2, leadId: lead, intent: .addNote(id: LeadNote.ID(), body: "ok, accepted"))])
            #expect(next.results.first?.outcome == .applied)
            // Another tenant's lead answers as if it did not exist.
            let other = try await app.fixtures.tenant(.hub, users: [[.moderator]])
            let foreign = try await app.createLead(token: other.users[0].token)
            let refused = try await device.push([Mutation(id: 3, leadId: foreign, intent: .act(LeadAction("accept")))])
            #expect(refused.results.first?.code == "not_found")
        }
    }

    @Test("2 concurrent edits of different fields both survive; on the same field the first to arrive wins and the loser is kept and reported")
    func fieldMerge() async throws {
        try await withTestApplication { app in
            let hub = try await app.fixtures.tenant(.hub, users: [[.moderator], [.moderator]])
            let first = try await SyncTestDevice.register(app, as: hub.users[0])
            let second = try await SyncTestDevice.register(app, as: hub.users[1])
            let lead = try await app.createLead(token: hub.users[0].token)
            let one = try await first.push([
                Mutation(
                    id: 1, leadId: lead,
                    intent: .update(LeadUpdate(baseVersion: 1, changes: [.init(field: .city, from: "Oakland", to: "Berkeley")])))
            ])
            #expect(one.results.first?.conflicts == [])
            let edit = Mutation(
                id: 1, leadId: lead,
                intent: .update(
                    LeadUpdate(
                        baseVersion: 1,
                        changes: [.init(field: .phone, from: nil, to: "555-0100"), .init(field: .city, from: "Oakland", to: "Alameda")])))
            let two = try await second.push([edit])
            // The outcome itself says a value was lost, for clients that read only the outcome.
            #expect(two.results.first?.outcome == .appliedWithConflicts)
            #expect(two.results.first?.conflicts == [FieldConflict(field: .city, yours: "Alameda", kept: "Berkeley")])
            let stored = try await app.request(.get, "/v1/leads/\(lead)", token: hub.users[0].token)
            let contact = try #require(stored.json?["contact"] as? [String: Any])
            #expect(contact["city"] as? String == "Berkeley")
            #expect(contact["phone"] as? String == "555-0100")
            // The losing value is kept with the mutation's outcome.
            let replayed = try await second.push([edit])
            #expect(replayed.results.first?.replayed == true)
            #expect(replayed.results.first?.conflicts == [FieldConflict(field: .city, yours: "Alameda", kept: "Berkeley")])
        }
    }

    @Test("3 gap-free pull: a change that commits later with a lower sequence number is not skipped")
    func lateCommitNotSkipped() async throws {
        try await withTestApplication { app in
            let hub = try await app.fixtures.tenant(.hub, users: [[.moderator]])
            let token = hub.users[0].token
            let device = try await SyncTestDevice.register(app, as: hub.users[0])
            let lead = try await app.createLead(token: token)
            let start = try await device.snapshot()
            let database = app.fixtures.database
            let early = LeadNote.ID()
            let (entered, enteredSignal) = AsyncStream.makeStream(of: Void.self)
            let (release, releaseSignal) = AsyncStream.makeStream(of: Void.self)
            // A transaction takes its place in the log first and commits last.
            let held = Task {
                try await database.withTenant(hub.tenant.id) { transaction in
                    _ = try await PostgresLeadNoteRepository(logger: database.logger).add(
                        "written first, committed last", id: early, to: lead, author: hub.users[0].user.id, now: Date(), in: transaction)
                    enteredSignal.yield()
                    for await _ in release { break }
                }
            }
            for await _ in entered { break }
            let late = try #require(
                (try await app.request(.post, "/v1/leads/\(lead)/notes", token: token, json: #"{"body":"written second"}"#)).json?["id"]
                    as? String)
            let during = try await device.pullAll(start.cursor)
            releaseSignal.yield()
            try await held.value
            let after = try await device.pullAll(try #require(during.cursor))
            let seen = Set((during.changes + after.changes).ids(.note))
            #expect(seen.contains(early.rawValue))
            #expect(seen.contains(try #require(UUID(uuidString: late))))
        }
    }

    @Test("3 concurrent writers and pullers: every puller sees every change")
    func concurrentWritersAndPullers() async throws {
        try await withTestApplication { app in
            let hub = try await app.fixtures.tenant(.hub, users: [[.moderator]])
            let token = hub.users[0].token
            let lead = try await app.createLead(token: token)
            let pullers = [try await SyncTestDevice.register(app, as: hub.users[0]), try await SyncTestDevice.register(app, as: hub.users[0])]
            let starts = [try await pullers[0].snapshot().cursor, try await pullers[1].snapshot().cursor]
            let writing = WritersLeft(4)
            var written = Set<UUID>()
            var seen: [Set<UUID>] = []
            try await withThrowingTaskGroup(of: (wrote: Set<UUID>, saw: Set<UUID>?).self) { group in
                for writer in 0..<4 {
                    group.addTask {
                        var wrote = Set<UUID>()
                        for index in 0..<12 {
                            let response = try await app.request(
                                .post, "/v1/leads/\(lead)/notes", token: token, json: #"{"body":"writer \#(writer) note \#(index)"}"#)
                            let text = try #require(response.json?["id"] as? String)
                            wrote.insert(try #require(UUID(uuidString: text)))
                        }
                        await writing.finishOne()
                        return (wrote, nil)
                    }
                }
                for (device, start) in zip(pullers, starts) {
                    group.addTask {
                        var cursor = start
                        var notes = Set<UUID>()
                        while await writing.running {
                            let page = try await device.pull(cursor, limit: 3)
                            notes.formUnion(page.changes.ids(.note))
                            cursor = try #require(page.cursor)
                        }
                        let rest = try await device.pullAll(cursor, limit: 3)
                        return ([], notes.union(rest.changes.ids(.note)))
                    }
                }
                for try await result in group {
                    written.formUnion(result.wrote)
                    if let saw = result.saw { seen.append(saw) }
                }
            }
            let all = written
            #expect(all.count == 48)
            for notes in seen { #expect(notes == all) }
        }
    }

    @Test("3 a page never holds half a transaction")
    func pagesKeepTransactionsWhole() async throws {
        try await withTestApplication { app in
            let hub = try await app.fixtures.tenant(.hub, users: [[.moderator]])
            let token = hub.users[0].token
            let device = try await SyncTestDevice.register(app, as: hub.users[0])
            let start = try await device.snapshot()
            _ = try await app.createLead(token: token, name: "Alone")
            var headers = HTTPFields()
            headers[.contentType] = "text/csv"
            let csv = "name,email,city\nA,a@x.test,Oakland\nB,b@x.test,Oakland\nC,c@x.test,Oakland\nD,d@x.test,Oakland\n"
            #expect(try await app.request(.post, "/v1/leads/import", token: token, json: csv, headers: headers).status == .created)
            // Limit 2: the lone lead, then the whole import (4 changes of one transaction) at once.
            let first = try await device.pull(start.cursor, limit: 2)
            #expect(first.changes.count == 1)
            #expect(first.hasMore)
            let second = try await device.pull(try #require(first.cursor), limit: 2)
            #expect(second.changes.ids(.lead).count == 4)
            let third = try await device.pull(try #require(second.cursor), limit: 2)
            #expect(third.changes.isEmpty)
            #expect(!third.hasMore)
        }
    }

    @Test("4 visibility: an advisor's device holds only leads they work; one assigned away is dropped; one gained arrives whole")
    func advisorView() async throws {
        try await withTestApplication { app in
            let hub = try await app.fixtures.tenant(.hub, users: [[.moderator], [.advisor], [.advisor]])
            let moderator = hub.users[0].token
            let (advisorA, advisorB) = (hub.users[1], hub.users[2])
            let deviceA = try await SyncTestDevice.register(app, as: advisorA)
            let deviceB = try await SyncTestDevice.register(app, as: advisorB)
            let startA = try await deviceA.snapshot()
            let startB = try await deviceB.snapshot()
            #expect(startA.changes.isEmpty)
            let mine = try await app.createLead(token: moderator, name: "For A")
            let notMine = try await app.createLead(token: moderator, name: "Nobody's")
            _ = try await app.request(.post, "/v1/leads/\(mine)/notes", token: moderator, json: #"{"body":"background"}"#)
            _ = try await app.request(.post, "/v1/leads/\(mine)/actions/accept", token: moderator, json: "{}")
            let referred = try await app.request(
                .post, "/v1/leads/\(mine)/actions/refer_internal", token: moderator, json: #"{"advisor_id":"\#(advisorA.user.id)"}"#)
            #expect(referred.status == .ok, "\(referred.text)")
            let gained = try await deviceA.pullAll(startA.cursor)
            #expect(Set(gained.changes.ids(.lead)) == [mine.rawValue])
            #expect(gained.changes.ids(.note).count == 1)
            #expect(!gained.changes.contains { $0.id == notMine.rawValue })

            _ = try await app.request(
                .post, "/v1/leads/\(mine)/actions/refer_internal", token: moderator, json: #"{"advisor_id":"\#(advisorB.user.id)"}"#)
            let lost = try await deviceA.pullAll(try #require(gained.cursor))
            #expect(lost.changes.ids(.lead, .drop) == [mine.rawValue])
            #expect(lost.changes.ids(.lead).isEmpty)
            let toB = try await deviceB.pullAll(startB.cursor)
            #expect(Set(toB.changes.ids(.lead)) == [mine.rawValue])
            #expect(toB.changes.ids(.note).count == 1)
            // A snapshot agrees with what the pulls left.
            #expect(try await deviceA.snapshot().changes.isEmpty)
            #expect(Set(try await deviceB.snapshot().changes.ids(.lead)) == [mine.rawValue])
        }
    }

    /// Every lead's stored record and audience (what snapshots and the change log send, and to whom)
    /// against the ones built from its row now, as (stale leads, leads checked).
    static func storedRecords(_ app: TestApplication) async throws -> (stale: [String], checked: Int) {
        let logger = Logger(label: "test")
        return try await withPostgresClient(app.database.ownerURL, logger: logger) { client in
            var stale: [String] = []
            var checked = 0
            for (name, same) in try await client.rows(
                """
                SELECT contact_name, sync_payload::JSONB = hubnet_sync_lead(l) AND sync_audience = hubnet_lead_audience(l)
                FROM leads l
                """, logger: logger
            ).decode((String, Bool?).self) {
                checked += 1
                if same != true { stale.append(name) }
            }
            return (stale, checked)
        }
    }

    @Test("a lead's stored device record is its row's record after every kind of write, and its version moves only when the record does")
    func storedRecordFollowsEveryWrite() async throws {
        try await withTestApplication { app in
            let sourcing = try await app.fixtures.tenant(.sourcingCompany, users: [[.partnerUser]])
            let first = try await app.fixtures.tenant(.partnerCompany, users: [[.partnerUser]])
            let second = try await app.fixtures.tenant(.partnerCompany, users: [[.partnerUser]])
            let hub = try await app.fixtures.tenant(.hub, users: [[.moderator], [.advisor], [.advisor]])
            let moderator = hub.users[0].token
            let lead = try await app.createLead(token: moderator, name: "Worked")
            // A lead of a unit: its audience follows the unit's members.
            let unit = try #require((try await app.request(.post, "/v1/units", token: hub.admin.token, json: #"{"name":"Field"}"#)).json?["id"] as? String)
            #expect((try await app.request(.put, "/v1/units/\(unit)/members/\(hub.users[2].user.id)", token: hub.admin.token)).status == .ok)
            let unitLead = try await app.createLead(token: moderator, name: "Unit's", extra: #","assigned_unit_id":"\#(unit)""#)
            #expect((try await app.request(.delete, "/v1/units/\(unit)/members/\(hub.users[2].user.id)", token: hub.admin.token)).status == .noContent)
            #expect((try await app.request(.put, "/v1/units/\(unit)/members/\(hub.users[1].user.id)", token: hub.admin.token)).status == .ok)
            let advisorView = try await SyncTestDevice.register(app, as: hub.users[1])
            #expect(Set(try await advisorView.snapshot().changes.ids(.lead)) == [unitLead.rawValue], "the unit's new member sees the unit's lead")
            let formerView = try await SyncTestDevice.register(app, as: hub.users[2])
            #expect(try await formerView.snapshot().changes.ids(.lead).isEmpty, "the unit's former member no longer does")
            let version = { try #require((try await app.request(.get, "/v1/leads/\(lead)", token: moderator)).json?["version"] as? Int) }
            let created = try await version()
            _ = try await app.request(.post, "/v1/leads/\(lead)/notes", token: moderator, json: #"{"body":"background"}"#)
            #expect(try await version() == created, "a note is not a change of the lead's record")
            #expect((try await app.request(.post, "/v1/leads/\(lead)/actions/accept", token: moderator, json: "{}")).status == .ok)
            let referred = try await app.request(
                .post, "/v1/leads/\(lead)/actions/refer_internal", token: moderator, json: #"{"advisor_id":"\#(hub.users[1].user.id)"}"#)
            #expect(referred.status == .ok, "\(referred.text)")
            let device = try await SyncTestDevice.register(app, as: hub.users[0])
            let pushed = try await device.push([
                Mutation(id: 1, leadId: lead, intent: .update(LeadUpdate(changes: [.init(field: .region, from: nil, to: "North")])))
            ])
            #expect(pushed.results.map(\.outcome) == [.applied])
            let edited = try await version()
            #expect(edited > created)
            // The record as a device pulls it carries the edit and the version.
            let view = try await device.snapshot()
            let record = try #require(view.changes.first { $0.id == lead.rawValue }?.record)
            guard case .lead(let held) = record else { Issue.record("not a lead: \(record)"); return }
            #expect(held.region == "North")
            #expect(held.version == edited)

            // Across tenants: a referral lands, is declined, and the lead goes elsewhere (withdrawn).
            let sourced = try await app.createLead(token: sourcing.users[0].token, name: "Sourced")
            _ = try await app.request(.post, "/v1/leads/\(sourced)/referrals", token: sourcing.users[0].token, json: #"{"partner_id":"\#(first.tenant.id)"}"#)
            let landed = try #require(
                ((try await app.request(.get, "/v1/leads", token: first.users[0].token)).json?["items"] as? [[String: Any]])?.first?["id"] as? String)
            _ = try await app.request(.post, "/v1/leads/\(landed)/actions/decline", token: first.users[0].token, json: #"{"reason":"not ours"}"#)
            _ = try await app.request(.post, "/v1/leads/\(sourced)/referrals", token: sourcing.users[0].token, json: #"{"partner_id":"\#(second.tenant.id)"}"#)

            let (stale, checked) = try await Self.storedRecords(app)
            #expect(stale.isEmpty, "stale stored records: \(stale)")
            #expect(checked == 5, "Worked, Unit's, Sourced, and its two landings")
        }
    }

    @Test("4 a lead re-referred elsewhere is deleted from the first target's devices")
    func reReferralDrops() async throws {
        try await withTestApplication { app in
            let sourcing = try await app.fixtures.tenant(.sourcingCompany, users: [[.partnerUser]])
            let first = try await app.fixtures.tenant(.partnerCompany, users: [[.partnerUser]])
            let second = try await app.fixtures.tenant(.partnerCompany, users: [[.partnerUser]])
            let token = sourcing.users[0].token
            let device = try await SyncTestDevice.register(app, as: first.users[0])
            let sourceDevice = try await SyncTestDevice.register(app, as: sourcing.users[0])
            let start = try await device.snapshot()
            let lead = try await app.createLead(token: token)
            _ = try await app.request(.post, "/v1/leads/\(lead)/referrals", token: token, json: #"{"partner_id":"\#(first.tenant.id)"}"#)
            let arrived = try await device.pullAll(start.cursor)
            let landed = try #require(arrived.changes.ids(.lead).first)
            _ = try await app.request(.post, "/v1/leads/\(landed)/actions/decline", token: first.users[0].token, json: #"{"reason":"not ours"}"#)
            _ = try await app.request(.post, "/v1/leads/\(lead)/referrals", token: token, json: #"{"partner_id":"\#(second.tenant.id)"}"#)
            let gone = try await device.pullAll(try #require(arrived.cursor))
            #expect(gone.changes.ids(.lead, .delete) == [landed])
            // The source's device holds its referrals, the withdrawn one deleted, the new one current.
            let sourceView = try await sourceDevice.snapshot()
            #expect(sourceView.changes.ids(.referral).count == 1)
            #expect(sourceView.changes.ids(.lead) == [lead.rawValue])
        }
    }

    @Test("4 a user whose roles change is told to re-sync their view")
    func roleChangeResets() async throws {
        try await withTestApplication { app in
            let hub = try await app.fixtures.tenant(.hub, users: [[.moderator]])
            let device = try await SyncTestDevice.register(app, as: hub.users[0])
            _ = try await app.createLead(token: hub.admin.token)
            let start = try await device.snapshot()
            #expect(start.changes.ids(.lead).count == 1)
            let changed = try await app.request(
                .patch, "/v1/users/\(hub.users[0].user.id)", token: hub.admin.token, json: #"{"roles":["advisor"]}"#)
            #expect(changed.status == .ok, "\(changed.text)")
            #expect(try await device.pull(start.cursor).reset == .viewChanged)
            #expect(try await device.snapshot().changes.isEmpty)
        }
    }

    @Test("5 compaction: a device behind the horizon resets and re-syncs from a snapshot, keeping its pending mutations")
    func compaction() async throws {
        try await withTestApplication { app in
            let hub = try await app.fixtures.tenant(.hub, users: [[.moderator]])
            let token = hub.users[0].token
            let device = try await SyncTestDevice.register(app, as: hub.users[0])
            let start = try await device.snapshot()
            let lead = try await app.createLead(token: token)
            let database = app.fixtures.database
            let removed = try await database.withTenant(hub.tenant.id) { transaction in
                try await PostgresSyncRepository(logger: database.logger).compact(
                    before: Date().addingTimeInterval(3600), now: Date(), in: transaction)
            }
            #expect(removed >= 1)
            #expect(try await device.pull(start.cursor).reset == .behindHorizon)
            // Its pending mutation still applies, and the snapshot says it did.
            let pending = try await device.push([Mutation(id: 1, leadId: lead, intent: .act(LeadAction("accept")))])
            #expect(pending.results.first?.outcome == .applied)
            let fresh = try await device.snapshot()
            #expect(fresh.lastMutationId == 1)
            guard case .lead(let stored) = try #require(fresh.changes.first { $0.id == lead.rawValue }?.record) else {
                Issue.record("the snapshot has no lead")
                return
            }
            #expect(stored.status == "accepted")
            let caughtUp = try await device.pull(fresh.cursor)
            #expect(caughtUp.reset == nil)
        }
    }

    @Test("a new server epoch or a cursor from the future forces a reset instead of silent divergence")
    func epochAndFutureCursor() async throws {
        try await withTestApplication { app in
            let hub = try await app.fixtures.tenant(.hub, users: [[.moderator]])
            let device = try await SyncTestDevice.register(app, as: hub.users[0])
            let start = try await device.snapshot()
            let cursor = try #require(SyncCursor(start.cursor))
            let future = SyncCursor(epoch: cursor.epoch, seq: cursor.seq + 10_000_000)
            #expect(try await device.pull(future.description).reset == .cursorFromFuture)
            #expect(try await device.pull(start.cursor).reset == nil)
            let logger = Logger(label: "test")
            try await withPostgresClient(app.database.ownerURL, logger: logger) { client in
                try await client.withConnection { connection in
                    _ = try await PostgresSyncRepository(logger: logger).renewEpoch(on: connection)
                }
            }
            #expect(try await device.pull(start.cursor).reset == .epochChanged)
            #expect(try await app.request(.get, "/v1/sync/pull?cursor=nonsense", token: device.token).errorCode == "validation_failed")
            #expect(try await app.request(.get, "/v1/sync/snapshot?page=\(start.cursor)~nope", token: device.token).errorCode == "validation_failed")
            #expect(try await app.request(.get, "/v1/sync/pull?cursor=\(start.cursor)&limit=0", token: device.token).errorCode == "validation_failed")
            let huge = try await device.pushRaw([Mutation(id: Int64.max, leadId: Lead.ID(), intent: .addNote(id: LeadNote.ID(), body: "x"))])
            #expect(huge.errorCode == "validation_failed")
            // An unknown name is that mutation's rejection, not the batch's.
            let broken = try await app.request(.post, "/v1/sync/push", token: device.token, json: #"{"mutations":[{"id":1,"name":"lead.explode","lead_id":"x"}]}"#)
            #expect(broken.status == .ok)
            let outcome = try #require((broken.json?["results"] as? [[String: Any]])?.first)
            #expect(outcome["outcome"] as? String == "rejected")
            #expect(outcome["code"] as? String == "unsupported")
            // Sync is for device tokens.
            #expect(try await app.request(.get, "/v1/sync/snapshot", token: hub.users[0].token).errorCode == "device_token_required")
        }
    }

    @Test("offline grace: an accept taken before the lead expired counts within the tenant's grace, and not beyond it")
    func offlineGrace() async throws {
        let clock = VirtualClock()
        try await withTestApplication(configure: { $0.now = clock.function; $0.timerInterval = nil }) { app in
            let partner = try await app.fixtures.tenant(.partnerCompany, users: [[.partnerUser]])
            let token = partner.users[0].token
            let device = try await SyncTestDevice.register(app, as: partner.users[0])
            let timers = LeadTimerService(database: app.fixtures.database, now: clock.function)
            #expect(try await app.request(.put, "/v1/tenant/settings", token: token, json: #"{"offline_grace_seconds":172800}"#).status == .forbidden)
            let saved = try await app.request(.put, "/v1/tenant/settings", token: partner.admin.token, json: #"{"offline_grace_seconds":172800}"#)
            #expect(saved.json?["offline_grace_seconds"] as? Int == 172_800)
            #expect(try await app.request(.put, "/v1/tenant/settings", token: partner.admin.token, json: #"{"offline_grace_seconds":9999999}"#).status == .unprocessableContent)

            let start = clock.now
            let counted = try await app.createLead(token: token, name: "Counted")
            let late = try await app.createLead(token: token, name: "Too late")
            clock.advance(by: 8 * 86_400)
            #expect(try await timers.fireDue() == 2)
            #expect(try await status(app, counted, token: token) == "expired")
            // Accepted offline on day 6, arriving on day 8: within two days of grace.
            let accepted = try await device.push([
                Mutation(id: 1, leadId: counted, actedAt: start.addingTimeInterval(6 * 86_400).micros, intent: .act(LeadAction("accept")))
            ])
            #expect(accepted.results.first?.outcome == .applied, "\(accepted.results)")
            #expect(try await status(app, counted, token: token) == "accepted")
            // The same claim arriving on day 11 is older than the grace allows: the clock is not trusted.
            clock.advance(by: 3 * 86_400)
            let refused = try await device.push([
                Mutation(id: 2, leadId: late, actedAt: start.addingTimeInterval(6 * 86_400).micros, intent: .act(LeadAction("accept")))
            ])
            #expect(refused.results.first?.outcome == .rejected)
            #expect(try await status(app, late, token: token) == "expired")
        }
    }

    @Test("offline grace: an action that would have left the lead expired by now anyway does not revive it, so it never expires twice")
    func offlineGraceNeverRevivesADueLead() async throws {
        let clock = VirtualClock()
        try await withTestApplication(configure: { $0.now = clock.function; $0.timerInterval = nil }) { app in
            let partner = try await app.fixtures.tenant(.partnerCompany, users: [[.partnerUser]])
            let token = partner.users[0].token
            let device = try await SyncTestDevice.register(app, as: partner.users[0])
            let timers = LeadTimerService(database: app.fixtures.database, now: clock.function)
            _ = try await app.request(.put, "/v1/tenant/settings", token: partner.admin.token, json: #"{"offline_grace_seconds":172800}"#)
            // This partner's accepted leads expire one day after acceptance.
            let template = try #require(try await app.request(.get, "/v1/workflow-templates/partner_lead", token: partner.admin.token).json)
            var changed = template
            var rule = try #require(template["timers"] as? [String: Any])
            rule["expire_after_days_accepted"] = 1
            changed["timers"] = rule
            let body = String(decoding: try JSONSerialization.data(withJSONObject: changed), as: UTF8.self)
            #expect(try await app.request(.put, "/v1/workflow-templates/partner_lead", token: partner.admin.token, json: body).status == .ok)

            let start = clock.now
            let revived = try await app.createLead(token: token, name: "Revived")
            let stale = try await app.createLead(token: token, name: "Stale")
            clock.advance(by: 7 * 86_400 + 60)
            #expect(try await timers.fireDue() == 2)
            // Day 7.5: accepted offline on day 6.9, so the acceptance's day runs to 7.9: it stands.
            clock.advance(by: 12 * 3600)
            let kept = try await device.push([
                Mutation(id: 1, leadId: revived, actedAt: start.addingTimeInterval(6.9 * 86_400).micros, intent: .act(LeadAction("accept")))
            ])
            #expect(kept.results.first?.outcome == .applied, "\(kept.results)")
            #expect(try await status(app, revived, token: token) == "accepted")
            // Day 8.5: accepted offline on day 6.9 too, trusted from day 6.5 (two days of grace), but
            // its day after acceptance ended on day 7.9: it would have expired by now anyway.
            clock.advance(by: 86_400)
            let refused = try await device.push([
                Mutation(id: 2, leadId: stale, actedAt: start.addingTimeInterval(6.9 * 86_400).micros, intent: .act(LeadAction("accept")))
            ])
            #expect(refused.results.first?.outcome == .rejected, "\(refused.results)")
            #expect(try await status(app, stale, token: token) == "expired")
            // The revived lead expires once more, at the end of its day; nothing expires twice unasked.
            #expect(try await timers.fireDue() == 1)
            #expect(try await timers.fireDue() == 0)
            for (lead, expected) in [(revived, 2), (stale, 1)] {
                let history = try #require((try await app.request(.get, "/v1/leads/\(lead)/history", token: token)).json?["items"] as? [[String: Any]])
                #expect(history.filter { $0["action"] as? String == "expire" }.count == expected, "\(history)")
            }
        }
    }
}

/// Counts down the writers of a concurrency test.
actor WritersLeft {
    private var count: Int
    init(_ count: Int) { self.count = count }
    func finishOne() { count -= 1 }
    var running: Bool { count > 0 }
}
