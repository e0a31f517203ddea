import Hummingbird
import HubNetCore
import HubNetPostgres

/// A hub's resource listings, and their HSDS import and export.
struct ListingController {
    let database: Database
    let listings: PostgresListingRepository
    let tenants: PostgresTenantRepository

    func addRoutes(to group: RouterGroup<AppRequestContext>) {
        group.post("listings", use: create)
        group.get("listings", use: list)
        group.post("listings/import", use: importHSDS)
        group.get("listings/export", use: exportHSDS)
        group.get("listings/{id}", use: get)
        group.patch("listings/{id}", use: update)
        group.delete("listings/{id}", use: delete)
    }

    @Sendable func create(_ request: Request, context: AppRequestContext) async throws -> Created<ListingResponse> {
        let actor = try context.requireUser()
        try TenantPolicy.requireListingOwner(actor.tenantKind)
        try TenantPolicy.require(actor, .manageListings)
        let body = try await request.decodeJSON(CreateListingRequest.self, context: context)
        let listing = try await database.withTenant(actor.tenantID) { transaction in
            try await listings.create(body.draft, in: transaction)
        }
        return Created(body: ListingResponse(listing))
    }

    @Sendable func list(_ request: Request, context: AppRequestContext) async throws -> PageResponse<ListingResponse> {
        let actor = try context.requireUser()
        try TenantPolicy.require(actor, .readListings)
        let page = try request.pageRequest()
        let result = try await database.withTenant(actor.tenantID) { transaction in
            try await listings.list(page: page, in: transaction)
        }
        return PageResponse(result, ListingResponse.init)
    }

    @Sendable func get(_ request: Request, context: AppRequestContext) async throws -> ListingResponse {
        let actor = try context.requireUser()
        try TenantPolicy.require(actor, .readListings)
        let id = try context.id("id", of: Listing.self, "listing")
        guard let listing = try await database.withTenant(actor.tenantID, { transaction in
            try await listings.get(id, in: transaction)
        }) else { throw DomainError.notFound("listing") }
        return ListingResponse(listing)
    }

    @Sendable func update(_ request: Request, context: AppRequestContext) async throws -> ListingResponse {
        let actor = try context.requireUser()
        let id = try context.id("id", of: Listing.self, "listing")
        try TenantPolicy.require(actor, .manageListings)
        let body = try await request.decodeJSON(UpdateListingRequest.self, context: context)
        guard let listing = try await database.withTenant(actor.tenantID, { transaction in
            try await listings.update(id, expectedVersion: body.version, in: transaction) {
                body.apply(to: &$0)
            }
        }) else { throw DomainError.notFound("listing") }
        return ListingResponse(listing)
    }

    @Sendable func delete(_ request: Request, context: AppRequestContext) async throws -> NoContent {
        let actor = try context.requireUser()
        let id = try context.id("id", of: Listing.self, "listing")
        try TenantPolicy.require(actor, .manageListings)
        guard try await database.withTenant(actor.tenantID, { transaction in
            try await listings.delete(id, in: transaction)
        }) else { throw DomainError.notFound("listing") }
        return NoContent()
    }

    /// Creates one listing per HSDS service, all or none; `?dry_run=true` validates without storing.
    @Sendable func importHSDS(_ request: Request, context: AppRequestContext) async throws -> Created<ImportResponse> {
        let actor = try context.requireUser()
        try TenantPolicy.requireListingOwner(actor.tenantKind)
        try TenantPolicy.require(actor, .manageListings)
        let dryRun = try request.boolQuery("dry_run") ?? false
        let document = try await request.decodeJSON(HSDS.Document.self, context: context)
        guard document.services.count <= HSDS.maximumImport else {
            throw DomainError.invalid("services", "must have at most \(HSDS.maximumImport) entries per import")
        }
        var drafts: [ListingDraft] = []
        for (index, service) in document.services.enumerated() { drafts.append(try HSDS.draft(service, index: index)) }
        if dryRun { return Created(body: ImportResponse(dryRun: true, imported: drafts.count, items: [])) }
        let created = try await database.withTenant(actor.tenantID) { transaction in
            var created: [Listing] = []
            for draft in drafts { created.append(try await listings.create(draft, in: transaction)) }
            return created
        }
        return Created(body: ImportResponse(dryRun: false, imported: created.count, items: created.map(ListingResponse.init)))
    }

    @Sendable func exportHSDS(_ request: Request, context: AppRequestContext) async throws -> HSDS.Document {
        let actor = try context.requireUser()
        try TenantPolicy.require(actor, .readListings)
        guard let tenant = try await tenants.get(actor.tenantID) else { throw DomainError.notFound("tenant") }
        let all = try await database.withTenant(actor.tenantID) { transaction in
            try await listings.all(in: transaction)
        }
        return HSDS.Document(services: all.map { HSDS.service($0, hubName: tenant.name) })
    }
}
