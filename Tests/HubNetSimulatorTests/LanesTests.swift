import HubNetCore
@testable import HubNetSimulator
import Synchronization
import Testing

@Suite("Steps run at once in lanes")
struct LanesTests {
    @Test("lanes: every step in exactly one lane, in its drawn order; steps sharing an organisation, even through others, share a lane; lanes share none")
    func lanesKeepSharedOrganisationsInOrder() {
        var rng = SplitMix64(seed: 7)
        for round in 0..<300 {
            let organisations = (0..<(1 + Int(rng.next() % 12))).map { _ in Tenant.ID() }
            let keys: [[Tenant.ID]] = (0..<Int(rng.next() % 40)).map { _ in
                (0..<(1 + Int(rng.next() % 2))).map { _ in organisations[Int(rng.next() % UInt64(organisations.count))] }
            }
            let lanes = Lanes.of(keys)
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

    @Test("run: results come back in the steps' order, and the steps touching one organisation ran in their order, whatever the concurrency")
    func runKeepsOrderWithinALane() async throws {
        let organisations = (0..<5).map { _ in Tenant.ID() }
        var rng = SplitMix64(seed: 11)
        let steps: [(index: Int, keys: [Tenant.ID], pause: Int)] = (0..<60).map { index in
            (index, [organisations[Int(rng.next() % 5)]], Int(rng.next() % 3))
        }
        for concurrency in [1, 3, 8] {
            let log = Mutex<[(Tenant.ID, Int)]>([])
            let results = try await Lanes.run(steps, touching: \.keys, concurrency: concurrency) { step in
                for _ in 0..<step.pause { await Task.yield() }
                log.withLock { $0.append((step.keys[0], step.index)) }
                return step.index * 2
            }
            #expect(results == steps.map { $0.index * 2 })
            let ran = log.withLock { $0 }
            #expect(ran.count == steps.count)
            for organisation in organisations {
                let order = ran.filter { $0.0 == organisation }.map(\.1)
                #expect(order == order.sorted(), "concurrency \(concurrency)")
            }
        }
    }
}
