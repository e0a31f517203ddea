import Logging
import NIOCore
import PostgresNIO
import Synchronization

/// Names one statement of a hot path, so PostgreSQL parses and plans it once per connection instead
/// of at every request: `enum LockLead: PreparedStatementKey {}` beside the call site, then
/// `connection.rows("… \(value) …", preparedAs: LockLead.self, logger: logger)`.
///
/// A request's dozen small statements spent twice as long in PostgreSQL's parser and planner as in
/// executing (its statement log: 67 ms of parse and plan against 32 ms of execution over 40 lead
/// actions). A named statement is parsed once on each pooled connection; its plan is PostgreSQL's
/// to cache (custom plans at first, a generic plan once it is no worse).
///
/// Only for statements whose text never varies and whose result is a few rows: PostgresNIO answers
/// a prepared statement with a back-pressured row stream, and such a stream must not span several
/// network reads when PostgreSQL drops the connection (see `PostgresRows`). A result that fits in
/// PostgreSQL's first send buffer (8 kB) arrives whole, in one read, before anyone consumes it.
public protocol PreparedStatementKey: SendableMetatype {}

/// The text each key was first used with, and the key's number (its statement's name: a type's
/// full name can exceed PostgreSQL's 63 bytes for a name, and cut short two could clash). Fixed once
/// known: every connection of the process prepares the same statement under the same name.
private let preparedTexts = Mutex<[ObjectIdentifier: (number: Int, text: String)]>([:])

/// Each (connection, key) pair whose statement has run on that connection, and each whose first
/// run failed. PostgresNIO keeps a failed preparation for the connection's life, so a key that fails
/// before it has ever succeeded on a connection runs unprepared there from then on (if the failure
/// was the statement's own, a lock timeout say, that costs only the preparing).
private let preparedOnConnection = Mutex<(ran: Set<ConnectionKey>, refused: Set<ConnectionKey>)>(([], []))

private struct ConnectionKey: Hashable {
    let connection: ObjectIdentifier
    let connectionID: PostgresConnection.ID
    let key: ObjectIdentifier
}

/// A statement known by its key: PostgresNIO's prepared-statement protocol with the key's text,
/// the caller's bindings, and rows passed through as they come.
private struct KeyedStatement<Key: PreparedStatementKey>: PostgresPreparedStatement {
    typealias Row = PostgresRow

    static var name: String { "hubnet_\(preparedTexts.withLock { $0[ObjectIdentifier(Key.self)]?.number } ?? -1)" }
    static var sql: String { preparedTexts.withLock { $0[ObjectIdentifier(Key.self)]?.text } ?? "" }

    let bindings: PostgresBindings

    func makeBindings() throws -> PostgresBindings { bindings }
    func decodeRow(_ row: PostgresRow) throws -> PostgresRow { row }
}

extension PostgresConnection {
    /// Runs `query` as the statement named by `key` (see `PreparedStatementKey`) and returns all
    /// its rows, counted, timed and watched as `rows(_:logger:)` does. A text that differs from the
    /// one the key was first used with runs unprepared, and is logged: a key names one text.
    @discardableResult
    public func rows<Key: PreparedStatementKey>(
        _ query: PostgresQuery, preparedAs key: Key.Type, logger: Logger, file: String = #fileID, line: Int = #line
    ) async throws -> PostgresRows {
        let id = ObjectIdentifier(key)
        let known = preparedTexts.withLock { texts in
            if let known = texts[id] { return known.text == query.sql }
            texts[id] = (texts.count + 1, query.sql)
            return true
        }
        let pair = ConnectionKey(connection: ObjectIdentifier(self), connectionID: self.id, key: id)
        guard known, !preparedOnConnection.withLock({ $0.refused.contains(pair) }) else {
            if !known {
                logger.error("a prepared statement's key is used with two texts; running it unprepared", metadata: ["at": "\(file):\(line)"])
            }
            return try await rows(query, logger: logger, file: file, line: line)
        }
        do {
            let rows = try await answered(logger: logger, file: file, line: line) { promise in
                promise.completeWithTask {
                    var rows: [PostgresRow] = []
                    for try await row in try await self.execute(
                        KeyedStatement<Key>(bindings: query.binds), logger: logger, file: file, line: line)
                    {
                        rows.append(row)
                    }
                    return rows
                }
            }
            _ = preparedOnConnection.withLock { $0.ran.insert(pair) }
            return rows
        } catch {
            if !isClosed {
                preparedOnConnection.withLock { if !$0.ran.contains(pair) { $0.refused.insert(pair) } }
            }
            throw error
        }
    }
}
