import Foundation
import HubNetCore
import Logging
import PostgresNIO

/// The network's registry of tenants, and their provisioning.
public struct PostgresTenantRepository: Sendable {
    public let database: Database

    public init(database: Database) { self.database = database }

    /// A new tenant with its first admin, in one transaction; the admin gets no token yet.
    public func create(_ draft: TenantDraft) async throws -> (Tenant, User) {
        let draft = try draft.validated()
        let tenantID = Tenant.ID()
        do {
            return try await database.withTenant(tenantID) { transaction in
                let rows = try await transaction.connection.rows(
                    """
                    INSERT INTO tenants (id, kind, name, slug) VALUES (\(tenantID), \(draft.kind.rawValue), \(draft.name), \(draft.slug))
                    RETURNING created_at
                    """, logger: database.logger)
                var createdAt = Date()
                for value in try rows.decode(Date.self) { createdAt = value }
                let tenant = Tenant(id: tenantID, kind: draft.kind, name: draft.name, slug: draft.slug, createdAt: createdAt)
                let admin = try await PostgresUserRepository.insert(draft.admin, in: transaction, logger: database.logger)
                return (tenant, admin)
            }
        } catch let error as PSQLError where error.violates("tenants_slug_key") {
            throw DomainError.conflict("slug_taken", "a tenant with slug '\(draft.slug)' already exists")
        }
    }

    public func get(_ id: Tenant.ID) async throws -> Tenant? {
        try await database.withNetwork { connection in
            try await Self.tenants(
                connection.rows(
                    "SELECT id, kind, name, slug, created_at FROM tenants WHERE id = \(id)", logger: database.logger)
            ).first
        }
    }

    /// The organisation with this slug (slugs are unique in the network).
    public func get(slug: String) async throws -> Tenant? {
        try await database.withNetwork { connection in
            try await Self.tenants(
                connection.rows(
                    "SELECT id, kind, name, slug, created_at FROM tenants WHERE slug = \(slug)", logger: database.logger)
            ).first
        }
    }

    /// The organisation, read inside an open transaction of any tenant (the registry is readable to all).
    public func get(_ id: Tenant.ID, on connection: PostgresConnection) async throws -> Tenant? {
        try await Self.tenants(
            connection.rows("SELECT id, kind, name, slug, created_at FROM tenants WHERE id = \(id)", logger: database.logger)
        ).first
    }

    public func list(_ page: PageRequest) async throws -> Page<Tenant> {
        let after = page.after ?? .start
        let rows = try await database.withNetwork { connection in
            try await Self.tenants(
                connection.rows(
                    """
                    SELECT id, kind, name, slug, created_at FROM tenants
                    WHERE (created_at, id) > (hubnet_from_micros(\(after.microseconds)), \(after.id))
                    ORDER BY created_at, id LIMIT \(page.limit + 1)
                    """, logger: database.logger))
        }
        return Page(rows: rows, limit: page.limit) { PageCursor(createdAt: $0.createdAt, id: $0.id.rawValue) }
    }

    private static func tenants(_ rows: PostgresRows) async throws -> [Tenant] {
        var tenants: [Tenant] = []
        for (id, kind, name, slug, createdAt) in try rows.decode((Tenant.ID, String, String, String, Date).self) {
            tenants.append(Tenant(id: id, kind: Tenant.Kind(rawValue: kind) ?? .hub, name: name, slug: slug, createdAt: createdAt))
        }
        return tenants
    }
}

