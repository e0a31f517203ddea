import Foundation
import Logging
import NIOCore
import PostgresNIO

/// Every row of one statement's result, read in full before the caller sees any of it.
///
/// Why not PostgresNIO's `AsyncSequence` of rows: a back-pressured row stream waits for its
/// consumer between network reads, and when PostgreSQL closes the connection in that window
/// (a restart, a failover, `pg_terminate_backend`) PostgresNIO 1.33 stops the whole process on a
/// precondition (`RowStreamStateMachine`: "How can we receive a body part, after a
/// channelReadComplete…"), because NIO delivers the reads that were outstanding at close without
/// a `read` call. A result collected on the event loop asks for more rows as soon as each read
/// arrives, so the stream is never waiting for its consumer and a dropped connection is an error,
/// not a crash. Our results are bounded pages, so holding one whole costs nothing we would not
/// spend anyway. `DatabaseRestartTests` restarts PostgreSQL under load to keep it so.
public struct PostgresRows: Sendable, RandomAccessCollection {
    public let rows: [PostgresRow]

    public init(_ rows: [PostgresRow]) { self.rows = rows }

    public var startIndex: Int { rows.startIndex }
    public var endIndex: Int { rows.endIndex }
    public subscript(position: Int) -> PostgresRow { rows[position] }

    /// Each row decoded as the given column types, in order.
    public func decode<each Column: PostgresDecodable>(
        _ columnType: (repeat each Column).Type, file: String = #fileID, line: Int = #line
    ) throws -> [(repeat each Column)] {
        try rows.map { try $0.decode(columnType, context: .default, file: file, line: line) }
    }

    /// Each row's single column.
    public func decode<Column: PostgresDecodable>(_ columnType: Column.Type, file: String = #fileID, line: Int = #line) throws
        -> [Column]
    {
        try rows.map { try $0.decode(Column.self, context: .default, file: file, line: line) }
    }
}

extension PostgresConnection {
    /// Runs `query` and returns all its rows (see `PostgresRows` for why they are read in full).
    ///
    /// A statement sent on a connection that has just closed is dropped by NIO without an answer,
    /// and PostgresNIO would wait for it forever; a watchdog on the connection's event loop fails
    /// it once the connection is seen closed, so no caller waits on a dead connection.
    @discardableResult
    public func rows(_ query: PostgresQuery, logger: Logger, file: String = #fileID, line: Int = #line) async throws
        -> PostgresRows
    {
        try await answered(logger: logger, file: file, line: line) { promise in
            self.query(query, logger: logger, file: file, line: line).map(\.rows).cascade(to: promise)
        }
    }

    /// Sends a statement through `send`, which completes the promise with its rows, and waits for
    /// them: counted (`StatementCount`), timed (`SlowStatements`), and failed with
    /// `DatabaseUnavailable(.connectionLost)` once the connection is seen closed.
    func answered(
        logger: Logger, file: String, line: Int, _ send: (EventLoopPromise<[PostgresRow]>) -> Void
    ) async throws -> PostgresRows {
        if isClosed { throw DatabaseUnavailable(.connectionLost) }
        let counter = StatementCount.current
        counter?.increment()
        let slow = SlowStatements.threshold
        let started = counter == nil && slow == nil ? nil : ContinuousClock.now
        defer {
            if let started {
                let elapsed = ContinuousClock.now - started
                counter?.add(elapsed)
                if let slow, elapsed >= slow {
                    logger.warning(
                        "slow statement", metadata: ["at": "\(file):\(line)", "duration_ms": "\(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000)"])
                }
            }
        }
        let eventLoop = self.eventLoop
        let promise = eventLoop.makePromise(of: [PostgresRow].self)
        send(promise)
        let watchdog = eventLoop.scheduleRepeatedTask(initialDelay: .milliseconds(500), delay: .milliseconds(500)) {
            [weak self] task in
            // Completing an already completed promise is ignored; both run on this event loop.
            if self?.isClosed ?? true {
                promise.fail(DatabaseUnavailable(.connectionLost))
                task.cancel()
            }
        }
        promise.futureResult.whenComplete { _ in watchdog.cancel() }
        return PostgresRows(try await promise.futureResult.get())
    }
}

extension PostgresClient {
    /// Runs `query` on a pooled connection and returns all its rows (see `PostgresRows`).
    @discardableResult
    public func rows(_ query: PostgresQuery, logger: Logger, file: String = #fileID, line: Int = #line) async throws
        -> PostgresRows
    {
        try await withConnection { connection in try await connection.rows(query, logger: logger, file: file, line: line) }
    }
}

/// `HUBNET_SLOW_STATEMENT_MS`: statements that take at least this long are logged (warning, with the
/// source line that sent them and the time, never the statement's parameters). Unset: none are.
public enum SlowStatements {
    /// The process's threshold; a task may set its own with `$threshold.withValue`.
    @TaskLocal public static var threshold: Duration? = ProcessInfo.processInfo.environment["HUBNET_SLOW_STATEMENT_MS"]
        .flatMap { Int($0) }.flatMap { (0...3_600_000).contains($0) ? Duration.milliseconds($0) : nil }
}

/// Where each column of a result is, read once from its first row. A repository that decodes many
/// rows of many columns by name looks each name up once per result this way, instead of once per
/// row and column (PostgresNIO's lookup by name hashes the name every time: a tenth of a push
/// batch's time in the server, profiled).
public struct ColumnPositions: Sendable {
    private let positions: [String: Int]

    public init(_ row: PostgresRandomAccessRow) {
        positions = Dictionary(row.map { ($0.columnName, $0.columnIndex) }, uniquingKeysWith: { first, _ in first })
    }

    /// The position of the column named `name`; a result without it is a defect of the statement.
    public func callAsFunction(_ name: String) throws -> Int {
        guard let position = positions[name] else { throw MissingColumn(name: name) }
        return position
    }

    public struct MissingColumn: Error, CustomStringConvertible {
        public var name: String
        public var description: String { "the result has no column \(name)" }
    }
}
