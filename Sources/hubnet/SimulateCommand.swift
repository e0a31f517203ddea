import ArgumentParser
import Foundation
import HubNetServer
import HubNetSimulator

struct SimulateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Run a network of hubs, partners and sourcing companies on a virtual clock and check its invariants.",
        discussion: """
            Starts a real server on loopback (on DATABASE_URL with HUBNET_MIGRATION_DATABASE_URL, or a throwaway \
            embedded cluster), provisions the scenario's network, and runs it hour by hour: leads arrive by lead \
            forms, imports and sourcing companies; people act through client-SDK devices that go offline and sync; \
            timers fire and notifications are delivered to a loopback mail sink. Ends with a summary and the \
            invariants; exits non-zero when one is violated. The same seed gives the same report.
            """)

    @Option(help: "A preset: \(Scenario.presets.keys.sorted().joined(separator: ", ")).") var preset = "default"
    @Option(help: "A scenario file (JSON, snake_case keys as in --print-scenario) instead of a preset.") var scenario: String?
    @Option(help: "Override the scenario's seed.") var seed: UInt64?
    @Option(help: "Override the number of virtual days.") var days: Int?
    @Flag(help: "Print the report as JSON instead of the summary.") var json = false
    @Option(help: "Also write a self-contained HTML report with charts to this file.") var html: String?
    @Flag(help: "Print the chosen scenario as JSON and stop.") var printScenario = false
    @Flag(help: "At the end, print where the wall time went (phases, server and database, routes, days) on standard error.")
    var profile = false

    func run() async throws {
        let logger = makeLogger(default: .error)
        try await reportingErrors {
            var chosen: Scenario
            if let scenario {
                let decoder = JSONDecoder()
                decoder.keyDecodingStrategy = .convertFromSnakeCase
                chosen = try decoder.decode(Scenario.self, from: try Data(contentsOf: URL(fileURLWithPath: scenario)))
            } else {
                guard let preset = Scenario.presets[preset] else {
                    throw ScenarioError("no preset '\(preset)'; choose one of \(Scenario.presets.keys.sorted().joined(separator: ", "))")
                }
                chosen = preset
            }
            if let seed { chosen.seed = seed }
            if let days { chosen.days = days }
            try chosen.validate()
            if printScenario {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                encoder.keyEncodingStrategy = .convertToSnakeCase
                say(String(decoding: try encoder.encode(chosen), as: UTF8.self))
                return
            }
            let configuration = try ServerConfiguration()
            let started = ContinuousClock.now
            let profiler = profile ? SimulationProfiler() : nil
            let progress = ProgressBar(total: chosen.days)
            progress.draw(0)
            let report = try await SimulationRunner.run(
                chosen, databaseURL: configuration.databaseURL, ownerURL: configuration.migrationDatabaseURL, logger: logger,
                profiler: profiler, progress: { done, _ in progress.draw(done) })
            progress.finish()
            let elapsed = ContinuousClock.now - started
            if let html { try report.html().write(toFile: html, atomically: true, encoding: .utf8) }
            say(json ? try report.json() : report.summary)
            FileHandle.standardError.write(
                Data("Wall time \(elapsed.formatted(.units(allowed: [.seconds], fractionalPart: .show(length: 1)))), peak memory \(peakMemoryMB()) MB\n".utf8))
            if let profiler { FileHandle.standardError.write(Data((profiler.rendered(total: elapsed) + "\n").utf8)) }
            if !report.allInvariantsHeld { throw ExitCode(2) }
        }
    }
}

/// A one-line progress bar on standard error.
final class ProgressBar: Sendable {
    let total: Int
    init(total: Int) { self.total = total }

    func draw(_ done: Int) {
        let width = 30
        let filled = total == 0 ? width : width * done / total
        let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
        FileHandle.standardError.write(Data("\r\(bar) day \(done)/\(total)".utf8))
    }

    func finish() { FileHandle.standardError.write(Data("\n".utf8)) }
}

/// The process's peak resident memory, from /proc (Linux).
func peakMemoryMB() -> Int {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
        let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
        let kilobytes = Int(line.split(separator: " ").dropFirst().first ?? "")
    else { return 0 }
    return kilobytes / 1024
}
