import Foundation
import HubNetCore
import HubNetPostgres

/// Every setting of the server, read from one place. Each key is an environment variable; the
/// command-line tool's flags override them. See the README's configuration table.
public struct ServerConfiguration: Sendable {
    /// `HUBNET_HOST`: the address to listen on. Default `127.0.0.1`.
    public var host: String
    /// `HUBNET_PORT`: the port to listen on. Default `8080`.
    public var port: Int
    /// `DATABASE_URL`: the server's database; unset means an embedded throwaway cluster.
    public var databaseURL: DatabaseURL?
    /// `HUBNET_MIGRATION_DATABASE_URL`: the schema owner's connection for `migrate`; default `DATABASE_URL`.
    public var migrationDatabaseURL: DatabaseURL?
    /// `HUBNET_DATA_DIR`: keep the embedded cluster here across runs instead of a throwaway one.
    public var embeddedDataDirectory: String?
    /// `HUBNET_OPERATOR_TOKEN`: the network operator's secret; without it, tenants are provisioned by CLI only.
    public var operatorToken: String?
    /// `HUBNET_MAX_BODY_BYTES`: the largest request body accepted. Default 1 MiB.
    public var maximumBodyBytes: Int
    /// `HUBNET_DB_POOL_SIZE`: connections in the pool. Default 20.
    public var databasePoolSize: Int
    /// `HUBNET_LEAD_FORM_RATE`: public lead-form submissions allowed per client address per minute. Default 10.
    public var leadFormSubmissionsPerMinute: Int = 10
    /// `HUBNET_TRUST_PROXY`: take the client address from `X-Forwarded-For` (behind a trusted proxy only). Default false.
    public var trustForwardedFor: Bool = false
    /// How often the lead timers (expiry) are checked; `nil` runs no timer service in this process
    /// (tests that move a virtual clock fire timers themselves). Default one second.
    public var timerInterval: Duration? = .seconds(1)
    /// `HUBNET_SMTP_URL` (`smtp://[user@]host:port[?tls=required]` or `smtps://user@host:465`),
    /// `HUBNET_SMTP_PASSWORD_FILE`, `HUBNET_SMTP_CA_FILE` and `HUBNET_MAIL_FROM`: the relay notification
    /// emails go through (STARTTLS when offered, always with credentials; certificates verified). Without it, emails wait in the outbox (and are retried) until one is configured.
    public var smtp: SMTPClient?
    /// `HUBNET_DELIVERY_CONCURRENCY`: how many outbox messages a delivery pass has in flight at once
    /// (each recipient's messages still go in their order). Default 4.
    public var deliveryConcurrency: Int = 4
    /// How often the outbox is delivered; `nil` runs no delivery service in this process. Default one second.
    public var deliveryInterval: Duration? = .seconds(1)
    /// `HUBNET_DB_WAIT_MS` and `HUBNET_DB_STATEMENT_TIMEOUT_MS`: how long a request waits for a
    /// database connection while the database is up (10 s; while it is down, not at all) and how
    /// long one statement may run (30 s) before it answers 503.
    public var databaseLimits = DatabaseLimits()
    /// `HUBNET_SYNC_MAX_ATTEMPTS`: how many pushes in a row may fail on one mutation (a defect, not a
    /// refusal by the rules) before it is rejected with `failed_repeatedly`. Default 3.
    public var syncMaximumAttempts = 3
    /// `HUBNET_ACTION_GROUP_SIZE`: the most lead actions taken over HTTP at the same moment in one
    /// tenant that are stored in one transaction (`LeadActionGroups`); 1 takes each on its own. Default 64.
    public var actionGroupSize = 64
    /// `HUBNET_CREDENTIAL_BATCH_SIZE`: the most credentials presented at the same moment that are
    /// checked in one statement (`CredentialChecks`); 1 checks each on its own. Default 64.
    public var credentialBatchSize = 64
    /// How often the live sync channel sends a heartbeat; a connection lasts 20 of them.
    public var liveHeartbeat: Duration = .seconds(15)
    /// When failed deliveries are tried again.
    public var retryPolicy = RetryPolicy()
    /// `HUBNET_PUBLIC_URL`: where people reach this server, for links in emails. Default `http://host:port`.
    public var publicURL: String?
    /// `HUBNET_LINK_SECRET`: the key that signs act-from-email links. Unset: a random key per process,
    /// so links die with it; set one shared secret for several processes or restarts.
    public var linkSecret: Data = Data((0..<32).map { _ in UInt8.random(in: .min ... .max) })
    /// Print each web-console sign-in link to standard error as well as mailing it (`hubnet serve`
    /// on the embedded database does, so a newcomer can sign in without a mail relay).
    public var printSignInLinks = false
    /// Where each request's time is recorded for a profile (the simulator's `--profile`); none by default.
    public var requestTimings: RequestTimings?
    /// What time it is: the system clock, or a virtual one in tests and the simulator.
    public var now: @Sendable () -> Date = { Date() }
    /// `hubnet serve --test-clock`: a clock an operator moves forward over the API; `now` follows it.
    public var testClock: TestClock? {
        didSet { if let testClock { now = testClock.function } }
    }

    public init(
        host: String = "127.0.0.1", port: Int = 8080, databaseURL: DatabaseURL? = nil,
        migrationDatabaseURL: DatabaseURL? = nil, embeddedDataDirectory: String? = nil, operatorToken: String? = nil,
        maximumBodyBytes: Int = 1 << 20, databasePoolSize: Int = 20
    ) {
        self.host = host
        self.port = port
        self.databaseURL = databaseURL
        self.migrationDatabaseURL = migrationDatabaseURL
        self.embeddedDataDirectory = embeddedDataDirectory
        self.operatorToken = operatorToken
        self.maximumBodyBytes = maximumBodyBytes
        self.databasePoolSize = databasePoolSize
    }

    /// Reads the environment; a malformed value is an error naming its key.
    public init(environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        func int(_ key: String, default value: Int, range: ClosedRange<Int>) throws -> Int {
            guard let text = environment[key], !text.isEmpty else { return value }
            guard let number = Int(text), range.contains(number) else {
                throw ConfigurationError("\(key) must be a whole number in \(range.lowerBound)...\(range.upperBound)")
            }
            return number
        }
        func url(_ key: String) throws -> DatabaseURL? {
            guard let text = environment[key], !text.isEmpty else { return nil }
            do { return try DatabaseURL(text) } catch { throw ConfigurationError("\(key): \(error.description)") }
        }
        let leadFormRate = try int("HUBNET_LEAD_FORM_RATE", default: 10, range: 1...100_000)
        let timerMilliseconds = try int("HUBNET_TIMER_INTERVAL_MS", default: 1000, range: 0...3_600_000)
        let trustProxy = ["1", "true", "yes"].contains(environment["HUBNET_TRUST_PROXY"]?.lowercased() ?? "")
        let operatorToken = environment["HUBNET_OPERATOR_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
        if let operatorToken, operatorToken.count < 24 {
            throw ConfigurationError("HUBNET_OPERATOR_TOKEN must be at least 24 characters")
        }
        self.init(
            host: environment["HUBNET_HOST"].flatMap { $0.isEmpty ? nil : $0 } ?? "127.0.0.1",
            port: try int("HUBNET_PORT", default: 8080, range: 0...65535),
            databaseURL: try url("DATABASE_URL"),
            migrationDatabaseURL: try url("HUBNET_MIGRATION_DATABASE_URL"),
            embeddedDataDirectory: environment["HUBNET_DATA_DIR"].flatMap { $0.isEmpty ? nil : $0 },
            operatorToken: operatorToken,
            maximumBodyBytes: try int("HUBNET_MAX_BODY_BYTES", default: 1 << 20, range: 1024...(64 << 20)),
            databasePoolSize: try int("HUBNET_DB_POOL_SIZE", default: 20, range: 1...500)
        )
        self.leadFormSubmissionsPerMinute = leadFormRate
        self.syncMaximumAttempts = try int("HUBNET_SYNC_MAX_ATTEMPTS", default: 3, range: 1...100)
        self.actionGroupSize = try int("HUBNET_ACTION_GROUP_SIZE", default: 64, range: 1...1_000)
        self.credentialBatchSize = try int("HUBNET_CREDENTIAL_BATCH_SIZE", default: 64, range: 1...1_000)
        self.databaseLimits = DatabaseLimits(
            connectionWait: .milliseconds(try int("HUBNET_DB_WAIT_MS", default: 10_000, range: 50...600_000)),
            statementTimeout: .milliseconds(try int("HUBNET_DB_STATEMENT_TIMEOUT_MS", default: 30_000, range: 100...86_400_000)))
        self.trustForwardedFor = trustProxy
        self.timerInterval = timerMilliseconds == 0 ? nil : .milliseconds(timerMilliseconds)
        self.deliveryInterval = self.timerInterval
        self.deliveryConcurrency = try int("HUBNET_DELIVERY_CONCURRENCY", default: 4, range: 1...64)
        self.publicURL = environment["HUBNET_PUBLIC_URL"].flatMap { $0.isEmpty ? nil : $0 }
        if let secret = environment["HUBNET_LINK_SECRET"], !secret.isEmpty {
            guard secret.count >= 32 else { throw ConfigurationError("HUBNET_LINK_SECRET must be at least 32 characters") }
            self.linkSecret = Data(secret.utf8)
        }
        if let relay = environment["HUBNET_SMTP_URL"], !relay.isEmpty {
            do {
                var password: String?
                if let file = environment["HUBNET_SMTP_PASSWORD_FILE"], !file.isEmpty {
                    guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
                        throw ConfigurationError("HUBNET_SMTP_PASSWORD_FILE: cannot read \(file)")
                    }
                    password = text.trimmingCharacters(in: .newlines)
                }
                let caFile = environment["HUBNET_SMTP_CA_FILE"].flatMap { $0.isEmpty ? nil : $0 }
                if let caFile, !FileManager.default.isReadableFile(atPath: caFile) {
                    throw ConfigurationError("HUBNET_SMTP_CA_FILE: cannot read \(caFile)")
                }
                self.smtp = try SMTPClient(
                    url: relay, from: environment["HUBNET_MAIL_FROM"].flatMap { $0.isEmpty ? nil : $0 } ?? "hubnet@localhost",
                    password: password, caFile: caFile)
            } catch { throw ConfigurationError("HUBNET_SMTP_URL: \(error)") }
        }
    }
}

extension ServerConfiguration {
    /// How act-from-email links are made and checked.
    public var emailLinks: EmailActionLinks {
        EmailActionLinks(baseURL: publicURL ?? "http://\(host):\(port)", secret: linkSecret)
    }
}
