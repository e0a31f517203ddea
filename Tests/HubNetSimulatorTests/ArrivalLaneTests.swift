import HubNetCore
@testable import HubNetSimulator
import Testing

@Suite("Arrivals sent at once")
struct ArrivalLaneTests {
    @Test("lanes: every arrival in exactly one lane, in its drawn order; arrivals sharing an organisation, even through others, share a lane; lanes share none")
    func lanesKeepSharedOrganisationsInOrder() {
        var rng = SplitMix64(seed: 7)
        for round in 0..<300 {
            let organisations = (0..<(1 + Int(rng.next() % 12))).map { _ in Tenant.ID() }
            let keys: [[Tenant.ID]] = (0..<Int(rng.next() % 40)).map { _ in
                (0..<(1 + Int(rng.next() % 2))).map { _ in organisations[Int(rng.next() % UInt64(organisations.count))] }
            }
            let lanes = Arrival.lanes(keys)
            #expect(lanes.flatMap { $0 }.sorted() == Array(keys.indices), "round \(round)")
            #expect(lanes.allSatisfy { $0 == $0.sorted() && !$0.isEmpty })
            #expect(lanes.map { $0[0] } == lanes.map { $0[0] }.sorted())
            // No organisation in two lanes.
            let owners = lanes.map { Set($0.flatMap { keys[$0] }) }
            for a in owners.indices { for b in owners.indices where a < b { #expect(owners[a].isDisjoint(with: owners[b])) } }
            // Lanes are as small as that allows: within a lane, each item after the first shares an
            // organisation with an earlier item of the lane or a later one (the lane is connected).
            for lane in lanes where lane.count > 1 {
                var reached: Set<Int> = [lane[0]]
                var frontier = Set(keys[lane[0]])
                var grew = true
                while grew {
                    grew = false
                    for item in lane where !reached.contains(item) && !frontier.isDisjoint(with: keys[item]) {
                        reached.insert(item)
                        frontier.formUnion(keys[item])
                        grew = true
                    }
                }
                #expect(reached.count == lane.count, "round \(round): lane \(lane) is not connected")
            }
        }
    }
}
