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

@Suite("Sync live channel over HTTP")
struct SyncLiveHTTPTests {
    @Test("GET /v1/sync/live streams a poke when the device's tenant changes, and ends after its heartbeats")
    func serverSentEvents() async throws {
        try await withTestApplication(configure: { $0.liveHeartbeat = .milliseconds(150) }) { app in
            let hub = try await app.fixtures.tenant(.hub, users: [[.moderator]])
            let device = try await SyncTestDevice.register(app, as: hub.users[0])
            let ended = Flag()
            let stream = Task {
                let response = try await app.request(.get, "/v1/sync/live", token: device.token)
                await ended.set()
                return response
            }
            // Write until the stream ends (20 heartbeats), so a slow machine still has writes while
            // the stream is subscribed and the listener hears them.
            var attempt = 0
            while !(await ended.isSet), attempt < 100 {
                try await Task.sleep(for: .milliseconds(200))
                _ = try await app.createLead(token: hub.users[0].token, name: "Live \(attempt)")
                attempt += 1
            }
            let response = try await stream.value
            #expect(response.status == .ok)
            #expect(response.headers[.contentType] == "text/event-stream")
            #expect(response.text.hasPrefix(": connected"))
            #expect(response.text.contains("event: poke"))
            #expect(response.text.contains(": heartbeat"))
            #expect(try await app.request(.get, "/v1/sync/live", token: hub.users[0].token).errorCode == "device_token_required")
        }
    }
}
