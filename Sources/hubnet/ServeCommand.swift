import ArgumentParser
import Foundation
import HubNetPostgres
import HubNetServer
import Logging
import Prometheus

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the HTTP API server.",
        discussion: """
            With DATABASE_URL set, serves that database; it refuses to start while migrations are pending \
            (run `hubnet migrate`) or while its role could bypass row-level security.
            Without DATABASE_URL, starts a private PostgreSQL cluster (throwaway, or kept in HUBNET_DATA_DIR), \
            migrates it, serves it, and stops it on exit. If HUBNET_OPERATOR_TOKEN is unset in that mode, \
            a random operator token is generated and printed once.
            """)

    @Option(help: "Address to listen on (HUBNET_HOST, default 127.0.0.1).") var host: String?
    @Option(help: "Port to listen on (HUBNET_PORT, default 8080).") var port: Int?
    @Flag(
        help: """
            Run on a test clock that the operator moves forward (GET /v1/test-clock, POST /v1/test-clock/advance), \
            for integrators' test suites. Only on the embedded database unless --allow-test-clock-on-database-url.
            """)
    var testClock = false
    @Flag(help: "With --test-clock: time stands still between moves (POST /v1/test-clock/advance {\"to\": \"2030-01-01T09:00:00Z\"}).")
    var frozenClock = false
    @Flag(help: "Allow --test-clock with DATABASE_URL (a test database of your own; never a production one).")
    var allowTestClockOnDatabaseUrl = false

    func run() async throws {
        let logger = makeLogger(default: .info)
        try await reportingErrors {
            var configuration = try ServerConfiguration()
            if let host { configuration.host = host }
            if let port { configuration.port = port }
            if frozenClock && !testClock { throw ValidationError("--frozen-clock freezes the test clock: give --test-clock too") }
            if testClock {
                guard configuration.databaseURL == nil || allowTestClockOnDatabaseUrl else {
                    throw ValidationError(
                        "--test-clock moves the server's time: it runs on the embedded database only, or with DATABASE_URL "
                            + "when --allow-test-clock-on-database-url says this database is a test database")
                }
                configuration.testClock = TestClock(frozen: frozenClock)
                logger.warning("test clock on: the operator moves this server's time (POST /v1/test-clock/advance)")
                say("Test clock on: move it with POST /v1/test-clock/advance {\"days\": 1} (operator token); /readyz shows its time")
            }
            if let url = configuration.databaseURL {
                try await serve(configuration, databaseURL: url, logger: logger)
            } else {
                try await serveEmbedded(configuration, logger: logger)
            }
        }
    }

    private func serveEmbedded(_ configuration: ServerConfiguration, logger: Logger) async throws {
        var configuration = configuration
        let cluster = try EmbeddedPostgres(
            dataDirectory: configuration.embeddedDataDirectory.map { URL(fileURLWithPath: $0) },
            durable: configuration.embeddedDataDirectory != nil, logger: logger)
        try cluster.start()
        do {
            let serverURL = try await EmbeddedDatabase.prepare(cluster, logger: logger)
            if configuration.operatorToken == nil {
                let token = BearerToken.generate(.user, tenant: .init()).secret
                configuration.operatorToken = token
                say("Operator token for this run (provisions tenants): \(token)")
            }
            // No mail relay is needed to try the console: its sign-in links also go to standard error.
            configuration.printSignInLinks = true
            say("HubNet on embedded PostgreSQL at \(cluster.baseDirectory.path)\(cluster.isThrowaway ? " (throwaway)" : "")")
            try await serve(configuration, databaseURL: serverURL, logger: logger)
            cluster.stop()
        } catch {
            cluster.stop()
            throw error
        }
    }

    private func serve(_ configuration: ServerConfiguration, databaseURL: DatabaseURL, logger: Logger) async throws {
        say("Listening on http://\(configuration.host):\(configuration.port) (web console at /, API under /v1, description at /openapi.json)")
        let application = try buildApplication(
            configuration: configuration, databaseURL: databaseURL, logger: logger, registry: PrometheusCollectorRegistry())
        try await application.runService()
    }
}
