import HubNetPostgres
import HubNetTestSupport
import Logging
import PostgresNIO
import Testing

@Suite("A pool for one command")
struct ScopedClientTests {
    @Test("withPostgresClient's pool logs no warning of a lease before its run, however the body's first lease and the pool's start fall")
    func noLeaseBeforeTheRun() async throws {
        try await withTestDatabase { database in
            // Many times: the pool's task and the body start together, so a missed wait is a race.
            for _ in 0..<20 {
                let captured = CapturedLog()
                let answer = try await withPostgresClient(database.ownerURL.with(database: database.name), logger: captured.logger) {
                    client in
                    try await client.withConnection { connection in
                        try await connection.query("SELECT 41 + 1", logger: Logger(label: "test")).collect().first?.decode(Int.self)
                    }
                }
                #expect(answer == 42)
                let warnings = captured.entries.withLock { $0.filter { $0.0 >= .warning }.map(\.1) }
                #expect(warnings.isEmpty, "\(warnings)")
            }
        }
    }

    @Test("the pool's logger drops PostgresNIO's warning of a lease before run() and nothing else: other warnings, that text at another level, metadata")
    func theFilterDropsOneMessage() {
        let captured = CapturedLog()
        var logger = captured.logger.forPool
        logger[metadataKey: "command"] = "migrate"
        let warning = "Trying to lease connection from `PostgresClient`, but `PostgresClient.run()` hasn't been called yet."
        logger.warning("\(warning)")
        logger.warning("sync listener lost its connection, reconnecting")
        logger.error("\(warning)")
        logger.warning("\(warning) Twice.")
        let entries = captured.entries.withLock { $0 }
        #expect(entries.map(\.1) == ["sync listener lost its connection, reconnecting", warning, "\(warning) Twice."])
        #expect(entries.map(\.0) == [.warning, .error, .warning])
        #expect(entries.allSatisfy { $0.2["command"] == "migrate" })
        // The level is the wrapped handler's.
        logger.logLevel = .error
        logger.warning("below the level")
        #expect(captured.entries.withLock { $0.count } == 3)
    }
}
