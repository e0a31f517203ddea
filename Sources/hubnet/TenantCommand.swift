import ArgumentParser
import Foundation
import HubNetCore
import HubNetPostgres
import Logging

struct TenantCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tenant", abstract: "Provision and list tenants (hubs, partner companies, sourcing companies).",
        subcommands: [Create.self, List.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a tenant with its first admin, and print the admin's API token (shown once).")

        @Option(help: "hub, partner_company or sourcing_company.") var kind: String
        @Option(help: "The organisation's name.") var name: String
        @Option(help: "A unique handle: lower-case letters, digits, hyphens.") var slug: String
        @Option(help: "The first admin's email.") var adminEmail: String
        @Option(help: "The first admin's display name.") var adminName: String

        func run() async throws {
            let logger = makeLogger(default: .warning)
            try await reportingErrors {
                guard let kind = Tenant.Kind(rawValue: kind) else {
                    throw ValidationError("--kind must be hub, partner_company or sourcing_company")
                }
                try await withAdminDatabase(logger: logger) { database in
                    let (tenant, admin) = try await PostgresTenantRepository(database: database).create(
                        TenantDraft(
                            kind: kind, name: name, slug: slug,
                            admin: UserDraft(email: adminEmail, displayName: adminName, roles: [.admin])))
                    let issued = try await database.withTenant(tenant.id) { transaction in
                        try await PostgresAPITokenRepository(logger: logger).issue(
                            to: admin.id, name: "first admin token", in: transaction)
                    }
                    say("tenant \(tenant.id) (\(tenant.kind.rawValue), \(tenant.slug))")
                    say("admin  \(admin.id) \(admin.email)")
                    if let (_, secret) = issued { say("token  \(secret)") }
                }
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List all tenants of the network.")

        func run() async throws {
            let logger = makeLogger(default: .warning)
            try await reportingErrors {
                try await withAdminDatabase(logger: logger) { database in
                    let repository = PostgresTenantRepository(database: database)
                    var cursor: PageCursor? = nil
                    repeat {
                        let page = try await repository.list(try PageRequest(limit: 200, after: cursor))
                        for tenant in page.items {
                            say("\(tenant.id)  \(tenant.kind.rawValue.padding(toLength: 16, withPad: " ", startingAt: 0))  \(tenant.slug)  \(tenant.name)")
                        }
                        cursor = page.nextCursor
                    } while cursor != nil
                }
            }
        }
    }
}

/// Finds a tenant by id or slug.
func resolveTenant(_ reference: String, database: Database) async throws -> Tenant {
    let tenants = PostgresTenantRepository(database: database)
    if let id = Tenant.ID(string: reference), let tenant = try await tenants.get(id) { return tenant }
    if let tenant = try await tenants.get(slug: reference) { return tenant }
    throw DomainError.notFound("tenant '\(reference)'")
}
