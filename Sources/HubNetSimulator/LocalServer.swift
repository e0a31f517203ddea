import AsyncHTTPClient
import Foundation
import HubNetCore
import HubNetPostgres
import HubNetServer
import Logging
import NIOCore
import PostgresNIO
import ServiceLifecycle

/// A real HubNet server on loopback for the simulator and the benchmarks: on `DATABASE_URL` when
/// given (already migrated), else on a private throwaway PostgreSQL cluster started here.
public struct LocalServer: Sendable {
    public let baseURL: String
    public let operatorToken: String
    /// The server role's pool, for the plain-SQL side of benchmarks and for invariant checks.
    public let database: Database
    public let http: HTTPClient
    /// The schema owner's URL, for reading across tenants (invariant checks); `nil` when unknown.
    public let ownerURL: DatabaseURL?
    /// The private cluster started here, for fault injection (a crash and restart); `nil` on `DATABASE_URL`.
    public let cluster: EmbeddedPostgres?
    /// The server's own process, when it runs as one (for a scenario that kills it); `nil` when it
    /// runs in this process.
    public let process: ServerChild?

    /// Starts the server, runs `body`, and stops everything it started.
    /// `crashSafe`: the private cluster (without `DATABASE_URL`) keeps every acknowledged commit
    /// through a crash of PostgreSQL, for runs that crash it on purpose.
    ///
    /// `process`: run the server as its own `hubnet serve` process of that binary, with that
    /// environment added, on a frozen test clock that `moveClock(to:)` moves; else it runs here,
    /// configured by `configure`.
    public static func run<Result: Sendable>(
        databaseURL: DatabaseURL?, ownerURL: DatabaseURL? = nil, crashSafe: Bool = false,
        process: (binary: String, environment: [String: String])? = nil, logger: Logger,
        configure: @Sendable (inout ServerConfiguration) -> Void = { _ in }, _ body: @Sendable (LocalServer) async throws -> Result
    ) async throws -> Result {
        if let databaseURL {
            return try await run(on: databaseURL, owner: ownerURL, cluster: nil, process: process, logger: logger, configure: configure, body)
        }
        let cluster = try EmbeddedPostgres(dataDirectory: nil, durable: false, commitsSurviveCrash: crashSafe, logger: logger)
        try cluster.start()
        do {
            let url = try await EmbeddedDatabase.prepare(cluster, logger: logger)
            let result = try await run(
                on: url, owner: cluster.superuserURL(database: EmbeddedDatabase.name), cluster: cluster, process: process, logger: logger,
                configure: configure, body)
            cluster.stop()
            return result
        } catch {
            cluster.stop()
            throw error
        }
    }

    private static func run<Result: Sendable>(
        on url: DatabaseURL, owner: DatabaseURL?, cluster: EmbeddedPostgres?, process: (binary: String, environment: [String: String])?,
        logger: Logger, configure: @Sendable (inout ServerConfiguration) -> Void, _ body: @Sendable (LocalServer) async throws -> Result
    ) async throws -> Result {
        if let process { return try await runProcess(on: url, owner: owner, cluster: cluster, process, logger: logger, body) }
        var configuration = ServerConfiguration(host: "127.0.0.1", port: 0, operatorToken: "sim-\(UUID().uuidString)", databasePoolSize: 8)
        configure(&configuration)
        let token = configuration.operatorToken ?? ""
        let (ports, portSignal) = AsyncStream.makeStream(of: Int.self)
        let application = try buildApplication(
            configuration: configuration, databaseURL: url, logger: logger, onServerRunning: { port in portSignal.yield(port) })
        let group = ServiceGroup(configuration: .init(services: [application], logger: logger))
        // The stream of ports ends with the server: one that stops before it listens (migrations
        // pending, say) must not leave this waiting for a port that never comes.
        let serving = Task {
            defer { portSignal.finish() }
            try await group.run()
        }
        var listening: Int?
        for await value in ports {
            listening = value
            break
        }
        guard let port = listening else {
            // Its error, or that it stopped without one.
            try await serving.value
            throw ServerStopped()
        }
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        do {
            let result = try await withPostgresClient(url, logger: logger, maximumConnections: 4) { client in
                try await body(
                    LocalServer(
                        baseURL: "http://127.0.0.1:\(port)", operatorToken: token, database: Database(client: client, logger: logger),
                        http: http, ownerURL: owner, cluster: cluster, process: nil))
            }
            await group.triggerGracefulShutdown()
            _ = try? await serving.value
            try await http.shutdown()
            return result
        } catch {
            await group.triggerGracefulShutdown()
            _ = try? await serving.value
            try? await http.shutdown()
            throw error
        }
    }

    /// The server as its own `hubnet serve` process on a frozen test clock.
    private static func runProcess<Result: Sendable>(
        on url: DatabaseURL, owner: DatabaseURL?, cluster: EmbeddedPostgres?, _ process: (binary: String, environment: [String: String]),
        logger: Logger, _ body: @Sendable (LocalServer) async throws -> Result
    ) async throws -> Result {
        let token = "sim-\(UUID().uuidString)"
        let port = ServerProcess.freePort()
        var environment = process.environment
        environment["DATABASE_URL"] = url.connectionString
        environment["HUBNET_HOST"] = "127.0.0.1"
        environment["HUBNET_PORT"] = "\(port)"
        environment["HUBNET_OPERATOR_TOKEN"] = token
        // The simulation runs the timer and delivery passes itself, on its virtual hours.
        environment["HUBNET_TIMER_INTERVAL_MS"] = "0"
        environment["LOG_LEVEL"] = environment["LOG_LEVEL"] ?? "warning"
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        let child = ServerChild(
            binary: process.binary, environment: environment,
            arguments: ["serve", "--test-clock", "--frozen-clock", "--allow-test-clock-on-database-url"],
            baseURL: "http://127.0.0.1:\(port)", http: http)
        do {
            try await child.start()
            let result = try await withPostgresClient(url, logger: logger, maximumConnections: 4) { client in
                try await body(
                    LocalServer(
                        baseURL: child.baseURL, operatorToken: token, database: Database(client: client, logger: logger), http: http,
                        ownerURL: owner, cluster: cluster, process: child))
            }
            child.stop()
            try await http.shutdown()
            return result
        } catch {
            child.stop()
            try? await http.shutdown()
            throw error
        }
    }

    /// Moves the server's clock to `date`: the test clock of its own process; in this process the
    /// server reads the simulation's clock already, so nothing is sent.
    public func moveClock(to date: Date) async throws {
        guard process != nil else { return }
        var request = HTTPClientRequest(url: baseURL + "/v1/test-clock/advance")
        request.method = .POST
        request.headers.add(name: "Authorization", value: "Bearer \(operatorToken)")
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(string: #"{"to":"\#(Timestamp.rfc3339(date))"}"#))
        let response = try await http.execute(request, timeout: .seconds(120))
        let body = try await response.body.collect(upTo: 1 << 20)
        guard response.status == .ok else { throw NetworkAdmin.HTTPFailure(status: Int(response.status.code), body: String(buffer: body)) }
    }
}

/// The server's own process for the simulator: started, killed (SIGKILL) and started again on the
/// same port and database.
public final class ServerChild: @unchecked Sendable {
    let binary: String
    let environment: [String: String]
    let arguments: [String]
    public let baseURL: String
    let http: HTTPClient
    private var current: ServerProcess?

    init(binary: String, environment: [String: String], arguments: [String], baseURL: String, http: HTTPClient) {
        self.binary = binary
        self.environment = environment
        self.arguments = arguments
        self.baseURL = baseURL
        self.http = http
    }

    /// Starts the process and returns once it answers `/readyz` (within 60 s).
    public func start() async throws {
        let process = try ServerProcess(binary: binary, environment: environment, arguments: arguments)
        current = process
        let started = ContinuousClock.now
        while ContinuousClock.now - started < .seconds(60) {
            guard process.isAlive else { break }
            var request = HTTPClientRequest(url: baseURL + "/readyz")
            request.method = .GET
            if let response = try? await http.execute(request, timeout: .seconds(2)) {
                _ = try? await response.body.collect(upTo: 1 << 20)
                if response.status == .ok { return }
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        let log = process.log
        process.kill9()
        throw ScenarioError("the server process did not become ready; its log ends:\n\(log.suffix(2_000))")
    }

    /// Kills the process with SIGKILL, as a crash or the OOM killer would.
    public func kill() { current?.kill9() }

    /// Asks the process to stop and waits.
    public func stop() { current?.stop() }
}

/// The in-process server stopped before it listened, without an error of its own.
struct ServerStopped: Error, CustomStringConvertible {
    var description: String { "the server stopped before it began to listen" }
}
