import HubNetPostgres
import HubNetTestSupport
import Logging
import PostgresNIO
import Testing

@Suite("A pool for one command")
struct ScopedClientTests {
    @Test("withPostgresClient runs its pool before the body leases a connection: no warning reaches the command's log")
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
}
