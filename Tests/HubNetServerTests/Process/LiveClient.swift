import AsyncHTTPClient
import Foundation
import NIOCore

/// Requests to a served process over a real socket, each with a deadline: a request that gets no
/// answer in time is reported as unanswered, which the process tests count.
struct LiveClient: Sendable {
    let baseURL: String

    struct Answer: Sendable {
        var status: Int
        var body: Data
        var headers: [(String, String)]

        var json: [String: Any]? { (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] }
        var errorCode: String? { (json?["error"] as? [String: Any])?["code"] as? String }
        func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name.lowercased() }?.1 }
    }

    struct Unanswered: Error {}

    func send(
        _ method: String, _ path: String, token: String? = nil, json: String? = nil, headers: [String: String] = [:],
        timeout: TimeAmount = .seconds(20)
    ) async throws -> Answer {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = .init(rawValue: method)
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let json {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: json))
        }
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        do {
            let response = try await HTTPClient.shared.execute(request, timeout: timeout)
            let body = try await response.body.collect(upTo: 64 << 20)
            return Answer(
                status: Int(response.status.code), body: Data(body.readableBytesView), headers: response.headers.map { ($0.name, $0.value) })
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout {
            throw Unanswered()
        }
    }

    /// Waits until `/readyz` answers 200.
    func waitUntilReady(within seconds: Int = 60) async throws {
        for _ in 0..<(seconds * 10) {
            if let answer = try? await send("GET", "/readyz", timeout: .seconds(2)), answer.status == 200 { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw Unanswered()
    }
}
