import ArgumentParser
import Foundation
import HubNetCore
import HubNetPostgres
import Logging

struct ListingCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "listing", abstract: "Create resource listings of a hub, and import or export them as HSDS JSON.",
        subcommands: [Create.self, Import.self, Export.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a listing of a hub.")

        @Option(help: "The hub's id or slug.") var tenant: String
        @Option(help: "The listing's name.") var name: String
        @Option(name: .customLong("area"), help: "A service area (repeatable; at least one).") var areas: [String]
        @Option(name: .customLong("category"), help: "A category (repeatable).") var categories: [String] = []
        @Option(name: .customLong("service"), help: "An offered service (repeatable).") var services: [String] = []
        @Option(help: "Who may be served.") var eligibility: String?
        @Option(help: "Contact email.") var email: String?
        @Flag(help: "Do not accept referrals yet.") var notAcceptingReferrals = false

        func run() async throws {
            let logger = makeLogger(default: .warning)
            try await reportingErrors {
                try await withAdminDatabase(logger: logger) { database in
                    let tenant = try await resolveTenant(tenant, database: database)
                    try TenantPolicy.requireListingOwner(tenant.kind)
                    let draft = ListingDraft(
                        name: name, services: services, serviceAreas: areas, categories: categories,
                        eligibility: eligibility, contact: ListingContact(email: email),
                        acceptingReferrals: !notAcceptingReferrals)
                    let listing = try await database.withTenant(tenant.id) { transaction in
                        try await PostgresListingRepository(logger: logger).create(draft, in: transaction)
                    }
                    say("listing \(listing.id) \(listing.name)")
                }
            }
        }
    }

    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Import an HSDS JSON document ({\"services\": [...]}) as listings of a hub, all or none.")

        @Option(help: "The hub's id or slug.") var tenant: String
        @Flag(help: "Validate every service and report, but store nothing.") var dryRun = false
        @Argument(help: "The HSDS JSON file.") var file: String

        func run() async throws {
            let logger = makeLogger(default: .warning)
            try await reportingErrors {
                let data = try Data(contentsOf: URL(fileURLWithPath: file))
                let decoder = JSONDecoder()
                decoder.keyDecodingStrategy = .convertFromSnakeCase
                let document = try decoder.decode(HSDS.Document.self, from: data)
                let drafts = try document.services.enumerated().map { try HSDS.draft($1, index: $0) }
                if dryRun {
                    say("\(drafts.count) listing(s) valid; nothing stored (dry run)")
                    return
                }
                try await withAdminDatabase(logger: logger) { database in
                    let tenant = try await resolveTenant(tenant, database: database)
                    try TenantPolicy.requireListingOwner(tenant.kind)
                    try await database.withTenant(tenant.id) { transaction in
                        let repository = PostgresListingRepository(logger: logger)
                        for (index, draft) in drafts.enumerated() {
                            _ = try await repository.create(draft, in: transaction)
                            if (index + 1) % 100 == 0 { say("  \(index + 1)/\(drafts.count)") }
                        }
                    }
                    say("imported \(drafts.count) listing(s) into \(tenant.slug)")
                }
            }
        }
    }

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Export a hub's listings as an HSDS JSON document.")

        @Option(help: "The hub's id or slug.") var tenant: String
        @Option(name: .shortAndLong, help: "Write to this file instead of standard output.") var output: String?

        func run() async throws {
            let logger = makeLogger(default: .warning)
            try await reportingErrors {
                try await withAdminDatabase(logger: logger) { database in
                    let tenant = try await resolveTenant(tenant, database: database)
                    let listings = try await database.withTenant(tenant.id) { transaction in
                        try await PostgresListingRepository(logger: logger).all(in: transaction)
                    }
                    let encoder = JSONEncoder()
                    encoder.keyEncodingStrategy = .convertToSnakeCase
                    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                    let data = try encoder.encode(HSDS.Document(services: listings.map { HSDS.service($0, hubName: tenant.name) }))
                    if let output {
                        try data.write(to: URL(fileURLWithPath: output))
                        say("exported \(listings.count) listing(s) to \(output)")
                    } else {
                        say(String(decoding: data, as: UTF8.self))
                    }
                }
            }
        }
    }
}
