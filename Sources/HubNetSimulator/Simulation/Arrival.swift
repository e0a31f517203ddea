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
