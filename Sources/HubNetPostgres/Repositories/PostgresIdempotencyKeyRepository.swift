import Foundation
import HubNetCore
import Logging
import PostgresNIO

/// Idempotency keys of lead creation: which lead a user's key created, and the request it came with.
public struct PostgresIdempotencyKeyRepository: Sendable {
    public let logger: Logger

    /// How long a key names its lead; after that the same key creates a new lead.
    public static let lifetime: TimeInterval = 86_400

    public init(logger: Logger) { self.logger = logger }

    /// The lead created earlier with this key and the SHA-256 of that request's body, if any.
    public func find(_ key: String, user: User.ID, now: Date, in transaction: TenantTransaction) async throws
        -> (lead: Lead.ID, requestSHA256: Data)?
    {
        let rows = try await transaction.connection.rows(
            """
            SELECT lead_id, request_sha256 FROM idempotency_keys
            WHERE tenant_id = \(transaction.tenant) AND user_id = \(user) AND key = \(key) AND created_at > \(now - Self.lifetime)
            """, logger: logger)
        return try rows.decode((Lead.ID, Data).self).first.map { (lead: $0.0, requestSHA256: $0.1) }
    }

    /// Records that `key` created `lead`, replacing an expired use of the key. A concurrent first
    /// use of the same key fails on the primary key (`idempotency_keys_pkey`).
    public func record(
        _ key: String, user: User.ID, requestSHA256: Data, lead: Lead.ID, now: Date,
        in transaction: TenantTransaction
    ) async throws {
        try await transaction.connection.rows(
            """
            DELETE FROM idempotency_keys
            WHERE tenant_id = \(transaction.tenant) AND user_id = \(user) AND key = \(key) AND created_at <= \(now - Self.lifetime)
            """, logger: logger)
        try await transaction.connection.rows(
            """
            INSERT INTO idempotency_keys (tenant_id, user_id, key, request_sha256, lead_id, created_at)
            VALUES (\(transaction.tenant), \(user), \(key), \(requestSHA256), \(lead), \(now))
            """, logger: logger)
    }
}
