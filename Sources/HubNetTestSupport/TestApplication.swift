import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import HubNetCore
import HubNetPostgres
import HubNetServer
import Logging
import NIOCore

/// A running HubNet application on its own fresh database, with fixtures and a JSON client.
public struct TestApplication: Sendable {
    public let client: any TestClientProtocol
    public let fixtures: Fixtures
    public let database: TestDatabase
    public static let operatorToken = "test-operator-token-0123456789abcdef"

    public init(client: any TestClientProtocol, fixtures: Fixtures, database: TestDatabase) {
        self.client = client
        self.fixtures = fixtures
        self.database = database
    }

    /// Sends a request with an optional bearer token and JSON body.
    @discardableResult
    public func request(
        _ method: HTTPRequest.Method, _ path: String, token: String? = nil, json: String? = nil,
        headers extra: HTTPFields = [:]
    ) async throws -> TestResponse {
        var headers = extra
        if let token { headers[.authorization] = "Bearer \(token)" }
        if json != nil && headers[.contentType] == nil { headers[.contentType] = "application/json" }
        return try await client.execute(
            uri: path, method: method, headers: headers, body: json.map { ByteBuffer(string: $0) })
    }
}

extension TestResponse {
    /// The body as a JSON object, or `nil`.
    public var json: [String: Any]? {
        (try? JSONSerialization.jsonObject(with: Data(buffer: body))) as? [String: Any]
    }

    /// The `error.code` of an error body.
    public var errorCode: String? { (json?["error"] as? [String: Any])?["code"] as? String }

    /// The `error.field` of an error body.
    public var errorField: String? { (json?["error"] as? [String: Any])?["field"] as? String }

    public var text: String { String(buffer: body) }
}

/// Runs `body` against a fresh database and a real `buildApplication`, through Hummingbird's
/// router test client; everything is dropped afterwards.
public func withTestApplication<Result: Sendable>(
    configure: @Sendable (inout ServerConfiguration) -> Void = { _ in },
    _ body: @escaping @Sendable (TestApplication) async throws -> Result
) async throws -> Result {
    try await withTestDatabase { database in
        var logger = Logger(label: "hubnet.test")
        logger.logLevel = ProcessInfo.processInfo.environment["LOG_LEVEL"].flatMap { Logger.Level(rawValue: $0) } ?? .warning
        var configuration = ServerConfiguration(operatorToken: TestApplication.operatorToken, databasePoolSize: 4)
        configure(&configuration)
        let app = try buildApplication(configuration: configuration, databaseURL: database.serverURL, logger: logger)
        return try await withPostgresClient(database.serverURL, logger: logger, maximumConnections: 2) { client in
            let fixtures = Fixtures(database: Database(client: client, logger: logger))
            return try await app.test(.router) { testClient in
                try await body(TestApplication(client: testClient, fixtures: fixtures, database: database))
            }
        }
    }
}
