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
        /// Whether time stands still between moves (`--test-clock=frozen`).
        var frozen: Bool
        /// Timers fired and messages delivered by the move (on `advance`).
        var timersFired: Int?
        var messagesDelivered: Int?
    }

    struct AdvanceRequest: Decodable {
        var seconds: Double?
        var days: Double?
        /// An instant (RFC 3339) to move to.
        var to: String?
    }

    @Sendable func read(_ request: Request, context: AppRequestContext) async throws -> ClockResponse {
        try context.requireOperator()
        let clock = try testClock()
        return ClockResponse(now: clock.now, aheadSeconds: clock.ahead, frozen: clock.isFrozen)
    }

    private func testClock() throws(DomainError) -> TestClock {
        guard let clock else { throw .notFound("test clock (start the server with --test-clock)") }
        return clock
    }

    @Sendable func advance(_ request: Request, context: AppRequestContext) async throws -> ClockResponse {
        try context.requireOperator()
        let clock = try testClock()
        let body = try await request.decodeJSON(AdvanceRequest.self, context: context)
        enum Move { case by(Double), to(Date) }
        let move: Move
        switch (body.seconds, body.days, body.to) {
        case (let value?, nil, nil): move = .by(value)
        case (nil, let days?, nil):
            guard days.isFinite, (0...(TestClock.maximumStep / 86_400)).contains(days) else {
                throw DomainError.invalid("days", "must be from 0 to \(Int(TestClock.maximumStep / 86_400))")
            }
            move = .by(days * 86_400)
        case (nil, nil, let text?):
            guard let micros = Timestamp.micros(rfc3339: text) else {
                throw DomainError.invalid("to", "must be an RFC 3339 time, such as 2030-01-01T09:00:00Z")
            }
            move = .to(Date(micros: micros))
        default: throw DomainError.invalid("seconds", "give one of seconds, days or to")
        }
        // The move and its passes take their turn with the background passes, so what fell due is
        // fired here, once, and counted in the answer.
        let (fired, delivered) = try await clock.passes.run { [timers, delivery] in
            switch move {
            case .by(let seconds): try clock.advance(by: seconds)
            case .to(let instant): try clock.advance(to: instant)
            }
            return (try await timers.fireDue(), try await delivery.deliverDue())
        }
        context.logger.notice("test clock moved", metadata: ["now": "\(clock.now)"])
        return ClockResponse(now: clock.now, aheadSeconds: clock.ahead, frozen: clock.isFrozen, timersFired: fired, messagesDelivered: delivered)
    }
}
