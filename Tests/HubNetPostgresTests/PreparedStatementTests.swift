import Foundation
import HubNetPostgres
import HubNetTestSupport
import Logging
import PostgresNIO
import Testing

private enum CountTenants: PreparedStatementKey {}
private enum InsertNumber: PreparedStatementKey {}
private enum ReadLater: PreparedStatementKey {}
private enum TwoTexts: PreparedStatementKey {}

/// `rows(_:preparedAs:)`: a hot statement parsed once per connection, with the same answers as unprepared.
@Suite("Prepared statements")
struct PreparedStatementTests {
    let logger = Logger(label: "test")

    /// The statements this connection holds prepared, by name.
    private func prepared(on connection: PostgresConnection) async throws -> [String: String] {
        var names: [String: String] = [:]
        for (name, text) in try await connection.rows(
            "SELECT name, statement FROM pg_prepared_statements", logger: logger
        ).decode((String, String).self) {
            names[name] = text
        }
        return names
    }

    @Test("a keyed statement is prepared once on a connection, under its key's name, and answers as unprepared")
    func preparedOncePerConnection() async throws {
        try await withTestDatabase { database in
            try await withPostgresClient(database.ownerURL, logger: logger) { client in
                try await client.withConnection { connection in
                    var answers: [Int] = []
                    for floor in [0, 1, 1_000_000] {
                        let rows = try await connection.rows(
                            "SELECT count(*)::BIGINT FROM generate_series(1, 5) AS g WHERE g > \(floor)",
                            preparedAs: CountTenants.self, logger: logger)
                        answers.append(try #require(rows.decode(Int.self).first))
                    }
                    #expect(answers == [5, 4, 0])
                    let held = try await prepared(on: connection).filter { $0.value.contains("generate_series(1, 5)") }
                    #expect(held.count == 1, "\(held)")
                    #expect(held.keys.allSatisfy { $0.hasPrefix("hubnet_") })
                }
            }
        }
    }

    @Test("an optional value cast to the type Swift sends binds both ways, whichever came first on the connection")
    func optionalsCastToTheirSwiftType() async throws {
        try await withTestDatabase { database in
            try await withPostgresClient(database.ownerURL, logger: logger) { client in
                try await client.withConnection { connection in
                    try await connection.rows("CREATE TEMPORARY TABLE numbers (n INTEGER, label TEXT)", logger: logger)
                    // NULL first: the statement is prepared with no type for the values; the casts give them one.
                    for (number, label) in [(Int?.none, String?.none), (7, "seven"), (nil, "none"), (42, nil)] {
                        try await connection.rows(
                            "INSERT INTO numbers (n, label) VALUES (\(number)::BIGINT, \(label)::TEXT)",
                            preparedAs: InsertNumber.self, logger: logger)
                    }
                    let rows = try await connection.rows(
                        "SELECT n, label FROM numbers ORDER BY n NULLS FIRST, label NULLS FIRST", logger: logger
                    ).decode((Int?, String?).self)
                    #expect(rows.map(\.0) == [nil, nil, 7, 42])
                    #expect(rows.map(\.1) == [nil, "none", "seven", nil])
                }
            }
        }
    }

    @Test("a key whose first run fails on a connection runs unprepared there from then on, and answers")
    func failedPreparationFallsBack() async throws {
        try await withTestDatabase { database in
            try await withPostgresClient(database.ownerURL, logger: logger) { client in
                try await client.withConnection { connection in
                    // The table does not exist yet: preparing fails, and PostgresNIO would keep that failure.
                    await #expect(throws: PSQLError.self) {
                        try await connection.rows("SELECT v FROM later WHERE v > \(0)", preparedAs: ReadLater.self, logger: logger)
                    }
                    try await connection.rows("CREATE TEMPORARY TABLE later (v INTEGER)", logger: logger)
                    try await connection.rows("INSERT INTO later VALUES (1), (2)", logger: logger)
                    let values = try await connection.rows(
                        "SELECT v FROM later WHERE v > \(0)", preparedAs: ReadLater.self, logger: logger
                    ).decode(Int32.self)
                    #expect(values.sorted() == [1, 2])
                    #expect(try await prepared(on: connection).values.contains { $0.contains("FROM later") } == false)
                }
            }
        }
    }

    @Test("a key used with a second text runs that text unprepared, with its own answer")
    func secondTextRunsUnprepared() async throws {
        try await withTestDatabase { database in
            try await withPostgresClient(database.ownerURL, logger: logger) { client in
                try await client.withConnection { connection in
                    let first = try await connection.rows("SELECT \(1)::BIGINT + 1", preparedAs: TwoTexts.self, logger: logger)
                    let second = try await connection.rows("SELECT \(1)::BIGINT + 100", preparedAs: TwoTexts.self, logger: logger)
                    #expect(try first.decode(Int.self) == [2])
                    #expect(try second.decode(Int.self) == [101])
                    let held = try await prepared(on: connection).values.filter { $0.contains("::BIGINT + 1") }
                    #expect(held.count == 1)
                    #expect(held.first?.contains("+ 100") == false)
                }
            }
        }
    }
}
