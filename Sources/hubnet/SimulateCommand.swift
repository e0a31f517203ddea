import ArgumentParser
import Foundation
import HubNetServer
import HubNetSimulator
import Logging

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
    @Option(help: "Also run this preset or scenario file with the same seed and print both side by side (a rule tried before deploying it).")
    var compare: String?
    @Option(help: "Compare with the same scenario changed: key=value (snake_case as in --print-scenario, dotted for nested keys). Repeatable.")
    var vary: [String] = []
    @Flag(help: "At the end, print where the wall time went (phases, server and database, routes, days) on standard error.")
    var profile = false
    @Option(help: "How many independent requests (arrivals, deliveries) may be in flight at once (1 to 32); the report is the same for any value.")
    var concurrency = 8

    func run() async throws {
        let logger = makeLogger(default: .error)
        try await reportingErrors {
            var chosen = try Self.load(scenario ?? preset, isFile: scenario != nil)
            if let seed { chosen.seed = seed }
            if let days { chosen.days = days }
            try chosen.validate()
            guard (1...32).contains(concurrency) else { throw ScenarioError("--concurrency must be from 1 to 32") }
            if compare != nil || !vary.isEmpty {
                var other = try compare.map { try Self.load($0, isFile: Scenario.presets[$0] == nil) } ?? chosen
                other.seed = chosen.seed
                if let days { other.days = days }
                other = try other.varied(vary)
                try await runComparison(chosen, other, logger: logger)
                return
            }
            if printScenario {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                encoder.keyEncodingStrategy = .convertToSnakeCase
                say(String(decoding: try encoder.encode(chosen), as: UTF8.self))
                return
            }
            let configuration = try ServerConfiguration()
            let started = ContinuousClock.now
            // The page shows per-route latency from the server's own timings: measured when asked for.
            let profiler = profile || html != nil ? SimulationProfiler() : nil
            let progress = ProgressBar(total: chosen.days)
            progress.draw(0)
            let report = try await SimulationRunner.run(
                chosen, databaseURL: configuration.databaseURL, ownerURL: configuration.migrationDatabaseURL, logger: logger,
                profiler: profiler, concurrency: concurrency, progress: { done, _ in progress.draw(done) })
            progress.finish()
            let elapsed = ContinuousClock.now - started
            if let html { try report.html(latency: profiler?.requests.snapshot).write(toFile: html, atomically: true, encoding: .utf8) }
            say(json ? try report.json() : report.summary)
            FileHandle.standardError.write(
                Data("Wall time \(elapsed.formatted(.units(allowed: [.seconds], fractionalPart: .show(length: 1)))), peak memory \(peakMemoryMB()) MB\n".utf8))
            if profile, let profiler { FileHandle.standardError.write(Data((profiler.rendered(total: elapsed) + "\n").utf8)) }
            if !report.allInvariantsHeld { throw ExitCode(2) }
        }
    }
}

extension SimulateCommand {
    /// A preset by name, or a scenario file.
    static func load(_ name: String, isFile: Bool) throws -> Scenario {
        guard isFile else {
            guard let preset = Scenario.presets[name] else {
                throw ScenarioError("no preset '\(name)'; choose one of \(Scenario.presets.keys.sorted().joined(separator: ", "))")
            }
            return preset
        }
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try decoder.decode(Scenario.self, from: try Data(contentsOf: URL(fileURLWithPath: name)))
    }

    /// Runs both scenarios one after the other, each on its own database, and prints them side by side.
    func runComparison(_ a: Scenario, _ b: Scenario, logger: Logger) async throws {
        let configuration = try ServerConfiguration()
        let started = ContinuousClock.now
        var reports: [SimulationReport] = []
        for (index, scenario) in [a, b].enumerated() {
            FileHandle.standardError.write(Data("Run \(index + 1) of 2: \(scenario.name)\n".utf8))
            let progress = ProgressBar(total: scenario.days)
            progress.draw(0)
            reports.append(
                try await SimulationRunner.run(
                    scenario, databaseURL: configuration.databaseURL, ownerURL: configuration.migrationDatabaseURL, logger: logger,
                    concurrency: concurrency, progress: { done, _ in progress.draw(done) }))
            progress.finish()
        }
        let comparison = SimulationComparison(reports[0], reports[1], nameB: vary.isEmpty ? nil : "\(b.name) with \(vary.joined(separator: ", "))")
        if let html { try comparison.html().write(toFile: html, atomically: true, encoding: .utf8) }
        say(json ? try comparison.json() : comparison.summary)
        let elapsed = ContinuousClock.now - started
        FileHandle.standardError.write(
            Data("Wall time \(elapsed.formatted(.units(allowed: [.seconds], fractionalPart: .show(length: 1)))), peak memory \(peakMemoryMB()) MB\n".utf8))
        if !comparison.allInvariantsHeld { throw ExitCode(2) }
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
