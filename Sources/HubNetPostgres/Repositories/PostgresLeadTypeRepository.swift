import Foundation
import HubNetCore
import Logging
import PostgresNIO

/// Lead types of one tenant.
public struct PostgresLeadTypeRepository: Sendable {
    public let logger: Logger

    public init(logger: Logger) { self.logger = logger }

    /// Creates or replaces a type by its key.
    public func save(_ type: LeadType, in transaction: TenantTransaction) async throws -> LeadType {
        let type = try type.validated()
        try await transaction.connection.rows(
            """
            INSERT INTO lead_types (tenant_id, key, name, estimated_completion_days, default_importance, default_priority)
            VALUES (\(transaction.tenant), \(type.key), \(type.name), \(type.estimatedCompletionDays), \(type.defaultImportance), \(type.defaultPriority))
            ON CONFLICT ON CONSTRAINT lead_types_pkey DO UPDATE SET name = EXCLUDED.name,
                estimated_completion_days = EXCLUDED.estimated_completion_days,
                default_importance = EXCLUDED.default_importance, default_priority = EXCLUDED.default_priority
            """, logger: logger)
        return type
    }

    public func get(_ key: String, in transaction: TenantTransaction) async throws -> LeadType? {
        try await list(only: key, in: transaction).first
    }

    public func list(only key: String? = nil, in transaction: TenantTransaction) async throws -> [LeadType] {
        let rows = try await transaction.connection.rows(
            """
            SELECT key, name, estimated_completion_days, default_importance, default_priority FROM lead_types
            WHERE tenant_id = \(transaction.tenant) AND (\(key)::TEXT IS NULL OR key = \(key)) ORDER BY key
            """, logger: logger)
        var types: [LeadType] = []
        for (key, name, days, importance, priority) in try rows.decode((String, String, Int?, String?, String?).self) {
            types.append(LeadType(key: key, name: name, estimatedCompletionDays: days, defaultImportance: importance, defaultPriority: priority))
        }
        return types
    }
}
