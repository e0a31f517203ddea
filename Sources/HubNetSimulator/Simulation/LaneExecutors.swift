import NIOCore
import NIOPosix

/// An event loop as a task's preferred executor: the task's jobs, and those of the default actors
/// it calls (the SDK's `SyncClient`), run on that loop's thread.
///
/// Why: `simulate` runs Swift concurrency on NIO's event loops, whose global executor keeps a job
/// on the loop it was enqueued from. Tasks a lane group starts from one loop all stay on it, so
/// work that needs no socket (the people's decisions, reading their devices' SQLite stores) ran on
/// one core while the other sat idle (`--profile`: 45% idle). `Lanes` gives its lanes the group's
/// loops in turn.
final class EventLoopTaskExecutor: TaskExecutor {
    let loop: any EventLoop

    init(_ loop: any EventLoop) { self.loop = loop }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        loop.execute { job.runSynchronously(on: executor) }
    }

    /// One per loop of NIO's singleton group, when the caller runs on one of them (NIO is then the
    /// global executor); `nil` otherwise: Swift's own executor spreads tasks over its threads.
    static var forLanes: [EventLoopTaskExecutor]? {
        guard MultiThreadedEventLoopGroup.currentEventLoop != nil else { return nil }
        return forLanesOfSingletonGroup
    }

    /// One per loop of NIO's singleton group.
    static let forLanesOfSingletonGroup: [EventLoopTaskExecutor]? = MultiThreadedEventLoopGroup.singleton.makeIterator().map(
        EventLoopTaskExecutor.init)
}
