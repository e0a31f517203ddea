import Foundation
import HubNetCore
import HubNetCore
import HubNetPostgres
@testable import HubNetServer
import HubNetTestSupport
import Logging
import Prometheus
import Testing

@Suite("Operations endpoints and the API description")
struct OperationsTests {
    @Test("health, readiness and metrics answer, and metrics count requests per route")
    func operations() async throws {
        try await withTestApplication { app in
            #expect(try await app.request(.get, "/healthz").json?["status"] as? String == "ok")
            #expect(try await app.request(.get, "/readyz").json?["status"] as? String == "ready")
            _ = try await app.request(.get, "/v1/directory/listings")
            let metrics = try await app.request(.get, "/metrics").text
            #expect(metrics.contains(#"hubnet_http_requests_total{method="GET",route="/v1/directory/listings",status="200"} 1"#))
        }
    }

    @Test("every route the server answers is described in the OpenAPI document")
    func openAPICoversRoutes() throws {
        let document = try #require(try JSONSerialization.jsonObject(with: OpenAPIDocument.data()) as? [String: Any])
        #expect(document["openapi"] as? String == "3.1.0")
        let paths = try #require(document["paths"] as? [String: [String: Any]])
        let url = try DatabaseURL("postgres://nobody@127.0.0.1:1/none")
        let database = Database(
            client: .init(configuration: try url.clientConfiguration(), backgroundLogger: Logger(label: "test")),
            logger: Logger(label: "test"))
        let router = try buildRouter(configuration: ServerConfiguration(host: "127.0.0.1"), database: database, registry: PrometheusCollectorRegistry())
        var missing: [String] = []
        var console: Set<String> = []
        for route in router.routes {
            let path = "\(route.path)".hasPrefix("/") ? "\(route.path)" : "/\(route.path)"
            // The web console's pages are HTML for people, listed in one place; everything else is API.
            if ConsoleController.routes.contains("\(route.method) \(path)") {
                console.insert("\(route.method) \(path)")
                continue
            }
            if paths[path]?[route.method.rawValue.lowercased()] == nil { missing.append("\(route.method) \(path)") }
        }
        #expect(router.routes.count >= 25)
        #expect(missing.isEmpty, "undocumented: \(missing)")
        #expect(console == ConsoleController.routes, "the console's list names routes that do not exist")
        #expect(!paths.keys.contains { ConsoleController.routes.contains("GET \($0)") }, "a console page is not an API path")
    }

    @Test("every cursor parameter in the document has the exact pattern the server parses")
    func cursorPatterns() throws {
        let document = try #require(try JSONSerialization.jsonObject(with: OpenAPIDocument.data()) as? [String: Any])
        let paths = try #require(document["paths"] as? [String: [String: Any]])
        var seen: [String: String] = [:]
        for (path, operations) in paths {
            for (method, operation) in operations {
                for parameter in (operation as? [String: Any])?["parameters"] as? [[String: Any]] ?? [] where parameter["name"] as? String == "cursor" {
                    seen["\(method) \(path)"] = (parameter["schema"] as? [String: Any])?["pattern"] as? String ?? "none"
                }
            }
        }
        #expect(seen.count >= 9)
        for (operation, pattern) in seen {
            #expect(pattern == (operation.hasSuffix("/v1/sync/pull") ? SyncCursor.pattern : PageCursor.pattern), "\(operation)")
        }
        // The pattern and the parser agree on what a server mints and on what it refuses.
        let minted = PageCursor(createdAt: Date(timeIntervalSince1970: 1_777_636_800), id: UUID()).token
        #expect(minted.wholeMatch(of: try Regex(String(PageCursor.pattern.dropFirst().dropLast()))) != nil)
        #expect((try? PageCursor(token: minted)) != nil)
        let sync = SyncCursor(epoch: UUID(), seq: 42).description
        #expect(sync.wholeMatch(of: try Regex(String(SyncCursor.pattern.dropFirst().dropLast()))) != nil)
        #expect(SyncCursor(sync) != nil)
    }

    @Test("the served document is the one in the repository")
    func servedDocument() async throws {
        try await withTestApplication { app in
            let served = try await app.request(.get, "/openapi.json")
            #expect(Data(buffer: served.body) == (try OpenAPIDocument.data()))
        }
    }

    @Test("the server refuses to start on a database with pending migrations")
    func refusesPendingMigrations() async throws {
        try await withTestDatabase { database in
            let logger = Logger(label: "test")
            let fresh = "hubnet_test_bare_\(UUID().uuidString.prefix(8).lowercased())"
            try await withPostgresClient(database.ownerURL, logger: logger) { client in
                try await client.query("CREATE DATABASE \(unescaped: fresh)", logger: logger)
            }
            do {
                try await withPostgresClient(database.ownerURL.with(database: fresh), logger: logger) { client in
                    await #expect { try await verifyDatabase(client: client, logger: logger) } throws: {
                        "\($0)".contains("hubnet migrate")
                    }
                }
            }
            try await withPostgresClient(database.ownerURL, logger: logger) { client in
                try await client.query("DROP DATABASE \(unescaped: fresh) WITH (FORCE)", logger: logger)
            }
        }
    }
}
