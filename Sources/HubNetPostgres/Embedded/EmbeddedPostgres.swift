import Foundation
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// A private PostgreSQL cluster run from the installed server binaries, for when no `DATABASE_URL`
/// is given: a newcomer's `hubnet serve`, the simulator and the test suites.
///
/// The cluster listens on a Unix socket only, in a directory that only its owner can enter, so no
/// password is needed and no other local user can reach it. Run as root, it runs as the `postgres`
/// user, because PostgreSQL refuses to run as root.
public final class EmbeddedPostgres: Sendable {
    /// Where the cluster keeps its files: `data/`, `socket/`, `postgres.log`.
    public let baseDirectory: URL
    /// Whether `stop()` deletes the whole base directory.
    public let isThrowaway: Bool
    private let binDirectory: URL
    private let runAsPostgresUser: Bool
    private let durable: Bool
    private let commitsSurviveCrash: Bool
    private let logger: Logger

    /// The socket PostgreSQL names after this port; no TCP port is opened.
    public static let port = 5432
    public static let superuser = "postgres"

    /// - Parameters:
    ///   - dataDirectory: keep the cluster here across runs; `nil` makes a throwaway one under the temporary directory.
    ///   - durable: `false` turns off fsync, for throwaway clusters whose data may be lost on a crash.
    ///   - commitsSurviveCrash: with `durable` off, still wait for each commit's WAL to reach the
    ///     operating system, so a crash of PostgreSQL alone (`stopImmediately()`) loses nothing
    ///     acknowledged; only the machine failing could. For fault injection on a throwaway cluster.
    public init(dataDirectory: URL? = nil, durable: Bool = false, commitsSurviveCrash: Bool = false, logger: Logger) throws {
        self.binDirectory = try Self.findBinDirectory()
        self.runAsPostgresUser = geteuid() == 0
        self.durable = durable
        self.commitsSurviveCrash = commitsSurviveCrash
        self.logger = logger
        if let dataDirectory {
            self.baseDirectory = dataDirectory
            self.isThrowaway = false
        } else {
            let name = "hubnet-pg-\(UUID().uuidString.prefix(8).lowercased())"
            self.baseDirectory = URL(fileURLWithPath: "/tmp").appendingPathComponent(name)
            self.isThrowaway = true
        }
    }

    public var dataDirectory: URL { baseDirectory.appendingPathComponent("data") }
    public var socketDirectory: URL { baseDirectory.appendingPathComponent("socket") }
    public var logFile: URL { baseDirectory.appendingPathComponent("postgres.log") }

    /// A URL for the cluster's superuser on `database`.
    public func superuserURL(database: String = "postgres") -> DatabaseURL {
        DatabaseURL(
            host: nil, port: Self.port, socketDirectory: socketDirectory.path, username: Self.superuser,
            database: database)
    }

    /// Creates the cluster if needed and starts it; returns when it accepts connections.
    public func start() throws {
        let fileManager = FileManager.default
        try fileManager.createDirectory(at: socketDirectory, withIntermediateDirectories: true)
        try fileManager.setAttributes([.posixPermissions: 0o700], ofItemAtPath: baseDirectory.path)
        if runAsPostgresUser {
            try run("/bin/chown", ["-R", "postgres:postgres", baseDirectory.path], asPostgres: false)
        }
        if !fileManager.fileExists(atPath: dataDirectory.appendingPathComponent("PG_VERSION").path) {
            try run(
                binDirectory.appendingPathComponent("initdb").path,
                [
                    "-D", dataDirectory.path, "-U", Self.superuser, "--auth=trust", "--encoding=UTF8",
                    "--no-locale",
                ] + (durable ? [] : ["--no-sync"]))
        }
        try run(
            binDirectory.appendingPathComponent("pg_ctl").path,
            ["-D", dataDirectory.path, "-l", logFile.path, "-w", "-t", "60", "-o", serverOptions, "start"])
        logger.info("embedded PostgreSQL started", metadata: ["directory": "\(baseDirectory.path)"])
        try startWatchdog()
    }

    private var serverOptions: String {
        var options = ["-c listen_addresses=''", "-k \(socketDirectory.path)", "-p \(Self.port)"]
        if !durable {
            options += ["-c fsync=off", "-c full_page_writes=off"]
            if !commitsSurviveCrash { options += ["-c synchronous_commit=off"] }
        }
        options += ["-c max_connections=500"]
        return options.joined(separator: " ")
    }

    /// Stops the server the way a crash or an operator's `pg_ctl -m immediate` does: every backend
    /// killed, no checkpoint. `startAgain()` recovers from the WAL. For the drills and fault
    /// injection that prove the server outlives its database.
    public func stopImmediately() throws {
        try run(binDirectory.appendingPathComponent("pg_ctl").path, ["-D", dataDirectory.path, "-m", "immediate", "-w", "stop"])
    }

    /// Starts a cluster stopped by `stopImmediately()`; returns when it accepts connections.
    public func startAgain() throws {
        try run(
            binDirectory.appendingPathComponent("pg_ctl").path,
            ["-D", dataDirectory.path, "-l", logFile.path, "-w", "-t", "60", "-o", serverOptions, "start"])
    }

    /// A throwaway cluster must not outlive its process even when that process is killed (SIGKILL,
    /// a crash): a small shell watches the process and stops and removes the cluster once it is gone.
    private func startWatchdog() throws {
        guard isThrowaway else { return }
        let pgCtl = binDirectory.appendingPathComponent("pg_ctl").path
        let stop = runAsPostgresUser ? "/usr/sbin/runuser -u postgres -- \(pgCtl)" : pgCtl
        // Every interpolated value is a path this type made or found, without quotes in it.
        let script = """
            while kill -0 \(getpid()) 2>/dev/null; do sleep 1; done
            if [ -d '\(dataDirectory.path)' ]; then \(stop) -D '\(dataDirectory.path)' -m immediate stop; rm -rf '\(baseDirectory.path)'; fi
            """
        try ChildProcess.spawnDetached("/bin/sh", ["-c", script])
    }

    /// Stops the cluster and, when it is a throwaway, deletes its files.
    public func stop() {
        do {
            try run(
                binDirectory.appendingPathComponent("pg_ctl").path,
                ["-D", dataDirectory.path, "-m", "fast", "-w", "stop"])
        } catch {
            logger.warning("embedded PostgreSQL did not stop cleanly: \(error)")
        }
        if isThrowaway { try? FileManager.default.removeItem(at: baseDirectory) }
    }

    private func run(_ executable: String, _ arguments: [String], asPostgres: Bool = true) throws {
        do {
            if asPostgres && runAsPostgresUser {
                try ChildProcess.run("/usr/sbin/runuser", ["-u", "postgres", "--", executable] + arguments)
            } else {
                try ChildProcess.run(executable, arguments)
            }
        } catch let failure as ChildProcess.Failure {
            throw EmbeddedPostgresError(description: failure.description)
        }
    }

    /// The directory holding `initdb`, `pg_ctl` and `postgres`: `pg_config --bindir`, or the newest
    /// `/usr/lib/postgresql/*/bin`, or `HUBNET_PG_BINDIR`.
    static func findBinDirectory() throws -> URL {
        let fileManager = FileManager.default
        func usable(_ path: String) -> Bool {
            fileManager.isExecutableFile(atPath: "\(path)/initdb") && fileManager.isExecutableFile(atPath: "\(path)/pg_ctl")
        }
        if let configured = ProcessInfo.processInfo.environment["HUBNET_PG_BINDIR"], usable(configured) {
            return URL(fileURLWithPath: configured)
        }
        if let fromConfig = try? pgConfigBinDirectory(), usable(fromConfig) {
            return URL(fileURLWithPath: fromConfig)
        }
        let root = "/usr/lib/postgresql"
        let versions = ((try? fileManager.contentsOfDirectory(atPath: root)) ?? [])
            .compactMap(Int.init).sorted(by: >)
        for version in versions where usable("\(root)/\(version)/bin") {
            return URL(fileURLWithPath: "\(root)/\(version)/bin")
        }
        throw EmbeddedPostgresError(
            description: "no PostgreSQL server binaries found (initdb, pg_ctl): install the postgresql package, "
                + "set HUBNET_PG_BINDIR, or set DATABASE_URL to use an existing server")
    }

    private static func pgConfigBinDirectory() throws -> String? {
        for candidate in ["/usr/bin/pg_config", "/usr/local/bin/pg_config"] where FileManager.default.isExecutableFile(atPath: candidate) {
            return try ChildProcess.run(candidate, ["--bindir"]).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        return nil
    }
}

public struct EmbeddedPostgresError: Error, Sendable, CustomStringConvertible {
    public var description: String
}
