import Crypto
import Foundation
import HubNetCore

/// One forward-only schema change: a numbered file of `sql/`.
public struct Migration: Sendable, Equatable {
    public var version: Int
    public var name: String
    public var sql: String
    /// SHA-256 of the file, hex; recorded when applied so a later edit is noticed.
    public var checksum: String

    public init(version: Int, name: String, sql: String) {
        self.version = version
        self.name = name
        self.sql = sql
        self.checksum = Hex.lowercase(SHA256.hash(data: Data(sql.utf8)))
    }

    /// `0002_leads.sql` → version 2, name `leads`.
    public init?(fileName: String, sql: String) {
        guard fileName.hasSuffix(".sql") else { return nil }
        let stem = fileName.dropLast(4)
        guard let underscore = stem.firstIndex(of: "_"), let version = Int(stem[..<underscore]), version > 0 else {
            return nil
        }
        self.init(version: version, name: String(stem[stem.index(after: underscore)...]), sql: sql)
    }

    public var fileName: String { "\(String(format: "%04d", version))_\(name).sql" }

    /// The migrations that ship with this build, in order.
    public static func bundled() throws -> [Migration] {
        guard let directory = Bundle.module.url(forResource: "Migrations", withExtension: nil) else {
            throw ConfigurationError("the migrations are missing from this build")
        }
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        var migrations: [Migration] = []
        for file in files where file.hasSuffix(".sql") {
            let sql = try String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8)
            guard let migration = Migration(fileName: file, sql: sql) else {
                throw ConfigurationError("migration file \(file) is not named NNNN_name.sql")
            }
            migrations.append(migration)
        }
        migrations.sort { $0.version < $1.version }
        for (previous, next) in zip(migrations, migrations.dropFirst()) where previous.version == next.version {
            throw ConfigurationError("two migrations share version \(next.version)")
        }
        return migrations
    }
}
