import Foundation
import Logging
import PostgresNIO

/// Applies the migrations of `sql/` in order, each in its own transaction, and records each with
/// its checksum in `schema_migrations`.
public struct Migrator: Sendable {
    public let client: PostgresClient
    public let migrations: [Migration]
    public let logger: Logger

    /// Any constant: the advisory lock that keeps two migrating processes from interleaving.
    private static let lockKey: Int64 = 0x4875_624e_6574  // "HubNet"

    public init(client: PostgresClient, migrations: [Migration], logger: Logger) {
        self.client = client
        self.migrations = migrations
        self.logger = logger
    }

    /// What the database holds compared with this build.
    public func status() async throws -> MigrationStatus {
        try await client.withConnection { connection in
            try await status(on: connection)
        }
    }

    /// Applies every pending migration; refuses to start when an applied one was altered or is unknown.
    @discardableResult
    public func migrate() async throws -> [Migration] {
        try await client.withConnection { connection in
            try await connection.rows(
                """
                CREATE TABLE IF NOT EXISTS schema_migrations (
                    version INTEGER NOT NULL,
                    name TEXT NOT NULL,
                    checksum TEXT NOT NULL,
                    applied_at TIMESTAMPTZ NOT NULL DEFAULT now(),
                    CONSTRAINT schema_migrations_pkey PRIMARY KEY (version)
                )
                """, logger: logger)
            try await connection.rows("SELECT pg_advisory_lock(\(Self.lockKey))", logger: logger)
            do {
                let applied = try await apply(on: connection)
                try await connection.rows("SELECT pg_advisory_unlock(\(Self.lockKey))", logger: logger)
                return applied
            } catch {
                _ = try? await connection.rows("SELECT pg_advisory_unlock(\(Self.lockKey))", logger: logger)
                throw error
            }
        }
    }

    private func apply(on connection: PostgresConnection) async throws -> [Migration] {
        let status = try await status(on: connection)
        if let problem = status.blockingProblem { throw MigrationError(description: problem) }
        for migration in status.pending {
            let statements = SQLScript.statements(in: migration.sql)
            try await connection.withTransaction(logger: logger) { connection in
                for statement in statements {
                    // Migration files are constants shipped with the build, never user input.
                    try await connection.rows(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                try await connection.rows(
                    """
                    INSERT INTO schema_migrations (version, name, checksum)
                    VALUES (\(migration.version), \(migration.name), \(migration.checksum))
                    """, logger: logger)
            }
            logger.info("applied migration", metadata: ["migration": "\(migration.fileName)"])
        }
        return status.pending
    }

    private func status(on connection: PostgresConnection) async throws -> MigrationStatus {
        let exists = try await connection.rows(
            "SELECT to_regclass('schema_migrations') IS NOT NULL", logger: logger
        ).first?.decode(Bool.self) ?? false
        var applied: [AppliedMigration] = []
        if exists {
            let rows = try await connection.rows(
                "SELECT version, name, checksum FROM schema_migrations ORDER BY version", logger: logger)
            for (version, name, checksum) in try rows.decode((Int, String, String).self) {
                applied.append(AppliedMigration(version: version, name: name, checksum: checksum))
            }
        }
        return MigrationStatus(available: migrations, applied: applied)
    }
}

public struct AppliedMigration: Sendable, Equatable {
    public var version: Int
    public var name: String
    public var checksum: String
}

/// The difference between the migrations a build ships and those a database has applied.
public struct MigrationStatus: Sendable {
    public var applied: [AppliedMigration]
    public var pending: [Migration]
    /// Applied migrations whose file has changed since.
    public var altered: [Migration]
    /// Applied migrations this build does not know: the database is newer than the binary.
    public var unknown: [AppliedMigration]

    public init(available: [Migration], applied: [AppliedMigration]) {
        let appliedByVersion = Dictionary(applied.map { ($0.version, $0) }, uniquingKeysWith: { first, _ in first })
        let availableVersions = Set(available.map(\.version))
        self.applied = applied
        self.pending = available.filter { appliedByVersion[$0.version] == nil }
        self.altered = available.filter { migration in
            appliedByVersion[migration.version].map { $0.checksum != migration.checksum } ?? false
        }
        self.unknown = applied.filter { !availableVersions.contains($0.version) }
    }

    public var isCurrent: Bool { pending.isEmpty && altered.isEmpty && unknown.isEmpty }

    /// What stops `migrate` itself: history that no forward migration can repair.
    public var blockingProblem: String? {
        if let migration = altered.first {
            return "migration \(migration.fileName) was changed after it was applied; migrations are forward-only: "
                + "restore the file and put the change in a new migration"
        }
        if let migration = unknown.first {
            return "the database has migration \(migration.version)_\(migration.name), which this build does not know: "
                + "run a newer hubnet"
        }
        return nil
    }

    /// What stops `serve`: anything but a current schema, said with what to run.
    public var servingProblem: String? {
        if let blockingProblem { return blockingProblem }
        if !pending.isEmpty {
            let names = pending.map(\.fileName).joined(separator: ", ")
            return "\(pending.count) migration(s) pending (\(names)): run `hubnet migrate` first"
        }
        return nil
    }
}

public struct MigrationError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(description: String) { self.description = description }
}
