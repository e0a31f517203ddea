import HubNetPostgres
import Logging
import PostgresNIO

extension PostgresConnection {
    /// The rows of `table` this connection's transaction has read so far, by index or by scan
    /// (`pg_stat_xact_user_tables`): read before and after a statement, the difference is what the
    /// statement read, whatever plan it had.
    public func rowsRead(of table: String, logger: Logger) async throws -> Int {
        try await rows(
            """
            SELECT (COALESCE(idx_tup_fetch, 0) + COALESCE(seq_tup_read, 0))::BIGINT
            FROM pg_stat_xact_user_tables WHERE relname = \(table)
            """, logger: logger
        ).decode(Int.self).first ?? 0
    }
}
