import Foundation

/// The whole machine's processor time so far, from Linux's `/proc/stat` (every process counts: the
/// simulator, the server in it, and PostgreSQL's). `--profile` compares two readings around a phase
/// to tell a phase that keeps the cores busy from one that waits, one step after another.
struct MachineCPU: Equatable, Sendable {
    /// Clock ticks the cores spent idle or waiting for I/O.
    var idle: UInt64
    /// Clock ticks in all.
    var total: UInt64

    /// The reading now, or `nil` where there is no `/proc/stat` (not Linux) or it cannot be read.
    static func now() -> MachineCPU? {
        guard let text = try? String(contentsOfFile: "/proc/stat", encoding: .utf8) else { return nil }
        return parse(text)
    }

    /// The machine's line of a `/proc/stat` text (`cpu  user nice system idle iowait irq softirq
    /// steal …`); `nil` when it has none, or a field is not a count, or the sum would overflow.
    static func parse(_ text: String) -> MachineCPU? {
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("cpu ") }) else { return nil }
        var counts: [UInt64] = []
        for field in line.split(separator: " ").dropFirst() {
            guard let count = UInt64(field) else { return nil }
            counts.append(count)
        }
        guard counts.count >= 4 else { return nil }
        // guest and guest_nice (fields 9 and 10) are already inside user and nice.
        var total: UInt64 = 0
        for count in counts.prefix(8) {
            let (sum, overflow) = total.addingReportingOverflow(count)
            if overflow { return nil }
            total = sum
        }
        let iowait = counts.count > 4 ? counts[4] : 0
        let (idle, overflow) = counts[3].addingReportingOverflow(iowait)
        return overflow ? nil : MachineCPU(idle: idle, total: total)
    }

    /// The ticks from `earlier` to this reading; zero where the counters went back (they never
    /// should, but a reading is outside input).
    func since(_ earlier: MachineCPU) -> MachineCPU {
        MachineCPU(
            idle: idle >= earlier.idle ? idle - earlier.idle : 0,
            total: total >= earlier.total ? total - earlier.total : 0)
    }

    static func + (lhs: MachineCPU, rhs: MachineCPU) -> MachineCPU {
        MachineCPU(idle: lhs.idle &+ rhs.idle, total: lhs.total &+ rhs.total)
    }

    /// The idle share, or `nil` when no time passed.
    var idleShare: Double? { total == 0 ? nil : Double(idle) / Double(total) }
}

extension MachineCPU {
    /// The CPU time the cores spent busy, in seconds (`/proc/stat` counts in clock ticks).
    var busySeconds: Double {
        let ticksPerSecond = Double(sysconf(Int32(_SC_CLK_TCK)))
        return ticksPerSecond > 0 ? Double(total &- idle) / ticksPerSecond : 0
    }
}

/// The CPU time this process has used, user and system, in seconds.
enum ProcessCPU {
    static func seconds() -> Double {
        var usage = rusage()
        guard getrusage(RUSAGE_SELF.rawValue, &usage) == 0 else { return 0 }
        func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1_000_000 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }
}
