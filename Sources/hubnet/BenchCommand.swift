import ArgumentParser
import Foundation
import HubNetServer
import HubNetSimulator

struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench", abstract: "Measure HubNet against plain SQL on the same database.", subcommands: [SyncBench.self])
}

struct SyncBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sync",
        abstract: "Sync throughput: push, pull and a first sync, beside the same rows by plain SQL.",
        discussion: """
            Starts a server on loopback (on DATABASE_URL, or a throwaway embedded cluster), provisions a hub, \
            creates the leads, then measures: push (devices sending mutations in batches at once), pull (a \
            device reading the whole change log), and the first sync of a new device through the client SDK.
            """)

    @Option(help: "Leads in the tenant (the first sync takes them all).") var leads = 20_000
    @Option(help: "Devices pushing at once.") var devices = 4
    @Option(help: "Mutations each device pushes.") var mutations = 2_500
    @Option(help: "Mutations per push.") var batch = 100
    @Flag(help: "Print the figures as JSON instead of a table.") var json = false

    func run() async throws {
        let logger = makeLogger(default: .error)
        try await reportingErrors {
            var options = SyncBenchmark.Options()
            options.leads = leads
            options.devices = devices
            options.mutationsPerDevice = mutations
            options.batch = batch
            let chosen = options
            let url = try ServerConfiguration().databaseURL
            let figures = try await LocalServer.run(databaseURL: url, logger: logger, configure: { $0.timerInterval = nil }) { server in
                try await SyncBenchmark(options: chosen).run(on: server) { line in
                    FileHandle.standardError.write(Data("· \(line)\n".utf8))
                }
            }
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                say(String(decoding: try encoder.encode(figures), as: UTF8.self))
            } else {
                say(SyncBenchmark.table(figures))
            }
        }
    }
}
