import Foundation
import HubNetCore
import Logging
import PostgresNIO

/// Users of one tenant. Every method runs inside a tenant transaction of `Database.withTenant`.
public struct PostgresUserRepository: Sendable {
    public let logger: Logger

    public init(logger: Logger) { self.logger = logger }

    static let columns = "id, tenant_id, email, display_name, roles, deactivated_at, created_at"

    public func create(_ draft: UserDraft, kind: Tenant.Kind, in transaction: TenantTransaction)
        async throws -> User
    {
        try await Self.insert(try draft.validated(for: kind), in: transaction, logger: logger)
    }

    /// Inserts an already validated draft.
    static func insert(_ draft: UserDraft, in transaction: TenantTransaction, logger: Logger)
        async throws -> User
    {
        let id = User.ID()
        let roles = draft.roles.sorted().map(\.rawValue)
        do {
            let rows = try await transaction.connection.rows(
                """
                INSERT INTO users (tenant_id, id, email, display_name, roles)
                VALUES (\(transaction.tenant), \(id), \(draft.email), \(draft.displayName), \(roles))
                RETURNING \(unescaped: columns)
                """, logger: logger)
            guard let user = try await users(rows).first else { throw DomainError.notFound("user") }
            return user
        } catch let error as PSQLError where error.violates("users_email_key") {
            throw DomainError.conflict("email_taken", "a user with this email already exists in the tenant")
        }
    }

    /// - Parameter lock: hold the row until the transaction ends, for a read-then-write.
    public func get(_ id: User.ID, lock: Bool = false, in transaction: TenantTransaction)
        async throws -> User?
    {
        // The lock clause is one of two constants.
        try await Self.users(
            transaction.connection.rows(
                """
                SELECT \(unescaped: Self.columns) FROM users WHERE tenant_id = \(transaction.tenant) AND id = \(id)
                \(unescaped: lock ? "FOR UPDATE" : "")
                """, logger: logger)
        ).first
    }

    /// The tenant's user with this email (emails are kept lower-case), active or not.
    public func find(email: String, in transaction: TenantTransaction) async throws -> User? {
        try await Self.users(
            transaction.connection.rows(
                "SELECT \(unescaped: Self.columns) FROM users WHERE tenant_id = \(transaction.tenant) AND email = \(email.lowercased())",
                logger: logger)
        ).first
    }

    public func list(page: PageRequest, includeDeactivated: Bool, in transaction: TenantTransaction)
        async throws -> Page<User>
    {
        let after = page.after ?? .start
        let rows = try await Self.users(
            transaction.connection.rows(
                """
                SELECT \(unescaped: Self.columns) FROM users
                WHERE tenant_id = \(transaction.tenant) AND (created_at, id) > (hubnet_from_micros(\(after.microseconds)), \(after.id))
                  AND (\(includeDeactivated) OR deactivated_at IS NULL)
                ORDER BY created_at, id LIMIT \(page.limit + 1)
                """, logger: logger))
        return Page(rows: rows, limit: page.limit) { PageCursor(createdAt: $0.createdAt, id: $0.id.rawValue) }
    }

    /// The users of the tenant among `ids` (deactivated ones included), in one statement.
    public func many(_ ids: [User.ID], in transaction: TenantTransaction) async throws -> [User] {
        guard !ids.isEmpty else { return [] }
        return try await Self.users(
            transaction.connection.rows(
                "SELECT \(unescaped: Self.columns) FROM users WHERE tenant_id = \(transaction.tenant) AND id = ANY(\(ids))", logger: logger))
    }

    /// Which of `ids` are active users of the tenant.
    public func active(_ ids: [User.ID], in transaction: TenantTransaction) async throws -> Set<User.ID> {
        guard !ids.isEmpty else { return [] }
        let rows = try await transaction.connection.rows(
            "SELECT id FROM users WHERE tenant_id = \(transaction.tenant) AND id = ANY(\(ids)) AND deactivated_at IS NULL", logger: logger)
        var found = Set<User.ID>()
        for id in try rows.decode(User.ID.self) { found.insert(id) }
        return found
    }

    /// Changes the name and roles; `nil` keeps a field.
    public func update(
        _ id: User.ID, kind: Tenant.Kind, displayName: String?, roles: Set<Role>?,
        in transaction: TenantTransaction
    ) async throws -> User? {
        guard let current = try await get(id, lock: true, in: transaction) else { return nil }
        let draft = try UserDraft(
            email: current.email, displayName: displayName ?? current.displayName, roles: roles ?? current.roles
        ).validated(for: kind)
        return try await Self.users(
            transaction.connection.rows(
                """
                UPDATE users SET display_name = \(draft.displayName), roles = \(draft.roles.sorted().map(\.rawValue))
                WHERE tenant_id = \(transaction.tenant) AND id = \(id)
                RETURNING \(unescaped: Self.columns)
                """, logger: logger)
        ).first
    }

    /// Deactivates a user and revokes all their tokens and devices; the record stays for history.
    /// Stamped `now` by the server's clock. Returns `false` when there is no such user.
    public func deactivate(_ id: User.ID, now: Date, in transaction: TenantTransaction) async throws -> Bool {
        let rows = try await transaction.connection.rows(
            """
            UPDATE users SET deactivated_at = COALESCE(deactivated_at, \(now))
            WHERE tenant_id = \(transaction.tenant) AND id = \(id) RETURNING id
            """, logger: logger
        )
        guard !rows.isEmpty else { return false }
        try await transaction.connection.rows(
            "UPDATE api_tokens SET revoked_at = \(now) WHERE tenant_id = \(transaction.tenant) AND user_id = \(id) AND revoked_at IS NULL",
            logger: logger)
        try await transaction.connection.rows(
            "UPDATE devices SET revoked_at = \(now) WHERE tenant_id = \(transaction.tenant) AND user_id = \(id) AND revoked_at IS NULL",
            logger: logger)
        return true
    }

    /// The active admins, locked until the transaction ends, so that two concurrent changes cannot
    /// both remove "the other" admin and leave the tenant with none.
    public func lockActiveAdmins(in transaction: TenantTransaction) async throws -> Set<User.ID> {
        let rows = try await transaction.connection.rows(
            """
            SELECT id FROM users
            WHERE tenant_id = \(transaction.tenant) AND deactivated_at IS NULL AND 'admin' = ANY (roles)
            ORDER BY id FOR UPDATE
            """, logger: logger)
        var ids = Set<User.ID>()
        for id in try rows.decode(User.ID.self) { ids.insert(id) }
        return ids
    }

    static func users(_ rows: PostgresRows) async throws -> [User] {
        var users: [User] = []
        for (id, tenantID, email, displayName, roles, deactivatedAt, createdAt) in try rows.decode(
            (User.ID, Tenant.ID, String, String, [String], Date?, Date).self)
        {
            users.append(
                User(
                    id: id, tenantID: tenantID, email: email, displayName: displayName,
                    roles: Set(roles.compactMap(Role.init(rawValue:))), deactivatedAt: deactivatedAt, createdAt: createdAt))
        }
        return users
    }
}
