import Foundation
import PropertyBased
import Testing

@testable import HubNetSimulator

/// `--profile`'s reading of the machine's processor time (`/proc/stat`).
@Suite("Machine CPU readings")
struct MachineCPUTests {
    @Test("the machine's line is read: idle is idle plus I/O wait, the total the first eight fields (guest time is inside user time)")
    func readsTheMachineLine() throws {
        let text = """
            cpu  4705 150 1120 16250 520 30 45 7 100 3
            cpu0 2000 70 500 8000 260 15 20 3 50 1
            intr 12345 0 0
            """
        let reading = try #require(MachineCPU.parse(text))
        #expect(reading.idle == 16_250 + 520)
        #expect(reading.total == 4_705 + 150 + 1_120 + 16_250 + 520 + 30 + 45 + 7)
        // An older kernel's line with only four fields.
        #expect(MachineCPU.parse("cpu  10 0 5 85\n") == MachineCPU(idle: 85, total: 100))
        // Two readings: the share of idle ticks between them.
        let later = MachineCPU(idle: reading.idle + 30, total: reading.total + 200)
        #expect(later.since(reading).idleShare == 0.15)
        #expect(reading.since(later) == MachineCPU(idle: 0, total: 0), "counters that went back give nothing, not a trap")
        #expect(MachineCPU(idle: 0, total: 0).idleShare == nil)
    }

    @Test("a text without the machine's line, with a field that is not a count, or with counts that overflow is no reading")
    func refusesWhatIsNotAReading() {
        #expect(MachineCPU.parse("") == nil)
        #expect(MachineCPU.parse("cpu0 1 2 3 4\n") == nil)
        #expect(MachineCPU.parse("cpu  1 2 x 4\n") == nil)
        #expect(MachineCPU.parse("cpu  1 2 -3 4\n") == nil)
        #expect(MachineCPU.parse("cpu  1 2 3\n") == nil)
        #expect(MachineCPU.parse("cpu  \(UInt64.max) 1 0 0\n") == nil)
        #expect(MachineCPU.parse("cpu  18446744073709551616 0 0 0\n") == nil)
    }

    @Test("any text is read without trapping, and a reading it gives has no more idle ticks than ticks in all")
    func anyTextIsSafe() async {
        let junk = Gen<Character>.character(in: " "..."~").string(of: 0...8)
        await propertyCheck(count: 300, input: Gen.uint64().array(of: 0...11), junk, Gen.int(in: 0...12), Gen.bool) {
            counts, junk, at, asMachine in
            var fields = counts.map { String($0) }
            // Something that is not a count somewhere, or nowhere (when `at` is past the end).
            if at < fields.count { fields[at] = junk }
            let text = (asMachine ? "cpu  " : "cpu7 ") + fields.joined(separator: " ") + "\n"
            if let reading = MachineCPU.parse(text) {
                #expect(reading.idle <= reading.total)
            }
        }
    }

    @Test("on Linux the machine's time is read, and it moves forward")
    func readsThisMachine() throws {
        #if os(Linux)
        let first = try #require(MachineCPU.now())
        var spin = 0
        for value in 0..<2_000_000 { spin &+= value }
        #expect(spin != 1)
        let second = try #require(MachineCPU.now())
        #expect(second.total >= first.total && second.idle >= first.idle)
        #endif
    }
}
