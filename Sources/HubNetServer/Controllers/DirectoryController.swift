import Hummingbird
import HubNetCore
import HubNetPostgres

/// The public directory of published listings across all hubs; no token needed.
struct DirectoryController {
    let database: Database
    let listings: PostgresListingRepository

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
        let results = try await database.withDirectory { connection in
            try await listings.search(query, on: connection)
        }
        return DirectoryResponse(items: results.map { DirectoryEntryResponse($0.0, hubName: $0.1) })
    }
}
