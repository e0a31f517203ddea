import Foundation
import HubNetCore
import HubNetPostgres
import HubNetTestSupport
import Logging
import PostgresNIO
import Testing

/// The registry of organisations as the CLI reads it: by id or by slug (`hubnet user create --tenant`).
@Suite("Tenant registry")
struct TenantRegistryTests {
    let logger = Logger(label: "test")

    @Test("a tenant is found by its slug, exactly; an unknown slug finds none")
    func foundBySlug() async throws {
        try await withTestStore(logger: logger) { store in
            let fixtures = Fixtures(database: store)
            let first = try await fixtures.tenant(.hub).tenant
            let second = try await fixtures.tenant(.partnerCompany).tenant
            let tenants = PostgresTenantRepository(database: store)
            let found = try #require(try await tenants.get(slug: second.slug))
            #expect(found.id == second.id)
            #expect(found.kind == .partnerCompany)
            #expect(found.name == second.name)
            #expect(try await tenants.get(slug: first.slug)?.id == first.id)
            #expect(try await tenants.get(slug: first.slug.uppercased()) == nil)
            #expect(try await tenants.get(slug: "no-such-\(UUID().uuidString.prefix(8))") == nil)
        }
    }
}
