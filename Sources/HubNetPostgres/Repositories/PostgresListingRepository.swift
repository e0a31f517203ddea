import Foundation
import HubNetCore
import Logging
import PostgresNIO

/// Resource listings of hubs, and the public directory over all of them.
public struct PostgresListingRepository: Sendable {
    public let logger: Logger

    public init(logger: Logger) { self.logger = logger }

    static let columns = """
        id, tenant_id, name, description, services, service_areas, categories, eligibility,
        contact_name, contact_email, contact_phone, contact_url, accepting_referrals, published,
        version, created_at, updated_at
        """

    public func create(_ draft: ListingDraft, in transaction: TenantTransaction) async throws -> Listing {
        let draft = try draft.validated()
        let rows = try await transaction.connection.rows(
            """
            INSERT INTO listings (tenant_id, id, name, description, services, service_areas, categories, eligibility,
                contact_name, contact_email, contact_phone, contact_url, accepting_referrals, published)
            VALUES (\(transaction.tenant), \(Listing.ID()), \(draft.name), \(draft.description), \(draft.services),
                \(draft.serviceAreas), \(draft.categories), \(draft.eligibility), \(draft.contact.name),
                \(draft.contact.email), \(draft.contact.phone), \(draft.contact.url), \(draft.acceptingReferrals),
                \(draft.published))
            RETURNING \(unescaped: Self.columns)
            """, logger: logger)
        guard let listing = try await Self.listings(rows).first else { throw DomainError.notFound("listing") }
        return listing
    }

    public func get(_ id: Listing.ID, lock: Bool = false, in transaction: TenantTransaction)
        async throws -> Listing?
    {
        // The lock clause is one of two constants.
        try await Self.listings(
            transaction.connection.rows(
                """
                SELECT \(unescaped: Self.columns) FROM listings WHERE tenant_id = \(transaction.tenant) AND id = \(id)
                \(unescaped: lock ? "FOR UPDATE" : "")
                """, logger: logger)
        ).first
    }

    public func list(page: PageRequest, in transaction: TenantTransaction) async throws -> Page<Listing> {
        let after = page.after ?? .start
        let rows = try await Self.listings(
            transaction.connection.rows(
                """
                SELECT \(unescaped: Self.columns) FROM listings
                WHERE tenant_id = \(transaction.tenant) AND (created_at, id) > (hubnet_from_micros(\(after.microseconds)), \(after.id))
                ORDER BY created_at, id LIMIT \(page.limit + 1)
                """, logger: logger))
        return Page(rows: rows, limit: page.limit) { PageCursor(createdAt: $0.createdAt, id: $0.id.rawValue) }
    }

    /// Every listing of the tenant, for an export.
    public func all(in transaction: TenantTransaction) async throws -> [Listing] {
        try await Self.listings(
            transaction.connection.rows(
                "SELECT \(unescaped: Self.columns) FROM listings WHERE tenant_id = \(transaction.tenant) ORDER BY created_at, id",
                logger: logger))
    }

    /// Applies `change` to the current listing under a row lock and stores the result.
    /// - Parameter expectedVersion: refuse with `version_conflict` unless the listing is at this version.
    public func update(
        _ id: Listing.ID, expectedVersion: Int?, in transaction: TenantTransaction,
        change: (inout ListingDraft) -> Void
    ) async throws -> Listing? {
        guard let current = try await get(id, lock: true, in: transaction) else { return nil }
        if let expectedVersion, expectedVersion != current.version {
            throw DomainError.conflict(
                "version_conflict", "the listing is at version \(current.version), not \(expectedVersion)")
        }
        var draft = ListingDraft(current)
        change(&draft)
        draft = try draft.validated()
        return try await Self.listings(
            transaction.connection.rows(
                """
                UPDATE listings SET name = \(draft.name), description = \(draft.description),
                    services = \(draft.services), service_areas = \(draft.serviceAreas),
                    categories = \(draft.categories), eligibility = \(draft.eligibility),
                    contact_name = \(draft.contact.name), contact_email = \(draft.contact.email),
                    contact_phone = \(draft.contact.phone), contact_url = \(draft.contact.url),
                    accepting_referrals = \(draft.acceptingReferrals), published = \(draft.published),
                    version = version + 1, updated_at = now()
                WHERE tenant_id = \(transaction.tenant) AND id = \(id)
                RETURNING \(unescaped: Self.columns)
                """, logger: logger)
        ).first
    }

    public func delete(_ id: Listing.ID, in transaction: TenantTransaction) async throws -> Bool {
        !(try await transaction.connection.rows(
            "DELETE FROM listings WHERE tenant_id = \(transaction.tenant) AND id = \(id) RETURNING id", logger: logger
        ).isEmpty)
    }

    /// Published listings of every hub that match the query, each with its hub's name, ordered by
    /// name. Runs inside `Database.withDirectory`.
    public func search(_ query: DirectoryQuery, on connection: PostgresConnection) async throws -> [(Listing, String)] {
        let area = query.serviceArea?.lowercased()
        let category = query.category?.lowercased()
        let listings = try await Self.listings(
            connection.rows(
                """
                SELECT \(unescaped: Self.columns) FROM listings
                WHERE published
                  AND (\(area)::TEXT IS NULL OR hubnet_lower_labels(service_areas) @> ARRAY[\(area)::TEXT])
                  AND (\(category)::TEXT IS NULL OR hubnet_lower_labels(categories) @> ARRAY[\(category)::TEXT])
                  AND (\(query.acceptingReferrals)::BOOLEAN IS NULL OR accepting_referrals = \(query.acceptingReferrals))
                ORDER BY name, id LIMIT \(query.limit)
                """, logger: logger))
        let tenantIDs = Array(Set(listings.map(\.tenantID)))
        var hubNames: [Tenant.ID: String] = [:]
        let rows = try await connection.rows(
            "SELECT id, name FROM tenants WHERE id = ANY(\(tenantIDs))", logger: logger)
        for (id, name) in try rows.decode((Tenant.ID, String).self) { hubNames[id] = name }
        return listings.map { ($0, hubNames[$0.tenantID] ?? "") }
    }

    /// Published listings of other hubs that accept referrals, for routing suggestions. Runs inside
    /// `Database.withDirectory`.
    public func referralTargets(excluding tenant: Tenant.ID, limit: Int = 500, on connection: PostgresConnection) async throws -> [Listing] {
        try await Self.listings(
            connection.rows(
                """
                SELECT \(unescaped: Self.columns) FROM listings
                WHERE published AND accepting_referrals AND tenant_id <> \(tenant)
                ORDER BY name, id LIMIT \(limit)
                """, logger: logger))
    }

    /// How each hub has answered referrals since `since`, and its overdue open leads at `now`:
    /// counts only, through a function that may count across tenants.
    public func routingRecords(for hubs: [Tenant.ID], since: Date, now: Date, on connection: PostgresConnection)
        async throws -> [Tenant.ID: Routing.HubRecord]
    {
        guard !hubs.isEmpty else { return [:] }
        let rows = try await connection.rows(
            "SELECT tenant_id, received, accepted, open_overdue FROM hubnet_routing_stats(\(hubs), \(since), \(now))",
            logger: logger)
        var records: [Tenant.ID: Routing.HubRecord] = [:]
        for (tenant, received, accepted, overdue) in try rows.decode((Tenant.ID, Int, Int, Int).self) {
            records[tenant] = Routing.HubRecord(received: received, accepted: accepted, openOverdue: overdue)
        }
        return records
    }

    /// A published listing of any hub, by id. Runs inside `Database.withDirectory`.
    public func published(_ id: Listing.ID, on connection: PostgresConnection) async throws -> Listing? {
        try await Self.listings(
            connection.rows(
                "SELECT \(unescaped: Self.columns) FROM listings WHERE id = \(id) AND published", logger: logger)
        ).first
    }

    /// `published` in one statement outside any transaction: `hubnet_published_listing` enters the
    /// directory's scope for itself (run it with `Database.withSingleStatement`).
    public func publishedOnItsOwn(_ id: Listing.ID, on connection: PostgresConnection) async throws -> Listing? {
        try await Self.listings(
            connection.rows("SELECT \(unescaped: Self.columns) FROM hubnet_published_listing(\(id))", logger: logger)
        ).first
    }

    static func listings(_ rows: PostgresRows) async throws -> [Listing] {
        var listings: [Listing] = []
        for row in rows { listings.append(try listing(row)) }
        return listings
    }

    static func listing(_ row: PostgresRow) throws -> Listing {
        let (
            id, tenantID, name, description, services, serviceAreas, categories, eligibility, contactName,
            contactEmail, contactPhone, contactURL, acceptingReferrals, published, version, createdAt, updatedAt
        ) = try row.decode(
            (
                Listing.ID, Tenant.ID, String, String?, [String], [String], [String], String?, String?, String?,
                String?, String?, Bool, Bool, Int, Date, Date
            ).self)
        return Listing(
            id: id, tenantID: tenantID, name: name, description: description, services: services,
            serviceAreas: serviceAreas, categories: categories, eligibility: eligibility,
            contact: ListingContact(name: contactName, email: contactEmail, phone: contactPhone, url: contactURL),
            acceptingReferrals: acceptingReferrals, published: published, version: version, createdAt: createdAt,
            updatedAt: updatedAt)
    }
}
