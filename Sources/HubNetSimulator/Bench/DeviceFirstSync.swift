import AsyncHTTPClient
import Foundation
import HubNetSync

/// A new device's first sync in a process of its own, as a device runs it: the SDK over HTTP into a
/// durable SQLite file. The benchmark starts `hubnet bench device-sync` (`run`) and reads back what
/// it measured (`measure`): the process's peak resident memory is the SDK's whole footprint during
/// the sync, the runtime's included, which a process shared with a server could not tell apart.
public enum DeviceFirstSync {
    /// What the device process measured.
    public struct Report: Sendable, Codable, Equatable {
        /// Leads held once the sync ended.
        public var leads: Int
        /// Records the sync brought (leads, notes, activities, referrals).
        public var records: Int
        public var seconds: Double
        /// The process's peak resident memory before the sync started (the runtime, the SDK
        /// loaded, the device's identity and templates read), in KiB.
        public var peakBeforeKiB: Int
        /// The process's peak resident memory when the sync had ended, in KiB.
        public var peakKiB: Int
    }

    /// The environment variable the device process reads its token from (not an argument: the
    /// process table shows arguments to every user of the machine).
    public static let tokenVariable = "HUBNET_DEVICE_TOKEN"

    /// The device's side: syncs into a new store at `storePath` and returns what it measured.
    public static func run(baseURL: String, token: String, storePath: String, pageSize: Int) async throws -> Report {
        let client = SyncClient(
            store: try LocalStore(path: storePath), transport: HTTPSyncTransport(baseURL: baseURL, deviceToken: token), pageSize: pageSize)
        try await client.prepare()
        let before = peakResidentKiB()
        let start = ContinuousClock.now
        let report = try await client.sync()
        let seconds = (ContinuousClock.now - start).seconds
        let peak = peakResidentKiB()
        return Report(leads: try await client.leadIDs().count, records: report.pulled, seconds: seconds, peakBeforeKiB: before, peakKiB: peak)
    }

    /// The benchmark's side: runs `binary bench device-sync` for the device `token` against the
    /// server at `baseURL`, waits for it (at most `timeout`), and returns its report. The store is
    /// a file in the temporary directory, removed afterwards.
    public static func measure(binary: String, baseURL: String, token: String, pageSize: Int, timeout: Duration = .seconds(600))
        async throws -> Report
    {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hubnet-device-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let output = directory.appendingPathComponent("report.json").path
        let process = try ServerProcess(
            binary: binary, environment: [tokenVariable: token],
            arguments: [
                "bench", "device-sync", "--url", baseURL, "--store", directory.appendingPathComponent("device.sqlite").path,
                "--page-size", String(pageSize), "--output", output,
            ])
        defer { try? FileManager.default.removeItem(atPath: process.logFile) }
        let deadline = ContinuousClock.now + timeout
        while process.isAlive {
            guard ContinuousClock.now < deadline else {
                process.kill9()
                throw BenchmarkFailure(description: "the device process did not finish its first sync within \(timeout)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        guard process.exitCode == 0, let data = FileManager.default.contents(atPath: output) else {
            throw BenchmarkFailure(description: "the device process failed (\(process.exitCode.map { "exit \($0)" } ?? "killed")): \(process.log)")
        }
        return try JSONDecoder().decode(Report.self, from: data)
    }

    /// This process's peak resident set so far, in KiB: Linux's `VmHWM`, the high-water mark of
    /// this program's own memory. (`getrusage`'s `ru_maxrss` would not do: across `exec` it keeps
    /// the peak of the process image before, here the benchmark's, which spawned it.)
    public static func peakResidentKiB() -> Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
        return peakResidentKiB(status: status) ?? 0
    }

    /// `VmHWM` of a `/proc/<pid>/status` text, in KiB.
    static func peakResidentKiB(status: String) -> Int? {
        for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            return line.dropFirst("VmHWM:".count).split(whereSeparator: \.isWhitespace).first.flatMap { Int($0) }
        }
        return nil
    }
}
