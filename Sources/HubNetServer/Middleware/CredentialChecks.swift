import Foundation
import HubNetCore
import HubNetPostgres
import Logging

/// The credentials of requests that arrive at the same moment, checked in one statement.
///
/// Every API and sync request starts with its credential's check, one statement of its own, the
/// largest one a grouped lead action still paid for alone. This batches them as `LeadActionGroups`
/// batches actions: while a check is running the credentials arriving queue, and the next check
/// takes them all (`hubnet_authenticate_api_tokens`, `hubnet_authenticate_devices`). A request
/// alone waits for nothing. What each request learns is what its credential would answer alone:
/// its user, `nil` (unknown, revoked), or its refusal (a deactivated user, a revoked device); when
/// a batch's statement fails, each of its credentials is checked again on its own, side by side.
///
/// At most `maximumRunning` checks of each kind of credential run at once, of at most
/// `maximumBatch` credentials.
actor CredentialChecks {
    typealias Answer = Result<AuthenticatedUser?, any Error>

    fileprivate enum Turn: Sendable {
        case answered(Answer)
        case lead([Pending])
    }

    fileprivate struct Pending: Sendable {
        var token: BearerToken
        var turn: CheckedContinuation<Turn, Never>
        /// The counter of the request that queued it: a batch's statement is reported to each of its requests.
        var statements: StatementCount?
    }

    private struct Queue {
        var waiting: [Pending] = []
        var running = 0
    }

    private let checker: Checker
    nonisolated let maximumBatch: Int
    nonisolated let maximumRunning: Int
    private var queues: [BearerToken.Kind: Queue] = [:]
    /// Credentials checked in a batch of more than one, and the largest batch (for tests).
    private(set) var checkedTogether = 0
    private(set) var largestBatch = 0

    init(
        database: Database, tokens: PostgresAPITokenRepository, devices: PostgresDeviceRepository, now: @escaping @Sendable () -> Date,
        maximumBatch: Int = 64, maximumRunning: Int = 2
    ) {
        checker = Checker(database: database, tokens: tokens, devices: devices, now: now)
        self.maximumBatch = max(1, maximumBatch)
        self.maximumRunning = max(1, maximumRunning)
    }

    /// The user `token` stands for, `nil` when it stands for nobody, or its refusal.
    nonisolated func check(_ token: BearerToken) async throws -> AuthenticatedUser? {
        // A console cookie or sign-in link is not an API credential.
        guard token.kind == .user || token.kind == .device else { return nil }
        if maximumBatch == 1 { return try await checker.alone(token).get() }
        switch await queue(token) {
        case .answered(let answer):
            return try answer.get()
        case .lead(let batch) where batch.count == 1:
            // Alone: checked in this request's own task, with nobody else's answer to hand out.
            let answer = await checker.alone(token)
            await finished(batch)
            return try answer.get()
        case .lead(let batch):
            // In a task of its own, so that this request's client going away does not fail the others.
            let checker = checker
            let answer = await Task.detached { await checker.run(batch) }.value
            await finished(batch)
            return try answer.get()
        }
    }

    /// Credentials waiting for a check, and checks running, of one kind (for tests).
    func waiting(_ kind: BearerToken.Kind) -> Int { queues[kind]?.waiting.count ?? 0 }
    func running(_ kind: BearerToken.Kind) -> Int { queues[kind]?.running ?? 0 }

    private func queue(_ token: BearerToken) async -> Turn {
        await withCheckedContinuation { turn in
            queues[token.kind, default: Queue()].waiting.append(Pending(token: token, turn: turn, statements: StatementCount.current))
            start(token.kind)
        }
    }

    private func finished(_ batch: [Pending]) {
        let kind = batch[0].token.kind
        queues[kind]?.running -= 1
        start(kind)
    }

    /// Starts checks while the kind has room for one and credentials waiting, oldest first; the
    /// first of a batch leads it.
    private func start(_ kind: BearerToken.Kind) {
        guard var queue = queues[kind] else { return }
        defer { queues[kind] = queue.waiting.isEmpty && queue.running == 0 ? nil : queue }
        while queue.running < maximumRunning, !queue.waiting.isEmpty {
            let batch = Array(queue.waiting.prefix(maximumBatch))
            queue.waiting.removeFirst(batch.count)
            queue.running += 1
            if batch.count > 1 {
                checkedTogether += batch.count
                largestBatch = max(largestBatch, batch.count)
            }
            batch[0].turn.resume(returning: .lead(batch))
        }
    }

    /// Checks a batch and answers its members but the first (whose answer it returns).
    private struct Checker: Sendable {
        let database: Database
        let tokens: PostgresAPITokenRepository
        let devices: PostgresDeviceRepository
        let now: @Sendable () -> Date

        func run(_ batch: [Pending]) async -> Answer {
            let counted = StatementCount()
            var answers = await StatementCount.$current.withValue(counted) { await together(batch.map(\.token)) }
            for pending in batch { pending.statements?.add(counted) }
            if answers == nil {
                // The batch's statement failed: each credential on its own, side by side.
                answers = await withTaskGroup(of: (Int, Answer).self) { group in
                    for (index, pending) in batch.enumerated() {
                        group.addTask {
                            let counted = StatementCount()
                            let answer = await StatementCount.$current.withValue(counted) { await alone(pending.token) }
                            pending.statements?.add(counted)
                            return (index, answer)
                        }
                    }
                    var answers: [Answer] = Array(repeating: .success(nil), count: batch.count)
                    for await (index, answer) in group { answers[index] = answer }
                    return answers
                }
            }
            let results = answers ?? []
            for (pending, answer) in zip(batch, results).dropFirst() { pending.turn.resume(returning: .answered(answer)) }
            return results.first ?? .success(nil)
        }

        /// One statement for the batch: each credential's answer, or `nil` when the statement failed.
        private func together(_ batch: [BearerToken]) async -> [Answer]? {
            guard batch.count > 1 else { return nil }
            let now = now()
            let lockTimeout = database.limits.statementTimeout
            do {
                return try await database.withSingleStatement { connection in
                    switch batch[0].kind {
                    case .user: try await tokens.authenticateMany(batch, now: now, lockTimeout: lockTimeout, on: connection)
                    case .device: try await devices.authenticateMany(batch, now: now, lockTimeout: lockTimeout, on: connection)
                    case .session, .signInLink: batch.map { _ in .success(nil) }
                    }
                }
            } catch {
                database.logger.debug(
                    "a batch of credential checks failed; each is checked on its own",
                    metadata: ["credentials": "\(batch.count)", "error": "\(String(reflecting: error))"])
                return nil
            }
        }

        /// One credential in one statement, as before batches.
        func alone(_ token: BearerToken) async -> Answer {
            await Result {
                let now = now()
                let lockTimeout = database.limits.statementTimeout
                return try await database.withSingleStatement { connection in
                    switch token.kind {
                    case .user: try await tokens.authenticate(token, now: now, lockTimeout: lockTimeout, on: connection)
                    case .device: try await devices.authenticate(token, now: now, lockTimeout: lockTimeout, on: connection)
                    case .session, .signInLink: nil
                    }
                }
            }
        }
    }
}

extension Result where Failure == any Error {
    /// The result of an asynchronous throwing body.
    init(catching body: () async throws -> Success) async {
        do { self = .success(try await body()) } catch { self = .failure(error) }
    }
}
