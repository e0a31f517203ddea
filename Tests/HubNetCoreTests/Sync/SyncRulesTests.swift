import Foundation
import HubNetCore
import Testing

@Suite("Sync rules in the core")
struct SyncRulesTests {
    let lead = LeadDetails(name: "Rosa", email: "rosa@x.test", city: "Oakland", probability: 40)

    @Test("edits of different fields merge; a field changed meanwhile keeps the first value and returns the loser")
    func fieldMerge() throws {
        var current = lead
        current.city = "Berkeley"  // someone else's edit reached the server first
        let (merged, conflicts) = try LeadFieldMerge.merge(
            [LeadFieldEdit(field: .city, from: "Oakland", to: "Alameda"), LeadFieldEdit(field: .probability, from: "40", to: "70")],
            into: current)
        #expect(merged.city == "Berkeley")
        #expect(merged.probability == 70)
        #expect(conflicts == [FieldConflict(field: .city, yours: "Alameda", kept: "Berkeley")])
    }

    @Test("the same value arriving twice is no conflict; an empty value clears a field; a bad number is refused")
    func fieldMergeEdges() throws {
        var current = lead
        current.city = "Alameda"
        let (merged, conflicts) = try LeadFieldMerge.merge([LeadFieldEdit(field: .city, from: "Oakland", to: "Alameda")], into: current)
        #expect(conflicts.isEmpty && merged.city == "Alameda")
        #expect(try LeadFieldMerge.merge([LeadFieldEdit(field: .email, from: "rosa@x.test", to: "")], into: lead).details.email == nil)
        #expect(throws: DomainError.self) { try LeadFieldMerge.merge([LeadFieldEdit(field: .probability, from: "40", to: "lots")], into: lead) }
        #expect(throws: DomainError.self) { try LeadFieldMerge.merge([LeadFieldEdit(field: .name, from: "Rosa", to: nil)], into: lead) }
    }

    @Test("cursors round-trip and refuse anything else")
    func cursors() {
        let cursor = SyncCursor(epoch: UUID(), seq: 42)
        #expect(SyncCursor(cursor.description) == cursor)
        for bad in ["", "v1", "v2.\(UUID()).1", "v1.not-a-uuid.1", "v1.\(UUID()).-1", "v1.\(UUID()).1.2"] {
            #expect(SyncCursor(bad) == nil, "\(bad)")
        }
    }

    @Test("offline grace: an action before an automatic expiry counts within the grace; the device clock is bounded by it")
    func offlineGrace() throws {
        let template = BuiltInTemplates.partnerLead
        let created = Date(timeIntervalSince1970: 1_900_000_000)
        let expiredAt = created + 8 * 86_400
        var lead = LeadState.new(template, createdAt: created)
        lead.status = "expired"
        lead.completedAt = expiredAt
        lead.expiresAt = nil
        let entry = LeadHistoryEntry(
            seq: 2, action: "expire", fromStatus: "pending", toStatus: "expired", actorUserID: nil, reason: nil, at: expiredAt,
            previousHash: [], hash: [])
        let day: TimeInterval = 86_400
        // Acted on day 6, arrives on day 9, two days of grace: decided as of day 7 (the bound), before expiry.
        let late = OfflineGrace.evaluation(
            of: lead, lastEntry: entry, template: template, actedAt: created + 6 * day, now: created + 9 * day, grace: 2 * day)
        #expect(late.state.status == "pending")
        #expect(late.at == created + 7 * day)
        // Arriving on day 11: the bound is day 9, after the expiry: it stays expired.
        let tooLate = OfflineGrace.evaluation(
            of: lead, lastEntry: entry, template: template, actedAt: created + 6 * day, now: created + 11 * day, grace: 2 * day)
        #expect(tooLate.state.status == "expired")
        // No grace: never.
        #expect(OfflineGrace.evaluation(of: lead, lastEntry: entry, template: template, actedAt: created + 6 * day, now: created + 9 * day, grace: 0).state.status == "expired")
        // A person's last action is not undone.
        let human = LeadHistoryEntry(
            seq: 2, action: "decline", fromStatus: "pending", toStatus: "expired", actorUserID: User.ID(), reason: nil, at: expiredAt,
            previousHash: [], hash: [])
        #expect(OfflineGrace.evaluation(of: lead, lastEntry: human, template: template, actedAt: created + 6 * day, now: created + 9 * day, grace: 2 * day).state.status == "expired")

        // What the action decided under the grace leaves: it stands only if the lead would not have
        // expired by now anyway.
        var accepted = late.state
        accepted.status = "accepted"
        accepted.expiresAt = late.at + 30 * day
        #expect(OfflineGrace.stands(accepted, now: created + 9 * day))
        accepted.expiresAt = late.at + 1 * day  // day 8: already past on day 9
        #expect(!OfflineGrace.stands(accepted, now: created + 9 * day))
        accepted.expiresAt = nil
        #expect(OfflineGrace.stands(accepted, now: created + 9 * day))
        var closed = late.state
        closed.status = "declined"
        closed.completedAt = late.at
        closed.expiresAt = late.at  // a closed lead is never due, whatever its old expiry
        #expect(OfflineGrace.stands(closed, now: created + 9 * day))
    }

    @Test("devices of admins, moderators, viewers and partner users hold the whole tenant; advisors hold their own work")
    func deviceView() {
        #expect(VisibilityPolicy.seesWholeTenant([.moderator]))
        #expect(VisibilityPolicy.seesWholeTenant([.partnerUser]))
        #expect(VisibilityPolicy.seesWholeTenant([.viewer, .advisor]))
        #expect(!VisibilityPolicy.seesWholeTenant([.advisor]))
    }
}
