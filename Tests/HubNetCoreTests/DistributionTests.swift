import Foundation
import HubNetCore
import Testing

@Suite("Distribution rules")
struct DistributionTests {
    static let now = Date(micros: 1_800_000_000_000_000)

    static func load(_ name: String, slots: Int? = nil, open: Int = 0, received: Int = 0, accepted: Int = 0, seenHoursAgo: Double? = 1)
        -> PartnerLoad
    {
        PartnerLoad(
            tenantID: Tenant.ID(), name: name, openSlots: slots, notAcceptingUntil: nil, openAccepted: open, received: received,
            accepted: accepted, lastSeen: seenHoursAgo.map { now.addingTimeInterval(-$0 * 3600) })
    }

    /// Routes `count` leads, carrying the turn and each partner's load as a server would.
    static func distribute(_ count: Int, rule: DistributionRule, loads: inout [Tenant.ID: PartnerLoad]) -> [Tenant.ID: Int] {
        var turn = 0
        var received: [Tenant.ID: Int] = [:]
        for _ in 0..<count {
            let (choice, _) = Distribution.choose(rule, loads: loads, turn: turn, now: now)
            guard let choice else { break }
            received[choice.partner, default: 0] += 1
            turn = choice.nextTurn
        }
        return received
    }

    @Test("round robin spreads 100 leads evenly over 5 partners, in pool order")
    func roundRobinEven() throws {
        let partners = (1...5).map { Self.load("Partner \($0)") }
        var loads = Dictionary(uniqueKeysWithValues: partners.map { ($0.tenantID, $0) })
        let rule = DistributionRule(mode: .roundRobin, pool: partners.map(\.tenantID), staleAfterHours: nil)
        let received = Self.distribute(100, rule: rule, loads: &loads)
        #expect(partners.map { received[$0.tenantID] } == [20, 20, 20, 20, 20])
        let (first, _) = Distribution.choose(rule, loads: loads, turn: 0, now: Self.now)
        #expect(first?.partner == partners[0].tenantID)
        #expect(first?.explanation == "routed to Partner 1 by round robin: no slot limit, acceptance 50%")
        let (wrapped, _) = Distribution.choose(rule, loads: loads, turn: 5, now: Self.now)
        #expect(wrapped?.partner == partners[0].tenantID)
    }

    @Test("weighted routing skips a partner without a free slot or not accepting, and prefers free capacity and acceptance")
    func weightedCapacity() throws {
        let full = Self.load("Full", slots: 3, open: 3, received: 10, accepted: 10)
        let roomy = Self.load("Roomy", slots: 10, open: 2, received: 10, accepted: 5)
        let tight = Self.load("Tight", slots: 10, open: 9, received: 10, accepted: 5)
        var paused = Self.load("Paused", received: 10, accepted: 10)
        paused.notAcceptingUntil = Self.now.addingTimeInterval(86_400)
        let loads = Dictionary(uniqueKeysWithValues: [full, roomy, tight, paused].map { ($0.tenantID, $0) })
        let rule = DistributionRule(mode: .weighted, pool: [full, roomy, tight, paused].map(\.tenantID), staleAfterHours: nil)
        let (choice, skipped) = Distribution.choose(rule, loads: loads, turn: 0, now: Self.now)
        #expect(choice?.partner == roomy.tenantID)
        #expect(choice?.explanation.contains("8 of 10 slots free, acceptance 50%") == true, "\(choice?.explanation ?? "")")
        #expect(Set(skipped.map(\.partner)) == [full.tenantID, paused.tenantID])
        #expect(skipped.first { $0.partner == full.tenantID }?.reason == "no free slot (3 of 3 taken)")
        // Nobody can take it: no choice, every partner's reason.
        let (none, reasons) = Distribution.choose(
            DistributionRule(mode: .weighted, pool: [full.tenantID, paused.tenantID], staleAfterHours: nil), loads: loads, turn: 0, now: Self.now)
        #expect(none == nil)
        #expect(reasons.count == 2)
    }

    @Test("equally placed partners take turns under weighted routing")
    func weightedTies() {
        let partners = (1...4).map { Self.load("P\($0)", slots: 100) }
        var loads = Dictionary(uniqueKeysWithValues: partners.map { ($0.tenantID, $0) })
        let rule = DistributionRule(mode: .weighted, pool: partners.map(\.tenantID), staleAfterHours: nil)
        #expect(Self.distribute(40, rule: rule, loads: &loads).values.sorted() == [10, 10, 10, 10])
    }

    @Test("a partner unseen for longer than the rule allows is skipped, and returns when seen again")
    func staleness() {
        let quiet = Self.load("Quiet", seenHoursAgo: 72)
        let busy = Self.load("Busy", seenHoursAgo: 2)
        let never = Self.load("Never", seenHoursAgo: nil)
        var loads = Dictionary(uniqueKeysWithValues: [quiet, busy, never].map { ($0.tenantID, $0) })
        let rule = DistributionRule(mode: .roundRobin, pool: [quiet, busy, never].map(\.tenantID), staleAfterHours: 48)
        let (choice, skipped) = Distribution.choose(rule, loads: loads, turn: 0, now: Self.now)
        #expect(choice?.partner == busy.tenantID)
        #expect(skipped.map(\.reason).contains { $0.hasPrefix("stale: last seen") })
        #expect(skipped.map(\.reason).contains("stale: never seen"))
        loads[quiet.tenantID]?.lastSeen = Self.now
        #expect(Distribution.choose(rule, loads: loads, turn: 0, now: Self.now).0?.partner == quiet.tenantID)
        // Without a staleness limit nobody is skipped for it.
        let lenient = DistributionRule(mode: .roundRobin, pool: rule.pool, staleAfterHours: nil)
        #expect(Distribution.choose(lenient, loads: loads, turn: 2, now: Self.now).0?.partner == never.tenantID)
    }

    @Test("a rule that cannot distribute is refused, naming the field")
    func validation() {
        let id = Tenant.ID()
        #expect(throws: DomainError.invalid("pool", "must name at least one partner company (or, for a hub, listings) for round_robin")) {
            try DistributionRule(mode: .roundRobin, pool: [], staleAfterHours: nil).validate()
        }
        #expect((try? DistributionRule(mode: .weighted, pool: [id, id], staleAfterHours: nil).validate()) == nil)
        #expect((try? DistributionRule(mode: .weighted, pool: [id], staleAfterHours: 0).validate()) == nil)
        #expect((try? DistributionRule(mode: .manual, pool: [], staleAfterHours: nil).validate()) != nil)
    }
}
