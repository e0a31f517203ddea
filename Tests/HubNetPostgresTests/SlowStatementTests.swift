import Foundation
import HubNetPostgres
import HubNetTestSupport
import Logging
import PostgresNIO
import Synchronization
import Testing

/// Keeps what is logged through it, for a test to read.
final class CapturedLog: Sendable {
    let entries = Mutex<[(Logger.Level, String, Logger.Metadata)]>([])

    struct Handler: LogHandler {
        let log: CapturedLog
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            let merged = metadata.merging(event.metadata ?? [:]) { $1 }
            log.entries.withLock { $0.append((event.level, event.message.description, merged)) }
        }
    }

    var logger: Logger { Logger(label: "captured") { _ in Handler(log: self) } }
}

@Suite("Slow statements")
struct SlowStatementTests {
    @Test("a statement at or over HUBNET_SLOW_STATEMENT_MS is logged as a warning with the line that sent it; a faster one is not")
    func slowStatementsAreLogged() async throws {
        let captured = CapturedLog()
        let logger = captured.logger
        try await withTestDatabase { database in
            try await withPostgresClient(database.ownerURL.with(database: database.name), logger: Logger(label: "test")) { client in
                try await SlowStatements.$threshold.withValue(.milliseconds(150)) {
                    try await client.withConnection { connection in
                        try await connection.rows("SELECT 1", logger: logger)
                        try await connection.rows("SELECT pg_sleep(0.2)", logger: logger)
                    }
                }
            }
        }
        let warnings = captured.entries.withLock { $0 }.filter { $0.1 == "slow statement" }
        try #require(warnings.count == 1, "\(warnings.map(\.1))")
        #expect(warnings[0].0 == .warning)
        #expect(warnings[0].2["at"]?.description.hasPrefix("HubNetPostgresTests/SlowStatementTests.swift:") == true)
        let milliseconds = try #require(Int(warnings[0].2["duration_ms"]?.description ?? ""))
        #expect(milliseconds >= 200)
    }
}
