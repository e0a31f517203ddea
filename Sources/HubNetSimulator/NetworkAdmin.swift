import AsyncHTTPClient
import Foundation
import HubNetCore
import HubNetSync
import NIOCore

/// Provisions a network over the HTTP API, as an operator and as tenant admins would.
public struct NetworkAdmin: Sendable {
    public let server: LocalServer

    public init(server: LocalServer) { self.server = server }

    public struct ProvisionedTenant: Sendable {
        public var id: Tenant.ID
        public var adminID: User.ID
        public var adminToken: String
    }

    public struct HTTPFailure: Error, CustomStringConvertible {
        public var status: Int
        public var body: String
        public var description: String { "HTTP \(status): \(body)" }
    }

    /// One JSON request; throws unless the status is 2xx.
    @discardableResult
    public func request(_ method: String, _ path: String, token: String?, json: String? = nil) async throws -> [String: Any] {
        var request = HTTPClientRequest(url: server.baseURL + path)
        request.method = .init(rawValue: method)
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let json {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: json))
        }
        let response = try await server.http.execute(request, timeout: .seconds(120))
        let body = try await response.body.collect(upTo: 64 * 1024 * 1024)
        let data = Data(body.readableBytesView)
        guard (200..<300).contains(Int(response.status.code)) else {
            throw HTTPFailure(status: Int(response.status.code), body: String(decoding: data, as: UTF8.self))
        }
        if data.isEmpty { return [:] }
        return (try JSONSerialization.jsonObject(with: data) as? [String: Any]) ?? [:]
    }

    public func createTenant(_ kind: Tenant.Kind, name: String, slug: String) async throws -> ProvisionedTenant {
        let answer = try await request(
            "POST", "/v1/tenants", token: server.operatorToken,
            json: json(["kind": kind.rawValue, "name": name, "slug": slug, "admin": ["email": "admin@\(slug).test", "display_name": "Admin of \(name)"]]))
        guard let tenant = (answer["tenant"] as? [String: Any])?["id"] as? String, let admin = (answer["admin"] as? [String: Any])?["id"] as? String,
            let token = answer["admin_token"] as? String, let tenantID = Tenant.ID(string: tenant), let adminID = User.ID(string: admin)
        else { throw HTTPFailure(status: 200, body: "unexpected tenant answer") }
        return ProvisionedTenant(id: tenantID, adminID: adminID, adminToken: token)
    }

    /// A user with roles and an API token.
    public func createUser(in tenant: ProvisionedTenant, email: String, name: String, roles: [Role]) async throws -> (User.ID, String) {
        let created = try await request(
            "POST", "/v1/users", token: tenant.adminToken,
            json: json(["email": email, "display_name": name, "roles": roles.map(\.rawValue)]))
        guard let text = created["id"] as? String, let id = User.ID(string: text) else { throw HTTPFailure(status: 201, body: "no user id") }
        let issued = try await request("POST", "/v1/users/\(id)/tokens", token: tenant.adminToken, json: json(["name": "simulation"]))
        guard let secret = issued["secret"] as? String else { throw HTTPFailure(status: 201, body: "no token") }
        return (id, secret)
    }

    /// A device of the user behind `token`, and its device token.
    public func registerDevice(token: String, name: String) async throws -> String {
        let registered = try await request("POST", "/v1/devices", token: token, json: json(["name": name]))
        guard let secret = registered["token"] as? String else { throw HTTPFailure(status: 201, body: "no device token") }
        return secret
    }

    public func transport(deviceToken: String) -> HTTPSyncTransport {
        HTTPSyncTransport(baseURL: server.baseURL, deviceToken: deviceToken, client: server.http)
    }

    func json(_ object: [String: Any]) throws -> String {
        String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
    }
}

enum HTTPClientRequestBuilder {
    static func make(url: String, token: String, contentType: String, body: String) -> HTTPClientRequest {
        var request = HTTPClientRequest(url: url)
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        request.headers.add(name: "Content-Type", value: contentType)
        request.body = .bytes(ByteBuffer(string: body))
        return request
    }
}
