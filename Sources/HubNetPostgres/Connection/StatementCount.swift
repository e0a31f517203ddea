import Synchronization

/// Counts the statements a task (and the tasks it starts) sends to PostgreSQL, when someone asks:
/// the server counts per request and reports it in `Server-Timing`, so a test can hold a write path
/// to a number of statements that does not grow with the size of its input.
public final class StatementCount: Sendable {
    /// The counter of the current request, if it is counted.
    @TaskLocal public static var current: StatementCount?

    private let count = Atomic<Int>(0)

    public init() {}

    public var value: Int { count.load(ordering: .relaxed) }

    func increment() { count.add(1, ordering: .relaxed) }
}
