import Foundation
import HubNetPostgres
import HubNetTestSupport
import Logging
import PostgresNIO
import PropertyBased
import Testing

/// `hubnet_micros` and `hubnet_from_micros` turn timestamps into the whole microseconds since 1970
/// that sync payloads and pagination cursors carry, and back (migration 0027). They must be exact,
/// whatever the session's time zone, and inlined into the statements that use them.
@Suite("Time conversions in SQL")
struct TimeConversionTests {
    let logger = Logger(label: "test")

    @Test("microseconds since 1970 go to a timestamp and back unchanged, from 1901 to 2199, in any session time zone")
    func exactBothWays() async throws {
        try await withTestStore(logger: logger) { store in
            try await store.client.withConnection { connection in
                // 1901-12-14 to 2199-12-31, microseconds anywhere in the second.
                let generator = Gen.int64(in: -2_147_483_648_000_000...7_258_032_000_000_000).array(of: 200)
                for zone in ["UTC", "America/Los_Angeles", "Asia/Kathmandu"] {
                    try await connection.rows("SELECT set_config('TimeZone', \(zone), false)", logger: logger)
                    await propertyCheck(count: 5, input: generator) { micros in
                        let results = try await connection.rows(
                            """
                            SELECT m, hubnet_micros(hubnet_from_micros(m)),
                                hubnet_from_micros(m) = TIMESTAMPTZ 'epoch' + m * INTERVAL '1 microsecond',
                                (extract(epoch FROM hubnet_from_micros(m)) * 1000000)::BIGINT
                            FROM unnest(\(micros)::BIGINT[]) AS m
                            """, logger: logger
                        ).decode((Int64, Int64, Bool, Int64).self)
                        #expect(results.count == micros.count)
                        for (sent, back, sameInstant, byExtract) in results {
                            #expect(back == sent, "\(sent) came back as \(back) in \(zone)")
                            #expect(sameInstant, "\(sent) is another instant than the epoch plus its microseconds in \(zone)")
                            #expect(byExtract == sent, "\(sent): the epoch of its timestamp is \(byExtract) in \(zone)")
                        }
                    }
                }
            }
        }
    }

    @Test("both conversions are inlined into the statement that uses them, not called once per value")
    func inlined() async throws {
        try await withTestStore(logger: logger) { store in
            let plan = try await store.client.withConnection { connection in
                try await connection.rows(
                    """
                    EXPLAIN (VERBOSE, COSTS OFF)
                    SELECT hubnet_micros(v.t), hubnet_from_micros(v.m) FROM (VALUES (now(), 1::BIGINT)) AS v(t, m)
                    """, logger: logger
                ).decode(String.self).joined(separator: "\n")
            }
            #expect(plan.contains("Output:"), "\(plan)")
            #expect(!plan.contains("hubnet_micros("), "\(plan)")
            #expect(!plan.contains("hubnet_from_micros("), "\(plan)")
        }
    }
}
