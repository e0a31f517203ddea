import PostgresNIO

/// The database could not answer: it is restarting, unreachable, or too slow. The request may be
/// sent again later; the server answers `503` with `Retry-After`.
public struct DatabaseUnavailable: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Reason: String, Sendable, Equatable {
        /// No connection could be had within the wait the server allows (the database is down or saturated).
        case noConnection = "no_connection"
        /// The connection closed while the request used it; nothing was committed.
        case connectionLost = "connection_lost"
        /// The connection closed while committing: the change may or may not have been stored.
        case commitUnknown = "commit_unknown"
        /// A statement ran past the statement timeout and was cancelled; nothing was committed.
        case statementTimeout = "statement_timeout"
    }

    public var reason: Reason

    public init(_ reason: Reason) { self.reason = reason }

    /// Whether the caller cannot know if its write was stored (it should retry idempotently).
    public var outcomeUnknown: Bool { reason == .commitUnknown }

    public var description: String { "database unavailable (\(reason.rawValue))" }

    /// The unavailability `error` stands for, if it is one: a lost or refused connection, an
    /// administrator's shutdown, a cancelled statement. Other database errors are not.
    public static func classify(_ error: any Error) -> DatabaseUnavailable? {
        if let error = error as? DatabaseUnavailable { return error }
        // The pool's own errors (a tripped connection circuit breaker, a shut-down pool) are not
        // importable from PostgresNIO's public modules; they are recognised by their type's name.
        if String(reflecting: type(of: error)).hasSuffix("ConnectionPoolError") { return DatabaseUnavailable(.noConnection) }
        guard let error = error as? PSQLError else { return nil }
        switch error.code {
        case .serverClosedConnection, .connectionError, .uncleanShutdown, .clientClosedConnection, .poolClosed:
            return DatabaseUnavailable(.connectionLost)
        case .server:
            let state = error.serverInfo?[.sqlState] ?? ""
            // 57014 query_canceled (statement_timeout), 57P01..57P03 shutdown and cannot-connect-now,
            // 08xxx connection exceptions, 53300 too many connections.
            if state == "57014" { return DatabaseUnavailable(.statementTimeout) }
            if state.hasPrefix("57P") || state.hasPrefix("08") || state == "53300" { return DatabaseUnavailable(.connectionLost) }
            return nil
        default:
            return nil
        }
    }
}
