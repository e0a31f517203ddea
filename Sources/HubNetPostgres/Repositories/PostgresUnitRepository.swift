import Foundation
import HubNetCore
import Logging
import PostgresNIO

/// Units (teams) of one tenant and their members.
public struct PostgresUnitRepository: Sendable {
    public let logger: Logger

    public init(logger: Logger) { self.logger = logger }

    private static let select = """
        SELECT u.id, u.tenant_id, u.name, u.created_at,
               COALESCE(array_agg(m.user_id ORDER BY m.added_at, m.user_id) FILTER (WHERE m.user_id IS NOT NULL), '{}')
        FROM units AS u
        LEFT JOIN unit_members AS m ON m.tenant_id = u.tenant_id AND m.unit_id = u.id
        """

    public func create(name: String, in transaction: TenantTransaction) async throws -> TenantUnit {
        let name = try Validate.text(name, field: "name", max: 200)
        let id = TenantUnit.ID()
        do {
            try await transaction.connection.rows(
                "INSERT INTO units (tenant_id, id, name) VALUES (\(transaction.tenant), \(id), \(name))", logger: logger)
        } catch let error as PSQLError where error.violates("units_name_key") {
            throw DomainError.conflict("unit_name_taken", "a unit named '\(name)' already exists")
        }
        guard let unit = try await get(id, in: transaction) else { throw DomainError.notFound("unit") }
        return unit
    }

    public func get(_ id: TenantUnit.ID, in transaction: TenantTransaction) async throws -> TenantUnit? {
        try await Self.units(
            transaction.connection.rows(
                """
                \(unescaped: Self.select)
                WHERE u.tenant_id = \(transaction.tenant) AND u.id = \(id) GROUP BY u.tenant_id, u.id
                """, logger: logger)
        ).first
    }

    public func list(page: PageRequest, in transaction: TenantTransaction) async throws -> Page<TenantUnit> {
        let after = page.after ?? .start
        let rows = try await Self.units(
            transaction.connection.rows(
                """
                \(unescaped: Self.select)
                WHERE u.tenant_id = \(transaction.tenant) AND (u.created_at, u.id) > (hubnet_from_micros(\(after.microseconds)), \(after.id))
                GROUP BY u.tenant_id, u.id ORDER BY u.created_at, u.id LIMIT \(page.limit + 1)
                """, logger: logger))
        return Page(rows: rows, limit: page.limit) { PageCursor(createdAt: $0.createdAt, id: $0.id.rawValue) }
    }

    public func rename(_ id: TenantUnit.ID, to name: String, in transaction: TenantTransaction)
        async throws -> TenantUnit?
    {
        let name = try Validate.text(name, field: "name", max: 200)
        do {
            let rows = try await transaction.connection.rows(
                "UPDATE units SET name = \(name) WHERE tenant_id = \(transaction.tenant) AND id = \(id) RETURNING id", logger: logger
            )
            guard !rows.isEmpty else { return nil }
        } catch let error as PSQLError where error.violates("units_name_key") {
            throw DomainError.conflict("unit_name_taken", "a unit named '\(name)' already exists")
        }
        return try await get(id, in: transaction)
    }

    /// Deletes a unit; one that leads are assigned to is refused (`unit_in_use`): reassign them first.
    public func delete(_ id: TenantUnit.ID, in transaction: TenantTransaction) async throws -> Bool {
        do {
            return !(try await transaction.connection.rows(
                "DELETE FROM units WHERE tenant_id = \(transaction.tenant) AND id = \(id) RETURNING id", logger: logger
            ).isEmpty)
        } catch let error as PSQLError where error.serverInfo?[.sqlState] == "23503" {
            throw DomainError.conflict("unit_in_use", "leads are assigned to this unit; assign them elsewhere before deleting it")
        }
    }

    /// Adds an active user of the same tenant; `false` when the unit or the user does not exist.
    public func addMember(_ user: User.ID, to unit: TenantUnit.ID, in transaction: TenantTransaction)
        async throws -> Bool
    {
        let rows = try await transaction.connection.rows(
            """
            INSERT INTO unit_members (tenant_id, unit_id, user_id)
            SELECT u.tenant_id, u.id, p.id FROM units AS u
            JOIN users AS p ON p.tenant_id = u.tenant_id AND p.id = \(user) AND p.deactivated_at IS NULL
            WHERE u.tenant_id = \(transaction.tenant) AND u.id = \(unit)
            ON CONFLICT ON CONSTRAINT unit_members_pkey DO NOTHING
            RETURNING user_id
            """, logger: logger
        )
        if !rows.isEmpty { return true }
        // Already a member answers like a fresh add; a missing unit or user does not.
        return !(try await transaction.connection.rows(
            "SELECT 1 FROM unit_members WHERE tenant_id = \(transaction.tenant) AND unit_id = \(unit) AND user_id = \(user)",
            logger: logger
        ).isEmpty)
    }

    public func removeMember(_ user: User.ID, from unit: TenantUnit.ID, in transaction: TenantTransaction)
        async throws -> Bool
    {
        !(try await transaction.connection.rows(
            """
            DELETE FROM unit_members WHERE tenant_id = \(transaction.tenant) AND unit_id = \(unit) AND user_id = \(user)
            RETURNING user_id
            """, logger: logger
        ).isEmpty)
    }

    static func units(_ rows: PostgresRows) async throws -> [TenantUnit] {
        var units: [TenantUnit] = []
        for (id, tenantID, name, createdAt, members) in try rows.decode(
            (TenantUnit.ID, Tenant.ID, String, Date, [UUID]).self)
        {
            units.append(
                TenantUnit(id: id, tenantID: tenantID, name: name, memberIDs: members.map(User.ID.init), createdAt: createdAt))
        }
        return units
    }
}
