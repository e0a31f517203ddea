import Foundation
import HubNetPostgres
import HubNetSimulator
import HubNetTestSupport
import Logging
import PostgresNIO
import Synchronization
import Testing

/// The in-process server behind `hubnet simulate` and `hubnet bench` on `DATABASE_URL`.
@Suite("Local server")
struct LocalServerTests {
    let logger = Logger(label: "local-server-test")

    @Test("a server that refuses to start (a migration pending) fails the run with its reason instead of leaving it waiting", .timeLimit(.minutes(5)))
    func refusalEndsTheRun() async throws {
        try await withTestDatabase { database in
            // The last migration undone in the books: the schema is one migration behind this build.
            try await withPostgresClient(database.ownerURL, logger: logger) { client in
                try await client.query("DELETE FROM schema_migrations WHERE version = (SELECT max(version) FROM schema_migrations)", logger: logger)
            }
            let started = ContinuousClock.now
            let ran = Mutex(false)
            do {
                try await LocalServer.run(databaseURL: database.serverURL, ownerURL: database.ownerURL, logger: logger) { _ in
                    ran.withLock { $0 = true }
                }
                Issue.record("the run went on with a migration pending")
            } catch {
                #expect("\(error)".contains("hubnet migrate"), "\(error)")
            }
            #expect(!ran.withLock { $0 })
            // It fails at start, not after some timeout. (The time limit above only keeps a
            // regression from hanging the suite: under a full run, a test database may take a
            // while to come free.)
            #expect(ContinuousClock.now - started < .seconds(20))
        }
    }
}
