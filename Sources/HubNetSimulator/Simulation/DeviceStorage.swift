import Foundation
import HubNetSync

/// Where the simulated devices keep their stores: one SQLite file each in a directory of the run,
/// as a device keeps its store on its own storage. Kept in memory, what the devices hold grows with
/// the network's age and stays in the simulator's memory (a 30-day scale run peaked at 1.8 GB);
/// on files, the operating system caches them as it can. The files are scratch (not synced to
/// disk, a small page cache each) and the directory is removed when the run ends.
final class DeviceStorage: Sendable {
    let directory: URL

    init() {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("hubnet-simulate-\(UUID().uuidString)")
    }

    /// A new, empty store.
    func newStore() throws -> LocalStore {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let file = directory.appendingPathComponent("device-\(UUID().uuidString).sqlite")
        return try LocalStore(path: file.path, durable: false, cacheKiB: 256)
    }

    /// A new, empty store in place of `old`, whose file is deleted (a wiped or re-registered device).
    func replacing(_ old: LocalStore) throws -> LocalStore {
        let store = try newStore()
        let path = old.queue.path
        if path.hasPrefix(directory.path) { try? FileManager.default.removeItem(atPath: path) }
        return store
    }

    /// Removes every store's file (at the end of the run, once the checker has read them).
    func remove() {
        try? FileManager.default.removeItem(at: directory)
    }
}
