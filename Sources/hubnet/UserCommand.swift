import ArgumentParser
import Foundation
import HubNetCore
import HubNetPostgres
import Logging

struct UserCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "user", abstract: "Create users and issue their API tokens.",
        subcommands: [Create.self, Token.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a user in a tenant.")

        @Option(help: "The tenant's id or slug.") var tenant: String
        @Option(help: "The user's email.") var email: String
        @Option(help: "The user's display name.") var name: String
        @Option(name: .customLong("role"), help: "A role: admin, moderator, advisor, partner_user, viewer (repeatable).")
        var roles: [String]

        func run() async throws {
            let logger = makeLogger(default: .warning)
            try await reportingErrors {
                let roles = try Set(roles.map { name in
                    guard let role = Role(rawValue: name) else { throw ValidationError("unknown role '\(name)'") }
                    return role
                })
                try await withAdminDatabase(logger: logger) { database in
                    let tenant = try await resolveTenant(tenant, database: database)
                    let user = try await database.withTenant(tenant.id) { transaction in
                        try await PostgresUserRepository(logger: logger).create(
                            UserDraft(email: email, displayName: name, roles: roles), kind: tenant.kind,
                            in: transaction)
                    }
                    say("user \(user.id) \(user.email) [\(user.roles.sorted().map(\.rawValue).joined(separator: ", "))]")
                }
            }
        }
    }

    struct Token: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Issue an API token for a user; it is printed once.")

        @Option(help: "The tenant's id or slug.") var tenant: String
        @Option(help: "The user's id or email.") var user: String
        @Option(help: "What the token is for.") var name: String = "cli"

        func run() async throws {
            let logger = makeLogger(default: .warning)
            try await reportingErrors {
                try await withAdminDatabase(logger: logger) { database in
                    let tenant = try await resolveTenant(tenant, database: database)
                    let issued = try await database.withTenant(tenant.id) { transaction -> (APIToken, String)? in
                        var userID = User.ID(string: user)
                        if userID == nil {
                            userID = try await PostgresUserRepository(logger: logger).find(email: user, in: transaction)?.id
                        }
                        guard let userID else { return nil }
                        return try await PostgresAPITokenRepository(logger: logger).issue(
                            to: userID, name: name, in: transaction)
                    }
                    guard let (token, secret) = issued else { throw DomainError.notFound("active user '\(user)'") }
                    say("token \(token.id)")
                    say(secret)
                }
            }
        }
    }
}
