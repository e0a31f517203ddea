import Foundation
import HubNetCore
import HubNetPostgres
@testable import HubNetServer
import HubNetTestSupport
import Logging
import PostgresNIO
import ServiceLifecycle
import Testing

@Suite("Sync live channel")
struct SyncLiveTests {
    @Test("a device's tenant is poked when another server process commits a change; other tenants are not")
    func pokesAcrossProcesses() async throws {
        try await withTestApplication { app in
            let hub = try await app.fixtures.tenant(.hub, users: [[.moderator]])
            let other = try await app.fixtures.tenant(.hub, users: [[.moderator]])
            let logger = Logger(label: "test")
            // This "process": its own pool and listener. The write goes through the test
            // application's pool, as another server process would.
            try await withPostgresClient(app.database.serverURL, logger: logger) { client in
                let notifier = SyncNotifier()
                let listener = Task { try await SyncListener(client: client, notifier: notifier, logger: logger).run() }
                defer { listener.cancel() }
                let mine = notifier.subscribe(hub.tenant.id)
                let theirs = notifier.subscribe(other.tenant.id)
                // The listener is up once a poke written now arrives; write until one does (bounded).
                let poked = try await withThrowingTaskGroup(of: Bool.self) { group in
                    group.addTask {
                        for await _ in mine { return true }
                        return false
                    }
                    group.addTask {
                        for attempt in 0..<20 {
                            _ = try await app.createLead(token: hub.users[0].token, name: "Poke \(attempt)")
                            try await Task.sleep(for: .milliseconds(250))
                        }
                        return false
                    }
                    let first = try await group.next() ?? false
                    group.cancelAll()
                    return first
                }
                #expect(poked)
                // The other tenant heard nothing: its stream has no poke waiting.
                let heard = try await withThrowingTaskGroup(of: Bool.self) { group in
                    group.addTask {
                        for await _ in theirs { return true }
                        return false
                    }
                    group.addTask {
                        try await Task.sleep(for: .milliseconds(300))
                        return false
                    }
                    let first = try await group.next() ?? false
                    group.cancelAll()
                    return first
                }
                #expect(!heard)
            }
        }
    }
}
