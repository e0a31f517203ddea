import Foundation
import HubNetCore
import HubNetServer
import HubNetTestSupport
import HummingbirdTesting
import Testing

/// The integrators' test clock: real time plus an offset, or frozen until moved.
@Suite("Test clock")
struct TestClockTests {
    static func clockNow(_ response: TestResponse) throws -> Date {
        let text = try #require(response.json?["now"] as? String, "\(response.text)")
        let micros = try #require(Timestamp.micros(rfc3339: text), "\(text)")
        return Date(micros: micros)
    }

    @Test("a frozen test clock stands still between moves, lands exactly on the instant it is moved to, and the server stamps that instant")
    func frozen() async throws {
        let clock = TestClock(frozen: true)
        try await withTestApplication(configure: {
            $0.testClock = clock
            $0.timerInterval = nil
            $0.deliveryInterval = nil
        }) { app in
            let token = TestApplication.operatorToken
            let first = try await app.request(.get, "/v1/test-clock", token: token)
            #expect(first.json?["frozen"] as? Bool == true)
            try await Task.sleep(for: .milliseconds(1100))
            #expect(try Self.clockNow(try await app.request(.get, "/v1/test-clock", token: token)) == (try Self.clockNow(first)), "a second passed; the clock did not")

            let instant = Date(timeIntervalSince1970: 1_893_456_000)  // 2030-01-01T00:00:00Z
            let moved = try await app.request(.post, "/v1/test-clock/advance", token: token, json: #"{"to":"2030-01-01T00:00:00Z"}"#)
            #expect(moved.status == .ok, "\(moved.text)")
            #expect(try Self.clockNow(moved) == instant)
            let hub = try await app.fixtures.tenant(.hub, users: [[.moderator]])
            let lead = try await app.createLead(token: hub.users[0].token)
            let created = try #require(try await app.request(.get, "/v1/leads/\(lead)", token: hub.users[0].token).json?["created_at"] as? String)
            #expect(Timestamp.micros(rfc3339: created) == 1_893_456_000_000_000, "the lead was stamped \(created)")

            let hourLater = try await app.request(.post, "/v1/test-clock/advance", token: token, json: #"{"seconds":3600}"#)
            #expect(try Self.clockNow(hourLater) == instant + 3600)
            // Back in time, an unreadable instant, two ways at once, and more than ten years: refused, naming the field.
            let back = try await app.request(.post, "/v1/test-clock/advance", token: token, json: #"{"to":"2030-01-01T00:59:59Z"}"#)
            #expect(back.status == .unprocessableContent && back.errorField == "to", "\(back.text)")
            let garbage = try await app.request(.post, "/v1/test-clock/advance", token: token, json: #"{"to":"tomorrow"}"#)
            #expect(garbage.status == .unprocessableContent && garbage.errorField == "to", "\(garbage.text)")
            let both = try await app.request(.post, "/v1/test-clock/advance", token: token, json: #"{"to":"2031-01-01T00:00:00Z","days":1}"#)
            #expect(both.status == .unprocessableContent)
            let far = try await app.request(.post, "/v1/test-clock/advance", token: token, json: #"{"to":"2045-01-01T00:00:00Z"}"#)
            #expect(far.status == .unprocessableContent && far.errorField == "to", "\(far.text)")
            #expect(try Self.clockNow(try await app.request(.get, "/v1/test-clock", token: token)) == instant + 3600, "refused moves moved nothing")
        }
    }

    @Test("a running test clock moved to an instant reads that instant or later, and keeps running")
    func running() throws {
        let clock = TestClock()
        #expect(!clock.isFrozen)
        let instant = Date().addingTimeInterval(86_400 * 30).rounded()
        try clock.advance(to: instant)
        #expect(clock.now >= instant && clock.now < instant + 5)
        #expect(throws: DomainError.self) { try clock.advance(to: instant - 60) }
    }
}

extension Date {
    fileprivate func rounded() -> Date { Date(timeIntervalSince1970: timeIntervalSince1970.rounded()) }
}
