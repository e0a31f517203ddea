import Logging

extension Logger {
    /// This logger for a `PostgresClient`'s background work, without the one warning PostgresNIO
    /// logs when a connection is leased before the pool's `run()` has begun.
    ///
    /// A one-shot command (`withPostgresClient`) and the server's start-up checks lease right after
    /// starting the pool's task; the lease then waits for the pool, which is what they want, but the
    /// warning would be printed by every `hubnet migrate`. Whether the pool's task has begun cannot
    /// be observed from outside, so waiting for it first only made the warning rarer; this drops
    /// that message and passes every other one on.
    public var forPool: Logger {
        var logger = self
        logger.handler = LeaseBeforeRunFilter(inner: handler)
        return logger
    }
}

/// Passes every log event to `inner` but PostgresNIO's warning of a lease before `run()`.
struct LeaseBeforeRunFilter: LogHandler {
    var inner: any LogHandler

    static let dropped = "Trying to lease connection from `PostgresClient`, but `PostgresClient.run()` hasn't been called yet."

    func log(event: LogEvent) {
        if event.level == .warning, event.message.description == Self.dropped { return }
        inner.log(event: event)
    }

    var logLevel: Logger.Level {
        get { inner.logLevel }
        set { inner.logLevel = newValue }
    }

    var metadata: Logger.Metadata {
        get { inner.metadata }
        set { inner.metadata = newValue }
    }

    var metadataProvider: Logger.MetadataProvider? {
        get { inner.metadataProvider }
        set { inner.metadataProvider = newValue }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { inner[metadataKey: key] }
        set { inner[metadataKey: key] = newValue }
    }
}
