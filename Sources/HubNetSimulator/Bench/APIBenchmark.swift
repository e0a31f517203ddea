import AsyncHTTPClient
import Foundation
import HubNetCore
import HubNetPostgres
import Histogram
import NIOCore

/// `hubnet bench api`: latency of the HTTP API under concurrent clients, beside the server's own
/// floor measured in the same run (`GET /healthz`: routing, middleware and HTTP, no database).
/// Each client takes a lead action (`contact` on a new lead of its own) or lists leads, one request
/// after another; latencies are recorded in an HDR histogram (microsecond resolution).
public struct APIBenchmark: Sendable {
    public struct Options: Sendable {
        public var clients = 50
        public var requestsPerClient = 40
        public var leads = 20_000
        public init() {}
    }

    public struct Figure: Sendable, Codable {
        public var name: String
        public var requests: Int
        public var p50Milliseconds: Double
        public var p99Milliseconds: Double
        public var maxMilliseconds: Double
        public var requestsPerSecond: Double
        public var target: String
    }

    public let options: Options
    public init(options: Options) { self.options = options }

    public func run(on server: LocalServer, progress: @Sendable (String) -> Void) async throws -> [Figure] {
        let admin = NetworkAdmin(server: server)
        let hub = try await admin.createTenant(.hub, name: "Bench Hub", slug: "bench-api-\(UUID().uuidString.prefix(8).lowercased())")
        let (moderator, token) = try await admin.createUser(in: hub, email: "m@bench.test", name: "Moderator", roles: [.moderator])
        let actionLeads = options.clients * options.requestsPerClient
        progress("creating \(max(options.leads, actionLeads)) leads")
        let leads = try await SyncBenchmark.createLeads(on: server, tenant: hub.id, by: moderator, count: max(options.leads, actionLeads))

        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = options.clients + 4
        let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        do {
            let figures = try await measureAll(http: http, base: server.baseURL, token: token, leads: leads, progress: progress)
            try await http.shutdown()
            return figures
        } catch {
            try? await http.shutdown()
            throw error
        }
    }

    private func measureAll(http: HTTPClient, base: String, token: String, leads: [Lead.ID], progress: @Sendable (String) -> Void)
        async throws -> [Figure]
    {

        func measure(_ name: String, target: String, _ request: @escaping @Sendable (Int, Int) -> HTTPClientRequest) async throws -> Figure {
            progress("\(name): \(options.clients) clients × \(options.requestsPerClient) requests")
            let start = ContinuousClock.now
            let histogram = try await withThrowingTaskGroup(of: Histogram<UInt64>.self) { group in
                for client in 0..<options.clients {
                    group.addTask {
                        var histogram = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
                        for index in 0..<options.requestsPerClient {
                            let sent = ContinuousClock.now
                            let response = try await http.execute(request(client, index), timeout: .seconds(60))
                            _ = try await response.body.collect(upTo: 16 << 20)
                            let elapsed = ContinuousClock.now - sent
                            guard (200..<300).contains(Int(response.status.code)) else {
                                throw NetworkAdmin.HTTPFailure(status: Int(response.status.code), body: "\(name) answered \(response.status.code)")
                            }
                            _ = histogram.record(UInt64(max(0, elapsed.microseconds)))
                        }
                        return histogram
                    }
                }
                var all = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
                for try await part in group { all.add(part) }
                return all
            }
            let seconds = (ContinuousClock.now - start).seconds
            let total = options.clients * options.requestsPerClient
            return Figure(
                name: name, requests: total, p50Milliseconds: Double(histogram.valueAtPercentile(50)) / 1_000,
                p99Milliseconds: Double(histogram.valueAtPercentile(99)) / 1_000, maxMilliseconds: Double(histogram.maxRecorded) / 1_000,
                requestsPerSecond: Double(total) / seconds, target: target)
        }

        let requestsPerClient = options.requestsPerClient
        let floor = try await measure("GET /healthz (the floor)", target: "reference") { _, _ in
            HTTPClientRequest(url: base + "/healthz")
        }
        let action = try await measure("POST /v1/leads/{id}/actions/contact", target: "p99 ≤ 20 ms") { client, index in
            var request = HTTPClientRequest(url: base + "/v1/leads/\(leads[client * requestsPerClient + index])/actions/contact")
            request.method = .POST
            request.headers.add(name: "Authorization", value: "Bearer \(token)")
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: "{}"))
            return request
        }
        let list = try await measure("GET /v1/leads?limit=50", target: "reference for the action") { _, _ in
            var request = HTTPClientRequest(url: base + "/v1/leads?limit=50")
            request.headers.add(name: "Authorization", value: "Bearer \(token)")
            return request
        }
        return [floor, action, list]
    }

    /// The figures as a table.
    public static func table(_ figures: [Figure]) -> String {
        var lines = ["                                       requests   p50 ms   p99 ms   max ms    req/s   target"]
        for figure in figures {
            lines.append(
                figure.name.padding(toLength: 38, withPad: " ", startingAt: 0) + " " + SyncBenchmark.pad("\(figure.requests)", 9) + " "
                    + SyncBenchmark.pad(String(format: "%.2f", figure.p50Milliseconds), 8) + " "
                    + SyncBenchmark.pad(String(format: "%.2f", figure.p99Milliseconds), 8) + " "
                    + SyncBenchmark.pad(String(format: "%.2f", figure.maxMilliseconds), 8) + " "
                    + SyncBenchmark.pad(format(figure.requestsPerSecond), 8) + "   " + figure.target)
        }
        return lines.joined(separator: "\n")
    }
}

extension Duration {
    var microseconds: Int64 { components.seconds * 1_000_000 + components.attoseconds / 1_000_000_000_000 }
}
