import HubNetCore
import Logging
import PostgresNIO

/// An open transaction held to one tenant's rows by row-level security, as `Database.withTenant`
/// opens it. Every repository method that reads or writes a tenant's rows takes one: the tenant it
/// filters by and the tenant the transaction is set to are the same value, so a caller cannot hand
/// a repository one tenant's id and another tenant's transaction.
///
/// The few operations that span two tenants on purpose (a referral lands in its target; a target's
/// action updates the source's referral) go through `visiting`, which hands the body the other
/// tenant's value of the same transaction and comes back, whether the body returns or throws.
public struct TenantTransaction: Sendable {
    public let tenant: Tenant.ID
    /// The transaction's connection, for statements of the tenant's rows and for the network's
    /// global tables (the registry of organisations, the directory).
    public let connection: PostgresConnection
    let logger: Logger

    init(tenant: Tenant.ID, connection: PostgresConnection, logger: Logger) {
        self.tenant = tenant
        self.connection = connection
        self.logger = logger
    }

    /// Runs `body` in `other`'s rows inside this open transaction, then comes back to this tenant,
    /// whether `body` returns or throws. After a failed statement the transaction can only roll
    /// back, and the way back is not taken.
    public func visiting<Result>(_ other: Tenant.ID, _ body: (TenantTransaction) async throws -> Result) async throws -> Result {
        guard other != tenant else { return try await body(self) }
        try await Database.enter(other, on: connection, logger: logger)
        let result: Result
        do {
            result = try await body(TenantTransaction(tenant: other, connection: connection, logger: logger))
        } catch {
            _ = try? await Database.enter(tenant, on: connection, logger: logger)
            throw error
        }
        try await Database.enter(tenant, on: connection, logger: logger)
        return result
    }

    /// `visiting` each item's tenant in turn (entering once for consecutive items of one tenant),
    /// coming back once at the end; returns the results in the items' order.
    public func visiting<Item, Result>(
        _ items: some Sequence<Item>, tenant of: (Item) -> Tenant.ID, _ body: (Item, TenantTransaction) async throws -> Result
    ) async throws -> [Result] {
        var results: [Result] = []
        var current = tenant
        do {
            for item in items {
                let next = of(item)
                if next != current {
                    try await Database.enter(next, on: connection, logger: logger)
                    current = next
                }
                results.append(try await body(item, TenantTransaction(tenant: next, connection: connection, logger: logger)))
            }
        } catch {
            if current != tenant { _ = try? await Database.enter(tenant, on: connection, logger: logger) }
            throw error
        }
        if current != tenant { try await Database.enter(tenant, on: connection, logger: logger) }
        return results
    }
}
