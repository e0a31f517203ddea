import Foundation
@testable import HubNetSimulator
import Synchronization
import Testing

@Suite("Simulation profiler")
struct SimulationProfilerTests {
    /// The figure on a line of the breakdown that names `label`.
    func seconds(on label: String, in rendered: String) throws -> Double {
        let line = try #require(rendered.split(separator: "\n").first { $0.contains(label) }, "\(rendered)")
        // The first figure followed by "s": "  41%  24.5 s   …".
        let words = line.split(separator: " ")
        let index = try #require(words.indices.first { words[$0] == "s" && $0 > 0 && Double(words[$0 - 1]) != nil }, "\(line)")
        return try #require(Double(words[index - 1]))
    }

    @Test("the breakdown accounts for the whole wall time: what no phase measured is its own line, the wall time less every phase")
    func outsideEveryPhase() throws {
        let profiler = SimulationProfiler()
        profiler.add(.seconds(12), to: .arrivals)
        profiler.add(.seconds(20), to: .syncs)
        profiler.add(.milliseconds(3_500), to: .lanes)
        let rendered = profiler.rendered(total: .seconds(60))
        #expect(try seconds(on: "outside every phase", in: rendered) == 24.5)
        #expect(try seconds(on: SimulationProfiler.Phase.lanes.rawValue, in: rendered) == 3.5)
        #expect(try seconds(on: SimulationProfiler.Phase.syncs.rawValue, in: rendered) == 20)
        // Shares of the wall time: 24.5 of 60 s is 41 %.
        let line = try #require(rendered.split(separator: "\n").first { $0.contains("outside every phase") })
        #expect(line.trimmingCharacters(in: .whitespaces).hasPrefix("41%"), "\(line)")
    }

    @Test("a phase measured inside another counts once, in the inner phase: home time's syncs are device syncs, and the phases still add up to the wall time")
    func nestedPhasesCountOnce() async throws {
        let clock = Mutex(Duration.zero)
        func pass(_ seconds: Int) { clock.withLock { $0 += .seconds(seconds) } }
        let profiler = SimulationProfiler(now: { clock.withLock { $0 } })
        await profiler.measure(.arrivals) { pass(5) }
        await profiler.measure(.homeTime) {
            pass(2)
            await profiler.measure(.syncs) {
                pass(7)
                await profiler.measure(.viewChecks) { pass(3) }
            }
            pass(1)
        }
        pass(4)  // between phases
        let rendered = profiler.rendered(total: clock.withLock { $0 })
        #expect(try seconds(on: SimulationProfiler.Phase.arrivals.rawValue, in: rendered) == 5)
        #expect(try seconds(on: SimulationProfiler.Phase.homeTime.rawValue, in: rendered) == 3)
        #expect(try seconds(on: SimulationProfiler.Phase.syncs.rawValue, in: rendered) == 7)
        #expect(try seconds(on: SimulationProfiler.Phase.viewChecks.rawValue, in: rendered) == 3)
        #expect(try seconds(on: "outside every phase", in: rendered) == 4)
    }
}
