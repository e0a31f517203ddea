import ArgumentParser
import Foundation
import HubNetCore
import HubNetPostgres
import HubNetServer
import Logging
import NIOPosix
import PostgresNIO

/// The process's entry. A simulation runs Swift concurrency on NIO's event loops, so the work of
/// the in-process server, the SDK devices and their database round trips stays on the threads that
/// own the sockets instead of hopping to the concurrency pool and back: on the scale preset's first
/// day it took 15% less CPU and 8% less wall time, with the same report (2026-12-06, two runs each
/// way). `serve` keeps Swift's own executor: under `hubnet bench api` the lead list answered 30%
/// fewer requests a second with the event loops as executor (two runs; not investigated further).
/// Nothing in a simulation blocks a thread for long: child processes are waited for with `waitpid`
/// on programs that do not need this process's sockets.
@main
enum Entrypoint {
    static func main() async {
        if CommandLine.arguments.dropFirst().first == "simulate" {
            NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
        }
        await HubNetCommand.main()
    }
}

struct HubNetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hubnet",
        abstract: "HubNet: a multi-tenant network of hubs and partners exchanging leads and referrals.",
        discussion: """
            Configuration comes from environment variables (see the README); flags override them.
            Without DATABASE_URL, `serve` runs on a private throwaway PostgreSQL cluster.
            """,
        subcommands: [
            ServeCommand.self, MigrateCommand.self, TenantCommand.self, UserCommand.self, ListingCommand.self, SyncCommand.self, SimulateCommand.self,
            BenchCommand.self, VerifyCommand.self,
        ]
    )
}

/// Bootstraps logging once, at `LOG_LEVEL` or the given default.
func makeLogger(default level: Logger.Level) -> Logger {
    let configured = ProcessInfo.processInfo.environment["LOG_LEVEL"].flatMap { Logger.Level(rawValue: $0) }
    LoggingSystem.bootstrap { label in
        var handler = StreamLogHandler.standardError(label: label)
        handler.logLevel = configured ?? level
        return handler
    }
    return Logger(label: "hubnet")
}

/// Writes a line to standard output at once, also when it is redirected to a file.
func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

/// Runs a command body and turns any failure into one readable line on standard error.
func reportingErrors<Result>(_ body: () async throws -> Result) async throws -> Result {
    do {
        return try await body()
    } catch let error as ExitCode {
        throw error
    } catch {
        FileHandle.standardError.write(Data("hubnet: \(describe(error))\n".utf8))
        throw ExitCode.failure
    }
}

func describe(_ error: any Error) -> String {
    switch error {
    case let error as DomainError: return error.message
    case let error as CocoaError where error.code == .fileReadNoSuchFile || error.code == .fileNoSuchFile:
        let path = (error.userInfo[NSFilePathErrorKey] as? String) ?? error.errorUserInfo[NSFilePathErrorKey].map { "\($0)" } ?? "the file"
        return "cannot read \(path): there is no such file (check the path)"
    case let error as CocoaError where error.code == .fileReadNoPermission:
        return "cannot read \((error.userInfo[NSFilePathErrorKey] as? String) ?? "the file"): permission denied"
    case let error as DecodingError:
        switch error {
        case .keyNotFound(let key, let context):
            let path = (context.codingPath + [key]).map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
            return "the JSON lacks \(path.dropFirst()), which is required"
        case .dataCorrupted(let context), .typeMismatch(_, let context), .valueNotFound(_, let context):
            let path = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
            return "the JSON is not what was expected\(path.isEmpty ? "" : " at \(path)"): \(context.debugDescription)"
        @unknown default: return "the JSON is not what was expected"
        }
    case let error as PSQLError:
        if let message = error.serverInfo?[.message] { return "database: \(message)" }
        switch error.code {
        case .connectionError, .serverClosedConnection: return "lost the connection to the database (is it running, is DATABASE_URL right?)"
        default: return "database error (\(error.code))"
        }
    case let error where String(reflecting: type(of: error)).hasSuffix("ConnectionPoolError"):
        return "cannot reach the database: no connection could be made (is PostgreSQL running, are DATABASE_URL's host, port and role right?)"
    case let error as CustomStringConvertible: return error.description
    default: return String(describing: error)
    }
}

/// Runs an administrative command's body on the database of `DATABASE_URL`.
func withAdminDatabase<Result: Sendable>(logger: Logger, _ body: (Database) async throws -> Result) async throws -> Result {
    try await withPostgresClient(try requiredDatabaseURL(), logger: logger) { client in
        try await body(Database(client: client, logger: logger))
    }
}

/// The server's database connection from `DATABASE_URL`, required by the administrative commands.
func requiredDatabaseURL() throws -> DatabaseURL {
    guard let url = try ServerConfiguration().databaseURL else {
        throw ConfigurationError(
            "DATABASE_URL is not set: administrative commands work on a running database "
                + "(with the embedded one, use the HTTP API and the operator token `hubnet serve` prints)")
    }
    return url
}
