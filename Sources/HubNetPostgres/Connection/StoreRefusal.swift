import HubNetCore
import PostgresNIO

/// The one reading of what PostgreSQL refused, for every caller: the HTTP API answers with it, a
/// push makes it the mutation's outcome, so the same bad value gets the same code either way.
public enum StoreRefusal {
    /// The refusal a change gets for good when PostgreSQL refused the change itself: a value out of
    /// range or malformed (`22…`, `invalid_value`) or one that contradicts a stored record (`23…`,
    /// `constraint_violated`). `nil` for anything else (a lost connection, a collision, a bug).
    public static func domainError(_ error: any Error) -> DomainError? {
        guard let error = error as? PSQLError, let state = error.serverInfo?[.sqlState] else { return nil }
        if state.hasPrefix("22") {
            return DomainError(kind: .invalid, code: "invalid_value", message: "a value is out of range or malformed")
        }
        if state.hasPrefix("23") {
            return DomainError(kind: .conflict, code: "constraint_violated", message: "the change contradicts a stored record")
        }
        return nil
    }

    /// A deadlock or serialization failure (`40P01`, `40001`): nothing was written, and the same
    /// request may succeed when sent again.
    public static func isCollision(_ error: any Error) -> Bool {
        guard let error = error as? PSQLError else { return false }
        return ["40P01", "40001"].contains(error.serverInfo?[.sqlState] ?? "")
    }
}
