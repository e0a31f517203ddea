import HubNetCore
@testable import HubNetSimulator
import NIOPosix
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

/// `simulate` runs on NIO's event loops, whose global executor keeps a job on the loop it came
/// from: lanes started from a loop take the group's loops in turn instead (`EventLoopTaskExecutor`).
@Suite("Lanes on event loops")
struct LanesOnEventLoopsTests {
    @Test("started from an event loop, lanes run on more than one of the group's loops, each lane's steps in order, results in the steps' order")
    func lanesSpreadOverTheLoops() async throws {
        let loops = try #require(EventLoopTaskExecutor.forLanesOfSingletonGroup)
        try #require(loops.count >= 2, "the singleton group has \(loops.count) loop(s) on this machine")
        let organisations = (0..<8).map { _ in Tenant.ID() }
        // 32 steps over 8 organisations: 8 lanes of 4, each lane's steps in its order.
        let steps = (0..<32).map { (index: $0, organisation: organisations[$0 % 8]) }
        let seen = Mutex<[Int: [Int]]>([:])
        let threads = Mutex<Set<ObjectIdentifier>>([])
        let results = try await withTaskExecutorPreference(loops[0]) {
            try await Lanes.run(steps, touching: { [$0.organisation] }, concurrency: 4) { step in
                if let loop = MultiThreadedEventLoopGroup.currentEventLoop {
                    threads.withLock { _ = $0.insert(ObjectIdentifier(loop as AnyObject)) }
                }
                seen.withLock { $0[step.index % 8, default: []].append(step.index) }
                // Some work that is not a socket's, as a device's decisions are.
                var spin = 0
                for value in 0..<200_000 { spin &+= value }
                return step.index + (spin == -1 ? 1 : 0)
            }
        }
        #expect(results == Array(0..<32))
        #expect(seen.withLock { $0 } == Dictionary(uniqueKeysWithValues: (0..<8).map { ($0, [$0, $0 + 8, $0 + 16, $0 + 24]) }))
        #expect(threads.withLock { $0.count } >= 2, "every lane ran on one loop")
    }
}
