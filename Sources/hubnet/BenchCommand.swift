import ArgumentParser
import Foundation
import HubNetServer
import HubNetSimulator

struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench", abstract: "Measure HubNet against plain SQL on the same database.", subcommands: [SyncBench.self, APIBench.self, DeviceSyncBench.self])
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
    @Option(help: "Rounds of pushes (1 to 20), HubNet's then the floor's in each; the push row shows the medians.") var rounds = 1
    @Flag(help: "Print the figures as JSON instead of a table.") var json = false

    func validate() throws {
        guard (1...1_000_000).contains(leads) else { throw ValidationError("--leads must be from 1 to 1,000,000") }
        guard (1...64).contains(devices) else { throw ValidationError("--devices must be from 1 to 64") }
        guard (1...1_000_000).contains(mutations) else { throw ValidationError("--mutations must be from 1 to 1,000,000") }
        // A push carries at most 1,000 mutations (SyncPush.maximumBatch).
        guard (1...1_000).contains(batch) else { throw ValidationError("--batch must be from 1 to 1,000") }
        guard (1...20).contains(rounds) else { throw ValidationError("--rounds must be from 1 to 20") }
        // The request bodies are encoded before the clock starts and held until sent.
        guard devices * mutations * rounds <= 10_000_000 else {
            throw ValidationError("--devices × --mutations × --rounds must be at most 10,000,000")
        }
    }

    func run() async throws {
        let logger = makeLogger(default: .error)
        try await reportingErrors {
            var options = SyncBenchmark.Options()
            options.rounds = rounds
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

struct APIBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "api",
        abstract: "API latency: p50/p99 of a lead action and a lead list at concurrent clients, beside GET /healthz.",
        discussion: """
            Starts a server on loopback (on DATABASE_URL, or a throwaway embedded cluster) with the default pool, \
            provisions a hub with leads, then runs each client's requests one after another, all clients at once: \
            GET /healthz (the floor: HTTP and middleware, no database), POST /v1/leads/{id}/actions/contact on a \
            new lead of the client's own, and GET /v1/leads?limit=50. The server stores actions sent at the same \
            moment together (HUBNET_ACTION_GROUP_SIZE, default 64) and checks credentials presented at the same \
            moment in one statement (HUBNET_CREDENTIAL_BATCH_SIZE, default 64); either set to 1 measures each alone.
            """)

    @Option(help: "Clients sending at once.") var clients = 50
    @Option(help: "Requests each client sends per measurement.") var requests = 40
    @Option(help: "Leads in the tenant (at least clients × requests).") var leads = 20_000
    @Flag(help: "Print the figures as JSON instead of a table.") var json = false

    func validate() throws {
        guard (1...1_000).contains(clients) else { throw ValidationError("--clients must be from 1 to 1,000") }
        guard (1...100_000).contains(requests) else { throw ValidationError("--requests must be from 1 to 100,000") }
        // Each action request takes a lead of its own.
        guard clients * requests <= 1_000_000 else { throw ValidationError("--clients × --requests must be at most 1,000,000") }
        guard (0...1_000_000).contains(leads) else { throw ValidationError("--leads must be from 0 to 1,000,000") }
    }

    func run() async throws {
        let logger = makeLogger(default: .error)
        try await reportingErrors {
            var options = APIBenchmark.Options()
            options.clients = max(1, clients)
            options.requestsPerClient = max(1, requests)
            options.leads = max(0, leads)
            let chosen = options
            let environment = try ServerConfiguration()
            let (url, pool, groups) = (environment.databaseURL, environment.databasePoolSize, environment.actionGroupSize)
            let credentials = environment.credentialBatchSize
            let figures = try await LocalServer.run(
                databaseURL: url, logger: logger,
                configure: {
                    $0.timerInterval = nil
                    $0.databasePoolSize = pool
                    $0.actionGroupSize = groups
                    $0.credentialBatchSize = credentials
                }
            ) { server in
                try await APIBenchmark(options: chosen).run(on: server) { line in
                    FileHandle.standardError.write(Data("· \(line)\n".utf8))
                }
            }
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                say(String(decoding: try encoder.encode(figures), as: UTF8.self))
            } else {
                say(APIBenchmark.table(figures))
            }
        }
    }
}

/// The device of `hubnet bench sync`'s memory figure, in a process of its own (started by the
/// benchmark, not listed in help): a first sync through the SDK into a new store, its report written
/// to `--output` as JSON.
struct DeviceSyncBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "device-sync", abstract: "A device's first sync, measured (run by `hubnet bench sync`).", shouldDisplay: false)

    @Option(help: "The server's base URL.") var url: String
    @Option(help: "The new store's file (must not exist).") var store: String
    @Option(help: "Changes per page.") var pageSize = 10_000
    @Option(help: "Where to write the report (JSON).") var output: String

    func validate() throws {
        guard (1...10_000).contains(pageSize) else { throw ValidationError("--page-size must be from 1 to 10,000") }
        guard !FileManager.default.fileExists(atPath: store) else { throw ValidationError("--store: \(store) exists; a first sync starts empty") }
    }

    func run() async throws {
        try await reportingErrors {
            guard let token = ProcessInfo.processInfo.environment[DeviceFirstSync.tokenVariable], !token.isEmpty else {
                throw ValidationError("set \(DeviceFirstSync.tokenVariable) to the device's token")
            }
            let report = try await DeviceFirstSync.run(baseURL: url, token: token, storePath: store, pageSize: pageSize)
            try JSONEncoder().encode(report).write(to: URL(fileURLWithPath: output))
        }
    }
}
