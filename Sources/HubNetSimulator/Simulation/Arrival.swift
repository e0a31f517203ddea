import AsyncHTTPClient
import Foundation
import HubNetCore

/// One new lead (or one hub's CSV of them) as the simulation drew it, to be sent to the server.
enum Arrival: Sendable {
    /// A person fills a hub listing's public lead form.
    case leadForm(hub: Tenant.ID, listing: Listing.ID, body: String)
    /// A sourcing company's staff record a lead, then refer it to `partner` (or, without a
    /// partner, route it by the network's distribution rule).
    case sourced(company: Tenant.ID, token: String, body: String, partner: Tenant.ID?)
    /// A hub imports a CSV of leads.
    case imported(hub: Tenant.ID, path: String, token: String, csv: String)

    enum Outcome: Sendable { case done, routed, unroutable }

    /// The organisations whose records the arrival writes.
    var tenants: [Tenant.ID] {
        switch self {
        case .leadForm(let hub, _, _), .imported(let hub, _, _, _): [hub]
        case .sourced(let company, _, _, let partner): [company] + (partner.map { [$0] } ?? [])
        }
    }

    /// Sends the arrivals and returns their outcomes in the given order. Arrivals that share an
    /// organisation (directly, or through a chain of others) form one lane and go one after
    /// another in their order; lanes run at once, up to `concurrency`. What the server does with
    /// an arrival then never depends on how the lanes interleave.
    static func send(_ arrivals: [Arrival], concurrency: Int, by sender: ArrivalSender) async throws -> [Outcome] {
        let lanes = Self.lanes(arrivals.map(\.tenants))
        var outcomes = [Outcome](repeating: .done, count: arrivals.count)
        if concurrency <= 1 || lanes.count <= 1 {
            for (index, arrival) in arrivals.enumerated() { outcomes[index] = try await sender.send(arrival) }
            return outcomes
        }
        try await withThrowingTaskGroup(of: [(Int, Outcome)].self) { group in
            var next = lanes.makeIterator()
            func start(_ lane: [Int]) {
                let work = lane.map { ($0, arrivals[$0]) }
                group.addTask {
                    var done: [(Int, Outcome)] = []
                    for (index, arrival) in work { done.append((index, try await sender.send(arrival))) }
                    return done
                }
            }
            for _ in 0..<concurrency { if let lane = next.next() { start(lane) } }
            while let finished = try await group.next() {
                for (index, outcome) in finished { outcomes[index] = outcome }
                if let lane = next.next() { start(lane) }
            }
        }
        return outcomes
    }

    /// Groups item indices into lanes: two items sharing a key are in one lane (transitively);
    /// each lane keeps its items in order, and lanes are ordered by their first item.
    static func lanes(_ keys: [[Tenant.ID]]) -> [[Int]] {
        var parent = Array(keys.indices)
        func root(_ item: Int) -> Int {
            var item = item
            while parent[item] != item {
                parent[item] = parent[parent[item]]
                item = parent[item]
            }
            return item
        }
        var owner: [Tenant.ID: Int] = [:]
        for (index, tenants) in keys.enumerated() {
            for tenant in tenants {
                if let other = owner[tenant] {
                    let (a, b) = (root(other), root(index))
                    if a != b { parent[max(a, b)] = min(a, b) }
                } else {
                    owner[tenant] = index
                }
            }
        }
        var byRoot: [Int: [Int]] = [:]
        for index in keys.indices { byRoot[root(index), default: []].append(index) }
        return byRoot.values.sorted { $0[0] < $1[0] }
    }
}

/// Sends one arrival's requests as the organisation (or the public) would.
struct ArrivalSender: Sendable {
    let admin: NetworkAdmin
    let server: LocalServer

    func send(_ arrival: Arrival) async throws -> Arrival.Outcome {
        switch arrival {
        case .leadForm(_, let listing, let body):
            try await admin.request("POST", "/v1/public/listings/\(listing)/leads", token: nil, json: body)
            return .done
        case .sourced(_, let token, let body, let partner):
            let created = try await admin.request("POST", "/v1/leads", token: token, json: body)
            guard let id = created["id"] as? String else { return .done }
            guard let partner else {
                do {
                    try await admin.request("POST", "/v1/leads/\(id)/route", token: token)
                    return .routed
                } catch let failure as NetworkAdmin.HTTPFailure where failure.status == 409 {
                    return .unroutable
                }
            }
            try await admin.request("POST", "/v1/leads/\(id)/referrals", token: token, json: #"{"partner_id":"\#(partner)"}"#)
            return .done
        case .imported(_, let path, let token, let csv):
            var request = HTTPClientRequestBuilder.make(url: server.baseURL + path, token: token, contentType: "text/csv", body: csv)
            request.method = .POST
            let response = try await server.http.execute(request, timeout: .seconds(60))
            guard (200..<300).contains(Int(response.status.code)) else {
                let body = try await response.body.collect(upTo: 1 << 20)
                throw NetworkAdmin.HTTPFailure(status: Int(response.status.code), body: String(buffer: body))
            }
            return .done
        }
    }
}
