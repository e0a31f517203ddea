import Foundation
import Hummingbird
import HubNetCore

/// The test clock, for the network operator of a server started with `--test-clock`: read it, and
/// move it forward; a move returns once the timers and deliveries that fell due have run. On the
/// real clock both answer 404.
struct TestClockController {
    let clock: TestClock?
    let timers: LeadTimerService
    let delivery: OutboxDeliveryService

    func addRoutes(to group: RouterGroup<AppRequestContext>) {
        group.get("test-clock", use: read)
        group.post("test-clock/advance", use: advance)
    }

    struct ClockResponse: ResponseEncodable {
        var now: Date
        var aheadSeconds: Double
        /// Timers fired and messages delivered by the move (on `advance`).
        var timersFired: Int?
        var messagesDelivered: Int?
    }

    struct AdvanceRequest: Decodable {
        var seconds: Double?
        var days: Double?
    }

    @Sendable func read(_ request: Request, context: AppRequestContext) async throws -> ClockResponse {
        try context.requireOperator()
        let clock = try testClock()
        return ClockResponse(now: clock.now, aheadSeconds: clock.ahead)
    }

    private func testClock() throws(DomainError) -> TestClock {
        guard let clock else { throw .notFound("test clock (start the server with --test-clock)") }
        return clock
    }

    @Sendable func advance(_ request: Request, context: AppRequestContext) async throws -> ClockResponse {
        try context.requireOperator()
        let clock = try testClock()
        let body = try await request.decodeJSON(AdvanceRequest.self, context: context)
        let seconds: Double
        switch (body.seconds, body.days) {
        case (let value?, nil): seconds = value
        case (nil, let days?):
            guard days.isFinite, (0...(TestClock.maximumStep / 86_400)).contains(days) else {
                throw DomainError.invalid("days", "must be from 0 to \(Int(TestClock.maximumStep / 86_400))")
            }
            seconds = days * 86_400
        default: throw DomainError.invalid("seconds", "give seconds or days (one of them)")
        }
        // The move and its passes take their turn with the background passes, so what fell due is
        // fired here, once, and counted in the answer.
        let (fired, delivered) = try await clock.passes.run { [timers, delivery] in
            try clock.advance(by: seconds)
            return (try await timers.fireDue(), try await delivery.deliverDue())
        }
        context.logger.notice("test clock moved", metadata: ["seconds": "\(seconds)", "now": "\(clock.now)"])
        return ClockResponse(now: clock.now, aheadSeconds: clock.ahead, timersFired: fired, messagesDelivered: delivered)
    }
}
