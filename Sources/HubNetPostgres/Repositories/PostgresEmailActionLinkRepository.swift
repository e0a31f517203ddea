import Foundation
import HubNetCore
import Logging
import PostgresNIO

/// The stored half of act-from-email links: who may do what to which lead, until when, once.
public struct PostgresEmailActionLinkRepository: Sendable {
    public let logger: Logger

    public init(logger: Logger) { self.logger = logger }

    public struct Link: Sendable {
        public var id: UUID
        public var leadID: Lead.ID
        public var userID: User.ID
        public var action: String
        public var expiresAt: Date
        public var usedAt: Date?
    }

    /// The link, locked until the transaction ends so it can be used only once.
    public func lock(_ id: UUID, in transaction: TenantTransaction) async throws -> Link? {
        let rows = try await transaction.connection.rows(
            """
            SELECT id, lead_id, user_id, action, expires_at, used_at FROM email_action_links
            WHERE tenant_id = \(transaction.tenant) AND id = \(id) FOR UPDATE
            """, logger: logger)
        for (id, lead, user, action, expiresAt, usedAt) in try rows.decode((UUID, Lead.ID, User.ID, String, Date, Date?).self) {
            return Link(id: id, leadID: lead, userID: user, action: action, expiresAt: expiresAt, usedAt: usedAt)
        }
        return nil
    }

    public func markUsed(_ id: UUID, now: Date, in transaction: TenantTransaction) async throws {
        try await transaction.connection.rows(
            "UPDATE email_action_links SET used_at = \(now) WHERE tenant_id = \(transaction.tenant) AND id = \(id)", logger: logger)
    }
}
