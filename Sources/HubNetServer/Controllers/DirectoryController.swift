import Foundation
import Hummingbird
import HubNetCore
import HubNetPostgres

/// The public directory of published listings across all hubs, with each hub's declared capacity;
/// no token needed.
struct DirectoryController {
    let database: Database
    let listings: PostgresListingRepository
    let distribution: PostgresDistributionRepository
    let now: @Sendable () -> Date

    func addRoutes(to group: RouterGroup<AppRequestContext>) {
        group.get("directory/listings", use: search)
    }

    @Sendable func search(_ request: Request, context: AppRequestContext) async throws -> DirectoryResponse {
        let parameters = request.uri.queryParameters
        var limit = 50
        if let text = parameters.get("limit") {
            guard let number = Int(String(text)) else { throw DomainError.invalid("limit", "must be a whole number") }
            limit = number
        }
        let query = try DirectoryQuery(
            serviceArea: parameters.get("service_area"), category: parameters.get("category"),
            acceptingReferrals: try request.boolQuery("accepting_referrals"), limit: limit)
        let now = now()
        let (results, loads) = try await database.withDirectory { connection in
            let results = try await listings.search(query, on: connection)
            let loads = try await distribution.loads(of: results.map(\.0.tenantID), kinds: [.hub], since: now, on: connection)
            return (results, loads)
        }
        return DirectoryResponse(items: results.map { DirectoryEntryResponse($0.0, hubName: $0.1, load: loads[$0.0.tenantID], now: now) })
    }
}
