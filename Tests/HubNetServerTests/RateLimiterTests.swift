import Foundation
import PropertyBased
import Testing
import HubNetTestSupport

@testable import HubNetServer

/// The sign-in and lead-form limits: at most N attempts in any 60 seconds, exactly.
@Suite("Rate limiter")
struct RateLimiterTests {
    @Test("a burst that straddles a minute's turn is still one burst: 5 allowed, the 6th refused with the wait until the oldest leaves")
    func straddlingMinute() async {
        let limiter = RateLimiter(limit: 5)
        let start = Date(timeIntervalSince1970: 1_800_000_000 + 58)  // two seconds before a minute turns
        var answers: [Bool] = []
        for second in 0..<7 { answers.append(await limiter.admit("a@x.test", now: start + Double(second)).allowed) }
        #expect(answers == [true, true, true, true, true, false, false])
        let refused = await limiter.admit("a@x.test", now: start + 7)
        #expect(!refused.allowed)
        #expect(refused.retryAfter == 53, "the first attempt leaves the window 60 s after it was made")
        #expect(await limiter.admit("a@x.test", now: start + 60).allowed, "the first attempt has left the window")
        #expect(await !limiter.admit("a@x.test", now: start + 60.5).allowed, "the second is still inside it")
        #expect(await limiter.admit("b@x.test", now: start + 7).allowed, "another key has its own allowance")
    }

    @Test("a clock stepped back neither locks a key out for the size of the step nor lets more through than the limit")
    func clockSteppedBack() async {
        let limiter = RateLimiter(limit: 2)
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        #expect(await limiter.admit("k", now: start).allowed)
        #expect(await limiter.admit("k", now: start).allowed)
        #expect(await !limiter.admit("k", now: start).allowed)
        let answer = await limiter.admit("k", now: start - 3_600)
        #expect(answer.allowed)
        #expect((1...60).contains(answer.retryAfter))
    }

    @Test("keys with nothing left in their window are swept once there are many")
    func sweep() async {
        let limiter = RateLimiter(limit: 1)
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        for index in 0...RateLimiter.keysBeforeSweep { _ = await limiter.admit("key \(index)", now: start) }
        #expect(await limiter.keys == RateLimiter.keysBeforeSweep + 1)
        _ = await limiter.admit("late", now: start + 61)
        #expect(await limiter.keys == 1)
    }

    /// A reference model written from the rule itself: an attempt is allowed exactly when fewer
    /// than `limit` allowed attempts of the same key lie in the 60 seconds before it.
    @Test("property: over random attempt times and keys, the limiter admits exactly what the rule admits")
    func matchesTheRule() async {
        await propertyCheck(count: 200, input: Gen.uint64()) { seed in
            var random = HostileInput(seed: seed)
            let limit = random.below(6)
            let limiter = RateLimiter(limit: limit)
            var allowed: [String: [Double]] = [:]
            var time = 1_800_000_000.0
            for _ in 0..<200 {
                time += Double(random.below(40_000)) / 1_000  // 0 to 40 s apart
                let key = "k\(random.below(3))"
                let inWindow = (allowed[key] ?? []).filter { $0 > time - 60 }.count
                let expected = inWindow < limit
                let answer = await limiter.admit(key, now: Date(timeIntervalSince1970: time))
                #expect(answer.allowed == expected, "limit \(limit), key \(key) at \(time)")
                #expect((1...60).contains(answer.retryAfter))
                if expected { allowed[key, default: []].append(time) }
            }
        }
    }
}
