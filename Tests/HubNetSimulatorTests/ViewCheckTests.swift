import Foundation
import HubNetCore
import HubNetPostgres
@testable import HubNetSimulator
import HubNetTestSupport
import Logging
import PostgresNIO
import Testing

/// The checker's view check after a pull: which of the leads a device holds its user does not see.
@Suite("View check")
struct ViewCheckTests {
    let logger = Logger(label: "test")

    @Test("a held lead outside the user's view is found (not on the team, withdrawn, or of no lead at all); the rest are not, and a moderator sees the whole hub")
    func outsideView() async throws {
        try await withTestStore(logger: logger) { store in
            let hub = try await Fixtures(database: store).tenant(.hub, users: [[.moderator], [.advisor]])
            let (moderator, advisor) = (hub.users[0].user.id, hub.users[1].user.id)
            let leads = PostgresLeadRepository(logger: logger)
            let template = BuiltInTemplates.hubModeration
            let (mine, theirs, gone) = try await store.withTenant(hub.tenant.id) { transaction in
                func lead(_ name: String, team: [User.ID]) async throws -> Lead.ID {
                    try await leads.create(
                        LeadDetails(name: name, email: "\(name.lowercased())@lead.test", team: team), template: template, source: .manual,
                        createdBy: moderator, now: Date(), in: transaction).id
                }
                let gone = try await lead("Gone", team: [advisor])
                try await transaction.connection.rows("UPDATE leads SET withdrawn_at = now() WHERE id = \(gone)", logger: logger)
                return (try await lead("Mine", team: [advisor]), try await lead("Theirs", team: []), gone)
            }
            let unknown = Lead.ID()
            let held = [mine, theirs, gone, unknown]
            #expect(try await Views.outside(held, of: advisor, tenant: hub.tenant.id, in: store) == [theirs, gone, unknown])
            #expect(try await Views.outside(held, of: moderator, tenant: hub.tenant.id, in: store) == [gone, unknown])
            #expect(try await Views.outside([], of: advisor, tenant: hub.tenant.id, in: store).isEmpty)
        }
    }
}
