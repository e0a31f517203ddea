import Logging
import PostgresNIO

extension PostgresConnection {
    /// Runs `body` inside a savepoint of the current transaction: released when it returns; when
    /// it throws an error `undo` accepts, its effects are rolled back to the savepoint and the
    /// transaction goes on (the error is rethrown for the caller to record). Any other error is
    /// rethrown with the savepoint left in place, and fails the transaction.
    public func withSavepoint<Result>(
        logger: Logger, undoing undo: (any Error) -> Bool, _ body: () async throws -> Result
    ) async throws -> Result {
        try await rows("SAVEPOINT step", logger: logger)
        do {
            let result = try await body()
            try await rows("RELEASE SAVEPOINT step", logger: logger)
            return result
        } catch {
            if undo(error) { try await rows("ROLLBACK TO SAVEPOINT step", logger: logger) }
            throw error
        }
    }
}
