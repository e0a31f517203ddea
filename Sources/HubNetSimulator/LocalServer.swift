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

    /// Starts the server, runs `body`, and stops everything it started.
    /// `crashSafe`: the private cluster (without `DATABASE_URL`) keeps every acknowledged commit
    /// through a crash of PostgreSQL, for runs that crash it on purpose.
    public static func run<Result: Sendable>(
        databaseURL: DatabaseURL?, ownerURL: DatabaseURL? = nil, crashSafe: Bool = false, logger: Logger,
        configure: @Sendable (inout ServerConfiguration) -> Void = { _ in }, _ body: @Sendable (LocalServer) async throws -> Result
    ) async throws -> Result {
        if let databaseURL {
            return try await run(on: databaseURL, owner: ownerURL, cluster: nil, logger: logger, configure: configure, body)
        }
        let cluster = try EmbeddedPostgres(dataDirectory: nil, durable: false, commitsSurviveCrash: crashSafe, logger: logger)
        try cluster.start()
        do {
            let url = try await EmbeddedDatabase.prepare(cluster, logger: logger)
            let result = try await run(
                on: url, owner: cluster.superuserURL(database: EmbeddedDatabase.name), cluster: cluster, logger: logger,
                configure: configure, body)
            cluster.stop()
            return result
        } catch {
            cluster.stop()
            throw error
        }
    }

    private static func run<Result: Sendable>(
        on url: DatabaseURL, owner: DatabaseURL?, cluster: EmbeddedPostgres?, logger: Logger, configure: @Sendable (inout ServerConfiguration) -> Void,
        _ body: @Sendable (LocalServer) async throws -> Result
    ) async throws -> Result {
        var configuration = ServerConfiguration(host: "127.0.0.1", port: 0, operatorToken: "sim-\(UUID().uuidString)", databasePoolSize: 8)
        configure(&configuration)
        let token = configuration.operatorToken ?? ""
        let (ports, portSignal) = AsyncStream.makeStream(of: Int.self)
        let application = try buildApplication(
            configuration: configuration, databaseURL: url, logger: logger, onServerRunning: { port in portSignal.yield(port) })
        let group = ServiceGroup(configuration: .init(services: [application], logger: logger))
        let serving = Task { try await group.run() }
        var port = 0
        for await value in ports {
            port = value
            break
        }
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        do {
            let result = try await withPostgresClient(url, logger: logger, maximumConnections: 4) { client in
                try await body(
                    LocalServer(
                        baseURL: "http://127.0.0.1:\(port)", operatorToken: token, database: Database(client: client, logger: logger),
                        http: http, ownerURL: owner, cluster: cluster))
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
}
