import Foundation
import HubNetCore
import Logging
import PostgresNIO

/// The web console's sign-in links and sessions. Secrets are `BearerToken`s (`hnl_…` for a link,
/// `hns_…` for a session cookie): the tenant they name is where they are looked up, and only their
/// SHA-256 is stored.
public struct PostgresConsoleSessionRepository: Sendable {
    public let logger: Logger

    public init(logger: Logger) { self.logger = logger }

    /// Who a console session belongs to, and what the pages show about them.
    public struct SignedIn: Sendable, Equatable {
        public var sessionID: UUID
        public var user: AuthenticatedUser
        public var csrfToken: String
        public var displayName: String
        public var email: String
        public var tenantName: String
        public var expiresAt: Date
    }

    /// One organisation an address can sign in to.
    public struct Account: Sendable, Equatable {
        public var tenantID: Tenant.ID
        public var userID: User.ID
        /// The address as the account has it.
        public var email: String
        public var tenantName: String
    }

    /// Every organisation where an active user has this email address. Runs with no tenant set
    /// (`Database.withNetwork`): the lookup is the schema owner's function, not a read of users.
    public func accounts(email: String, on connection: PostgresConnection) async throws -> [Account] {
        let rows = try await connection.rows(
            "SELECT tenant_id, user_id, email, tenant_name FROM hubnet_console_accounts(\(email))", logger: logger)
        return try rows.decode((Tenant.ID, User.ID, String, String).self).map {
            Account(tenantID: $0.0, userID: $0.1, email: $0.2, tenantName: $0.3)
        }
    }

    /// A new single-use link for an active user; its secret, to put in the email.
    public func createLink(for user: User.ID, now: Date, lifetime: TimeInterval, in transaction: TenantTransaction)
        async throws -> BearerToken
    {
        let token = BearerToken.generate(.signInLink, tenant: transaction.tenant)
        try await transaction.connection.rows(
            """
            INSERT INTO console_sign_in_links (tenant_id, id, user_id, token_hash, created_at, expires_at)
            VALUES (\(transaction.tenant), \(UUID()), \(user), \(token.hash), \(now), \(now.addingTimeInterval(lifetime)))
            """, logger: logger)
        return token
    }

    /// Uses a link: the user it signs in, once, before it expires, while the user is active.
    /// `nil` for an unknown, used or expired link.
    public func consumeLink(_ token: BearerToken, now: Date, on connection: PostgresConnection) async throws -> User.ID? {
        guard token.kind == .signInLink else { return nil }
        let rows = try await connection.rows(
            """
            UPDATE console_sign_in_links AS k SET used_at = \(now)
            FROM users AS u
            WHERE k.tenant_id = \(token.tenantID) AND k.token_hash = \(token.hash) AND k.used_at IS NULL
              AND k.expires_at > \(now) AND u.tenant_id = k.tenant_id AND u.id = k.user_id AND u.deactivated_at IS NULL
            RETURNING k.user_id
            """, logger: logger)
        return try rows.decode(User.ID.self).first
    }

    /// Opens a session for a user; the cookie's value and the session's form token.
    public func createSession(for user: User.ID, now: Date, lifetime: TimeInterval, in transaction: TenantTransaction)
        async throws -> (cookie: BearerToken, csrf: String)
    {
        let token = BearerToken.generate(.session, tenant: transaction.tenant)
        let csrf = BearerToken.generate(.session, tenant: transaction.tenant).secret
        try await transaction.connection.rows(
            """
            INSERT INTO console_sessions (tenant_id, id, user_id, token_hash, csrf_token, created_at, expires_at, last_seen_at)
            VALUES (\(transaction.tenant), \(UUID()), \(user), \(token.hash), \(csrf), \(now), \(now.addingTimeInterval(lifetime)), \(now))
            """, logger: logger)
        return (token, csrf)
    }

    /// The live session behind a cookie: not revoked, not expired, its user active.
    public func authenticate(_ token: BearerToken, now: Date, on connection: PostgresConnection) async throws -> SignedIn? {
        guard token.kind == .session else { return nil }
        let rows = try await connection.rows(
            """
            SELECT s.id, s.user_id, u.roles, n.kind, s.csrf_token, u.display_name, u.email, n.name, s.expires_at
            FROM console_sessions AS s
            JOIN users AS u ON u.tenant_id = s.tenant_id AND u.id = s.user_id
            JOIN tenants AS n ON n.id = s.tenant_id
            WHERE s.tenant_id = \(token.tenantID) AND s.token_hash = \(token.hash) AND s.revoked_at IS NULL
              AND s.expires_at > \(now) AND u.deactivated_at IS NULL
            """, logger: logger)
        for (id, userID, roles, kind, csrf, name, email, tenantName, expiresAt) in try rows.decode(
            (UUID, User.ID, [String], String, String, String, String, String, Date).self)
        {
            guard let kind = Tenant.Kind(rawValue: kind) else { return nil }
            let user = AuthenticatedUser(
                userID: userID, tenantID: token.tenantID, tenantKind: kind, roles: Set(roles.compactMap(Role.init(rawValue:))))
            return SignedIn(
                sessionID: id, user: user, csrfToken: csrf, displayName: name, email: email, tenantName: tenantName,
                expiresAt: expiresAt)
        }
        return nil
    }

    /// Ends one session.
    public func revoke(_ session: UUID, now: Date, in transaction: TenantTransaction) async throws {
        try await transaction.connection.rows(
            """
            UPDATE console_sessions SET revoked_at = \(now)
            WHERE tenant_id = \(transaction.tenant) AND id = \(session) AND revoked_at IS NULL
            """, logger: logger)
    }

    /// Ends every session of a user (sign out everywhere); how many were live.
    @discardableResult
    public func revokeAll(of user: User.ID, now: Date, in transaction: TenantTransaction) async throws -> Int {
        let rows = try await transaction.connection.rows(
            """
            UPDATE console_sessions SET revoked_at = \(now)
            WHERE tenant_id = \(transaction.tenant) AND user_id = \(user) AND revoked_at IS NULL RETURNING id
            """, logger: logger)
        return try rows.decode(UUID.self).count
    }
}
