/// Lets one pass run at a time. Under the test clock, a move (`POST /v1/test-clock/advance`) and
/// the background timer and delivery passes take turns, so the move's own pass fires what fell due
/// and answers with its count, instead of racing a background pass for the same rows.
public actor PassGate {
    private var busy = false
    private var waiting: [CheckedContinuation<Void, Never>] = []

    public init() {}

    /// Runs `body` once no other holder is inside.
    public func run<Result: Sendable>(_ body: @Sendable () async throws -> Result) async rethrows -> Result {
        if busy {
            await withCheckedContinuation { waiting.append($0) }
        } else {
            busy = true
        }
        defer {
            if waiting.isEmpty { busy = false } else { waiting.removeFirst().resume() }
        }
        return try await body()
    }
}
