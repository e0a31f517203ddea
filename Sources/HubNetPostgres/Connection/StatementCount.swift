import Synchronization

/// Counts the statements a task (and the tasks it starts) sends to PostgreSQL, and the time spent
/// waiting for their answers, when someone asks: the server counts per request and reports it in
/// `Server-Timing`, so a test can hold a write path to a number of statements that does not grow
/// with the size of its input, and a profile can tell the database's share of a request.
public final class StatementCount: Sendable {
    /// The counter of the current request, if it is counted.
    @TaskLocal public static var current: StatementCount?

    private let count = Atomic<Int>(0)
    private let nanoseconds = Atomic<Int64>(0)

    public init() {}

    public var value: Int { count.load(ordering: .relaxed) }

    /// The time statements of this task were waiting for PostgreSQL (overlapping ones counted each).
    public var elapsed: Duration { .nanoseconds(nanoseconds.load(ordering: .relaxed)) }

    /// Adds another counter's statements and time: a request reports those of the group its
    /// action was stored in.
    public func add(_ other: StatementCount) {
        count.add(other.value, ordering: .relaxed)
        nanoseconds.add(other.nanoseconds.load(ordering: .relaxed), ordering: .relaxed)
    }

    func increment() { count.add(1, ordering: .relaxed) }

    func add(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        nanoseconds.add(seconds &* 1_000_000_000 &+ attoseconds / 1_000_000_000, ordering: .relaxed)
    }
}
