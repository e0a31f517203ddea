import Foundation
import HubNetCore
import HubNetPostgres
import Logging

/// Provisions tenants, users with tokens, and listings in one call, straight through the store.
public struct Fixtures: Sendable {
    public let database: Database

    public init(database: Database) { self.database = database }

    /// A tenant with an admin, one user per entry of `users`, each with a live API token, and the
    /// given listings (hubs only).
    public func tenant(
        _ kind: Tenant.Kind, name: String? = nil, users: [Set<Role>] = [], listings: [ListingDraft] = []
    ) async throws -> TenantFixture {
        let suffix = UUID().uuidString.prefix(8).lowercased()
        let name = name ?? "\(kind.rawValue) \(suffix)"
        let slug = "t-\(suffix)"
        let (tenant, admin) = try await PostgresTenantRepository(database: database).create(
            TenantDraft(
                kind: kind, name: name, slug: slug,
                admin: UserDraft(email: "admin@\(slug).test", displayName: "Admin of \(name)", roles: [.admin])))
        let logger = database.logger
        return try await database.withTenant(tenant.id) { transaction in
            let userRepository = PostgresUserRepository(logger: logger)
            let tokenRepository = PostgresAPITokenRepository(logger: logger)
            func withToken(_ user: User) async throws -> UserFixture {
                guard let (_, secret) = try await tokenRepository.issue(to: user.id, name: "fixture", in: transaction)
                else { throw DomainError.notFound("user") }
                return UserFixture(user: user, token: secret)
            }
            var fixtures: [UserFixture] = []
            for (index, roles) in users.enumerated() {
                let label = roles.sorted().map(\.rawValue).joined(separator: "-")
                let user = try await userRepository.create(
                    UserDraft(email: "\(label)\(index)@\(slug).test", displayName: "\(label) \(index)", roles: roles),
                    kind: kind, in: transaction)
                fixtures.append(try await withToken(user))
            }
            var created: [Listing] = []
            for draft in listings {
                created.append(try await PostgresListingRepository(logger: logger).create(draft, in: transaction))
            }
            return TenantFixture(tenant: tenant, admin: try await withToken(admin), users: fixtures, listings: created)
        }
    }
}

public struct TenantFixture: Sendable {
    public let tenant: Tenant
    public let admin: UserFixture
    public let users: [UserFixture]
    public let listings: [Listing]
}

public struct UserFixture: Sendable {
    public let user: User
    /// A bearer token of the user.
    public let token: String
}
