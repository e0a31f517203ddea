import HubNetServer
import Testing

/// Under the test clock, a move and the background timer and delivery passes take turns.
@Suite("Pass gate")
struct PassGateTests {
    actor Occupancy {
        private(set) var inside = 0
        private(set) var most = 0
        private(set) var done = 0
        func enter() {
            inside += 1
            most = max(most, inside)
        }
        func leave() {
            inside -= 1
            done += 1
        }
    }

    @Test("the test clock's gate lets one pass in at a time, and every waiting pass gets its turn")
    func oneAtATime() async {
        let gate = PassGate()
        let occupancy = Occupancy()
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<40 {
                group.addTask {
                    await gate.run {
                        await occupancy.enter()
                        await Task.yield()
                        await occupancy.leave()
                    }
                }
            }
        }
        #expect(await occupancy.most == 1)
        #expect(await occupancy.done == 40)
    }
}
