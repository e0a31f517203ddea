import AsyncHTTPClient
import Foundation
import HubNetCore
import NIOCore

/// How the SDK reaches the server: one authenticated JSON request at a time.
public protocol SyncTransport: Sendable {
    /// Sends a request with the device token and returns the status and body.
    func send(_ method: String, _ path: String, body: Data?) async throws -> (status: Int, body: Data)
}

/// The transport over HTTP(S) with AsyncHTTPClient.
public struct HTTPSyncTransport: SyncTransport {
    public let baseURL: String
    public let deviceToken: String
    public let client: HTTPClient
    public let timeout: TimeAmount

    public init(baseURL: String, deviceToken: String, client: HTTPClient = .shared, timeout: TimeAmount = .seconds(60)) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.deviceToken = deviceToken
        self.client = client
        self.timeout = timeout
    }

    public func send(_ method: String, _ path: String, body: Data?) async throws -> (status: Int, body: Data) {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = .init(rawValue: method)
        request.headers.add(name: "Authorization", value: "Bearer \(deviceToken)")
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        let response = try await client.execute(request, timeout: timeout)
        let bytes = try await response.body.collect(upTo: 512 * 1024 * 1024)
        return (Int(response.status.code), Data(bytes.readableBytesView))
    }
}

/// A request the server refused, with its machine-readable code.
public struct SyncServerError: Error, Sendable, CustomStringConvertible {
    public var status: Int
    public var code: String?
    public var message: String?
    /// The whole error body, when it was one (`last_mutation_id`, `wipe`, `field`).
    public var envelope: ErrorEnvelope.Detail?
    /// `Retry-After`, in seconds, when the server said when to come back.
    public var retryAfter: Int?

    /// Worth retrying later: the server or the network failed, not the request.
    public var isTransient: Bool { status >= 500 || status == 429 }

    public var description: String { "HTTP \(status) \(code ?? ""): \(message ?? "")" }

    public init(status: Int, body: Data, retryAfter: Int? = nil) {
        self.status = status
        self.envelope = try? JSONDecoder().decode(ErrorEnvelope.self, from: body).error
        self.code = envelope?.code
        self.message = envelope?.message
        self.retryAfter = retryAfter
    }
}
