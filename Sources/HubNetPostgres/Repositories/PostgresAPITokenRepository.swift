import Foundation
import HubNetCore
import Logging
import PostgresNIO

/// API tokens of users. Secrets are returned once, at issue; only hashes are stored.
public struct PostgresAPITokenRepository: Sendable {
    public let logger: Logger

    public init(logger: Logger) { self.logger = logger }

    static let columns = "id, tenant_id, user_id, name, created_at, last_used_at, revoked_at"

    /// A new token for an active user, and its secret string; `nil` when there is no such active user.
    public func issue(to user: User.ID, name: String, in transaction: TenantTransaction)
        async throws -> (APIToken, String)?
    {
        let name = try Validate.text(name, field: "name", max: 200)
        let secret = BearerToken.generate(.user, tenant: transaction.tenant)
        let rows = try await transaction.connection.rows(
            """
            INSERT INTO api_tokens (tenant_id, id, user_id, name, token_hash)
            SELECT \(transaction.tenant), \(APIToken.ID()), u.id, \(name), \(secret.hash)
            FROM users AS u WHERE u.tenant_id = \(transaction.tenant) AND u.id = \(user) AND u.deactivated_at IS NULL
            RETURNING \(unescaped: Self.columns)
            """, logger: logger)
        guard let token = try await Self.tokens(rows).first else { return nil }
        return (token, secret.stringValue)
    }

    public func list(user: User.ID, in transaction: TenantTransaction) async throws -> [APIToken] {
        try await Self.tokens(
            transaction.connection.rows(
                """
                SELECT \(unescaped: Self.columns) FROM api_tokens
                WHERE tenant_id = \(transaction.tenant) AND user_id = \(user) ORDER BY created_at, id
                """, logger: logger))
    }

    public func get(_ id: APIToken.ID, in transaction: TenantTransaction) async throws -> APIToken? {
        try await Self.tokens(
            transaction.connection.rows(
                "SELECT \(unescaped: Self.columns) FROM api_tokens WHERE tenant_id = \(transaction.tenant) AND id = \(id)",
                logger: logger)
        ).first
    }

    /// Revokes a token; it stops working at once. Stamped `now` by the server's clock. Returns
    /// `false` when there is no such token.
    public func revoke(_ id: APIToken.ID, now: Date, in transaction: TenantTransaction) async throws -> Bool {
        let rows = try await transaction.connection.rows(
            """
            UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, \(now))
            WHERE tenant_id = \(transaction.tenant) AND id = \(id) RETURNING id
            """, logger: logger
        )
        return !rows.isEmpty
    }

    /// Every authenticated request's statement, kept parsed per connection (`PreparedStatementKey`).
    enum AuthenticateToken: PreparedStatementKey {}

    /// The user behind a presented token, if it is live and its user active. Notes the use at most
    /// once a minute, so that a busy client does not turn every read into a write, and only when the
    /// token's row is free: a request never waits for another one noting the same token's use.
    /// One statement (`hubnet_authenticate_api_token`) outside any transaction (`Database.withSingleStatement`).
    /// - Parameter now: the server's clock, the use's time.
    /// - Parameter lockTimeout: how long noting the use may wait for anything but the token's row (a
    ///   table lock during a migration); a token row held by another transaction is skipped.
    public func authenticate(_ token: BearerToken, now: Date, lockTimeout: Duration = .seconds(5), on connection: PostgresConnection)
        async throws -> AuthenticatedUser?
    {
        guard token.kind == .user else { return nil }
        let rows = try await connection.rows(
            """
            SELECT auth_token, auth_user, auth_roles, auth_kind, auth_deactivated, auth_revoked
            FROM hubnet_authenticate_api_token(\(token.tenantID), \(token.hash), \(now), \(Int32(clamping: lockTimeout.milliseconds)))
            """, preparedAs: AuthenticateToken.self, logger: logger)
        for (_, userID, roles, kind, deactivated, revoked) in try rows.decode((APIToken.ID, User.ID, [String], String, Bool, Bool).self) {
            return try Self.answer(token, user: userID, roles: roles, kind: kind, deactivated: deactivated, revoked: revoked)
        }
        return nil
    }

    /// Checks several API tokens in one statement (`hubnet_authenticate_api_tokens`), each exactly
    /// as `authenticate` checks it alone: one answer per token, in order (a refusal such as a
    /// deactivated user is that token's failure). A token of another kind answers `nil`.
    public func authenticateMany(_ tokens: [BearerToken], now: Date, lockTimeout: Duration = .seconds(5), on connection: PostgresConnection)
        async throws -> [Result<AuthenticatedUser?, any Error>]
    {
        var answers: [Result<AuthenticatedUser?, any Error>] = Array(repeating: .success(nil), count: tokens.count)
        let checked = tokens.indices.filter { tokens[$0].kind == .user }
        guard !checked.isEmpty else { return answers }
        // Not a prepared statement: a batch's rows can exceed one network read, and PostgresNIO's
        // row stream for a prepared statement stops the process when the connection drops in the
        // middle of such a result (see `PreparedStatementKey`); collected rows fail instead.
        let rows = try await connection.rows(
            """
            SELECT auth_position, auth_token, auth_user, auth_roles, auth_kind, auth_deactivated, auth_revoked
            FROM hubnet_authenticate_api_tokens(\(checked.map { tokens[$0].tenantID.rawValue })::UUID[],
                ARRAY(SELECT decode(h, 'hex') FROM unnest(\(checked.map { BearerToken.hex(tokens[$0].hash) })::TEXT[]) WITH ORDINALITY AS x(h, n) ORDER BY n), \(now), \(Int32(clamping: lockTimeout.milliseconds)))
            """, logger: logger)
        for (position, _, userID, roles, kind, deactivated, revoked) in try rows.decode(
            (Int32, APIToken.ID, User.ID, [String], String, Bool, Bool).self)
        {
            guard position >= 1, Int(position) <= checked.count else { continue }
            let index = checked[Int(position) - 1]
            answers[index] = Result {
                try Self.answer(tokens[index], user: userID, roles: roles, kind: kind, deactivated: deactivated, revoked: revoked)
            }
        }
        return answers
    }

    /// What a token's row means: its user, or `nil` when it is revoked (or its tenant's kind is
    /// unknown). The holder of a genuine token of a deactivated user learns why it stopped working;
    /// a revoked token of an active user is just not a credential any more.
    static func answer(_ token: BearerToken, user: User.ID, roles: [String], kind: String, deactivated: Bool, revoked: Bool) throws
        -> AuthenticatedUser?
    {
        if deactivated { throw AccessEnded(.userDeactivated, lastMutationID: nil) }
        if revoked { return nil }
        guard let kind = Tenant.Kind(rawValue: kind) else { return nil }
        return AuthenticatedUser(userID: user, tenantID: token.tenantID, tenantKind: kind, roles: Set(roles.compactMap(Role.init(rawValue:))))
    }

    static func tokens(_ rows: PostgresRows) async throws -> [APIToken] {
        var tokens: [APIToken] = []
        for (id, tenantID, userID, name, createdAt, lastUsedAt, revokedAt) in try rows.decode(
            (APIToken.ID, Tenant.ID, User.ID, String, Date, Date?, Date?).self)
        {
            tokens.append(
                APIToken(
                    id: id, tenantID: tenantID, userID: userID, name: name, createdAt: createdAt,
                    lastUsedAt: lastUsedAt, revokedAt: revokedAt))
        }
        return tokens
    }
}
