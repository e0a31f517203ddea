import Logging
import PostgresNIO

/// The roles HubNet's tables are guarded by: `hubnet_app` (made by the first migration) holds the
/// privileges; the server logs in as a member of it that owns no table.
public enum DatabaseRoles {
    public static let appRole = "hubnet_app"

    /// Makes `name` a login role that is a member of `hubnet_app`, creating it if needed.
    /// Needs a connection of a role that may create roles (the embedded cluster's superuser).
    public static func ensureServerLogin(_ name: String, on connection: PostgresConnection, logger: Logger) async throws {
        guard isPlainIdentifier(name) else {
            throw ConfigurationError("a role name must be lower-case letters, digits and underscores")
        }
        let exists = try await connection.rows(
            "SELECT count(*) FROM pg_roles WHERE rolname = \(name)", logger: logger
        ).first?.decode(Int.self) ?? 0
        // Role names cannot be bound; `name` was checked to be a plain identifier above.
        if exists == 0 {
            try await connection.rows(PostgresQuery(unsafeSQL: "CREATE ROLE \(name) LOGIN"), logger: logger)
        }
        try await connection.rows(PostgresQuery(unsafeSQL: "GRANT \(appRole) TO \(name)"), logger: logger)
    }

    /// Refuses a server connection that could see past row-level security: a superuser, a role with
    /// BYPASSRLS, a role that owns tables, or one that is not a member of `hubnet_app`.
    public static func verifyServerConnection(_ client: PostgresClient, logger: Logger) async throws {
        let rows = try await client.rows(
            """
            SELECT current_user::TEXT, r.rolsuper, r.rolbypassrls,
                   pg_has_role(current_user, \(appRole), 'USAGE'),
                   EXISTS (SELECT 1 FROM pg_tables WHERE tableowner = current_user AND schemaname = 'public')
            FROM pg_roles AS r WHERE r.rolname = current_user
            """, logger: logger)
        for (user, isSuperuser, bypassesRLS, isMember, ownsTables) in try rows.decode(
            (String, Bool, Bool, Bool, Bool).self)
        {
            let reason: String? =
                if isSuperuser { "is a superuser" } else if bypassesRLS { "has BYPASSRLS" } else if ownsTables {
                    "owns tables"
                } else if !isMember { "is not a member of \(appRole)" } else { nil }
            if let reason {
                throw ConfigurationError(
                    "the server's database role \(user) \(reason): connect DATABASE_URL as a login role that is a "
                        + "member of \(appRole) and owns nothing (`hubnet migrate --server-role NAME` makes one)")
            }
            return
        }
    }

    static func isPlainIdentifier(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, ("a"..."z").contains(first) || first == "_", name.count <= 63
        else { return false }
        return name.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "_" }
    }
}
