import Foundation
import HTTPTypes
import HubNetCore
import HubNetTestSupport
import HummingbirdTesting
import Testing

/// A device speaking the sync protocol over the test client, with typed answers.
struct SyncTestDevice {
    let app: TestApplication
    let token: String

    /// Push answers use the API's key strategy; pull and snapshot answers name their keys.
    static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return decoder
    }()
    static let recordDecoder = JSONDecoder()
    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        return encoder
    }()

    static func register(_ app: TestApplication, as user: UserFixture, name: String = "Tablet") async throws -> SyncTestDevice {
        let response = try await app.request(.post, "/v1/devices", token: user.token, json: #"{"name":"\#(name)"}"#)
        return SyncTestDevice(app: app, token: try #require(response.json?["token"] as? String, "\(response.text)"))
    }

    /// The raw answer to a push.
    func pushRaw(_ mutations: [Mutation]) async throws -> TestResponse {
        let body = String(decoding: try Self.encoder.encode(PushRequest(mutations: mutations)), as: UTF8.self)
        return try await app.request(.post, "/v1/sync/push", token: token, json: body)
    }

    func push(_ mutations: [Mutation]) async throws -> PushResponse {
        let response = try await pushRaw(mutations)
        #expect(response.status == .ok, "\(response.text)")
        return try Self.recordDecoder.decode(PushResponse.self, from: Data(buffer: response.body))
    }

    func pull(_ cursor: String, limit: Int = 1_000) async throws -> PullResponse {
        let escaped = cursor.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(.init(charactersIn: ".-"))) ?? cursor
        let response = try await app.request(.get, "/v1/sync/pull?cursor=\(escaped)&limit=\(limit)", token: token)
        #expect(response.status == .ok, "\(response.text)")
        return try Self.recordDecoder.decode(PullResponse.self, from: Data(buffer: response.body))
    }

    /// Pulls until caught up; the changes in order and the final cursor (nil and the reason on a reset).
    func pullAll(_ cursor: String, limit: Int = 1_000) async throws -> (cursor: String?, reset: SyncResetReason?, changes: [SyncChange]) {
        var cursor = cursor
        var changes: [SyncChange] = []
        while true {
            let page = try await pull(cursor, limit: limit)
            if let reset = page.reset { return (nil, reset, changes) }
            changes += page.changes
            cursor = try #require(page.cursor)
            if !page.hasMore { return (cursor, nil, changes) }
        }
    }

    /// Every page of a snapshot: the records and the cursor to pull from afterwards.
    func snapshot(limit: Int = 1_000) async throws -> (cursor: String, changes: [SyncChange], lastMutationId: Int64) {
        var page: String? = nil
        var changes: [SyncChange] = []
        while true {
            let query = page.map { "&page=\($0.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? $0)" } ?? ""
            let response = try await app.request(.get, "/v1/sync/snapshot?limit=\(limit)\(query)", token: token)
            #expect(response.status == .ok, "\(response.text)")
            let answer = try Self.recordDecoder.decode(SnapshotResponse.self, from: Data(buffer: response.body))
            changes += answer.changes
            guard let next = answer.next else { return (answer.cursor, changes, answer.lastMutationId) }
            page = next
        }
    }
}

extension Array where Element == SyncChange {
    /// Ids of the records with this entity and operation.
    func ids(_ entity: SyncEntity, _ op: SyncOperation = .upsert) -> [UUID] {
        filter { $0.entity == entity && $0.op == op }.map(\.id)
    }
}

/// Helpers for leads over HTTP.
extension TestApplication {
    func createLead(token: String, name: String = "Rosa Diaz", extra: String = "") async throws -> Lead.ID {
        let response = try await request(
            .post, "/v1/leads", token: token, json: #"{"contact":{"name":"\#(name)","email":"lead@example.test","city":"Oakland"}\#(extra)}"#)
        #expect(response.status == .created, "\(response.text)")
        let text = try #require(response.json?["id"] as? String)
        return try #require(Lead.ID(string: text))
    }
}
