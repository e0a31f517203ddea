import Foundation
import Logging
import PostgresNIO

/// Turns a started embedded cluster into a served database: creates it, migrates it, and makes
/// the login role the server uses.
public enum EmbeddedDatabase {
    public static let name = "hubnet"
    public static let serverRole = "hubnet_server"

    public static func prepare(_ cluster: EmbeddedPostgres, logger: Logger) async throws -> DatabaseURL {
        try await withPostgresClient(cluster.superuserURL(), logger: logger, maximumConnections: 1) { client in
            let exists = try await client.rows("SELECT count(*) FROM pg_database WHERE datname = \(name)", logger: logger)
                .first?.decode(Int.self) ?? 0
            // A constant name.
            if exists == 0 { try await client.rows("CREATE DATABASE \(unescaped: name)", logger: logger) }
        }
        let ownerURL = cluster.superuserURL(database: name)
        try await withPostgresClient(ownerURL, logger: logger, maximumConnections: 1) { client in
            try await Migrator(client: client, migrations: try Migration.bundled(), logger: logger).migrate()
            try await client.withConnection { connection in
                try await DatabaseRoles.ensureServerLogin(serverRole, on: connection, logger: logger)
            }
        }
        return ownerURL.with(username: serverRole)
    }
}
