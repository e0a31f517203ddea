import Foundation
import HubNetCore
import Testing

@Suite("Field validation")
struct ValidationTests {
    @Test("a listing needs a name and at least one service area")
    func listingNeedsNameAndArea() throws {
        #expect(throws: DomainError.invalid("name", "must not be empty")) {
            try ListingDraft(name: "  ", serviceAreas: ["Alameda"]).validated()
        }
        #expect(throws: DomainError.invalid("service_areas", "must name at least one area")) {
            try ListingDraft(name: "SBDC", serviceAreas: []).validated()
        }
    }

    @Test("labels are trimmed and de-duplicated without regard to case")
    func labelsAreNormalised() throws {
        let draft = try ListingDraft(name: " SBDC ", serviceAreas: [" Alameda ", "alameda", "Marin"]).validated()
        #expect(draft.name == "SBDC")
        #expect(draft.serviceAreas == ["Alameda", "Marin"])
    }

    @Test(
        "contact fields reject what they cannot be",
        arguments: [
            (ListingContact(email: "not-an-email"), "contact.email"),
            (ListingContact(email: "a@b"), "contact.email"),
            (ListingContact(phone: "call me"), "contact.phone"),
            (ListingContact(phone: "12"), "contact.phone"),
            (ListingContact(url: "ftp://example.com"), "contact.url"),
            (ListingContact(url: "javascript:alert(1)"), "contact.url"),
        ])
    func contactRules(contact: ListingContact, field: String) {
        #expect {
            try ListingDraft(name: "x", serviceAreas: ["y"], contact: contact).validated()
        } throws: { ($0 as? DomainError)?.field == field }
    }

    @Test("a valid contact is normalised")
    func contactNormalised() throws {
        let contact = try ListingContact(email: " Desk@Hub.Example ", phone: "+1 (510) 555-0100", url: "https://hub.example")
            .validated()
        #expect(contact.email == "desk@hub.example")
        #expect(contact.phone == "+1 (510) 555-0100")
    }

    @Test("moderators and advisors exist only in hubs, partner users only outside them")
    func rolesBelongToTenantKinds() throws {
        #expect(Role.moderator.exists(in: .hub))
        #expect(!Role.moderator.exists(in: .partnerCompany))
        #expect(!Role.advisor.exists(in: .sourcingCompany))
        #expect(Role.partnerUser.exists(in: .partnerCompany))
        #expect(!Role.partnerUser.exists(in: .hub))
        #expect {
            try UserDraft(email: "a@b.co", displayName: "A", roles: [.advisor]).validated(for: .partnerCompany)
        } throws: { ($0 as? DomainError)?.field == "roles" }
    }

    @Test("a tenant's first user is always an admin")
    func firstUserIsAdmin() throws {
        let draft = try TenantDraft(
            kind: .hub, name: "Bay Hub", slug: "bay-hub",
            admin: UserDraft(email: "ann@bay.example", displayName: "Ann", roles: [.moderator])
        ).validated()
        #expect(draft.admin.roles == [.admin, .moderator])
    }

    @Test("slugs are lower-case letters, digits and inner hyphens", arguments: ["Bay", "-bay", "bay-", "b", "bay hub", "bäy"])
    func badSlugs(slug: String) {
        #expect(throws: DomainError.self) { try Validate.slug(slug, field: "slug") }
    }

    @Test("text fields refuse control characters")
    func controlCharacters() {
        #expect(throws: DomainError.self) { try Validate.text("a\u{0}b", field: "name", max: 10) }
    }
}

@Suite("Pagination")
struct PageTests {
    @Test("a cursor survives its round trip through a token")
    func cursorRoundTrip() throws {
        let cursor = PageCursor(createdAt: Date(timeIntervalSince1970: 1_700_000_000.123456), id: UUID())
        let parsed = try PageCursor(token: cursor.token)
        #expect(parsed.id == cursor.id)
        #expect(abs(parsed.createdAt.timeIntervalSince(cursor.createdAt)) < 0.000_001)
    }

    @Test("a forged cursor is a validation error on the cursor field", arguments: ["", "%%%", "bm90LWEtY3Vyc29y", "OTIyMzM3MjAzNjg1NDc3NTgwNzowMDAwMDAwMC0wMDAwLTAwMDAtMDAwMC0wMDAwMDAwMDAwMDA"])
    func forgedCursor(token: String) {
        #expect { try PageCursor(token: token) } throws: { ($0 as? DomainError)?.field == "cursor" }
    }

    @Test("an extra row only says that another page exists")
    func pageFromRows() {
        let page = Page(rows: [1, 2, 3], limit: 2) { PageCursor(createdAt: Date(timeIntervalSince1970: Double($0)), id: UUID()) }
        #expect(page.items == [1, 2])
        #expect(page.nextCursor?.createdAt == Date(timeIntervalSince1970: 2))
        let last = Page(rows: [1, 2], limit: 2) { PageCursor(createdAt: Date(timeIntervalSince1970: Double($0)), id: UUID()) }
        #expect(last.nextCursor == nil)
    }

    @Test("limits outside 1...200 are refused", arguments: [0, -1, 201])
    func limits(limit: Int) {
        #expect { try PageRequest(limit: limit) } throws: { ($0 as? DomainError)?.field == "limit" }
    }
}

@Suite("Tenant policy")
struct TenantPolicyTests {
    func user(_ kind: Tenant.Kind, _ roles: Set<Role>) -> AuthenticatedUser {
        AuthenticatedUser(userID: .init(), tenantID: .init(), tenantKind: kind, roles: roles)
    }

    @Test("only admins manage users and units")
    func adminsManage() {
        #expect(TenantPolicy.allows(user(.hub, [.admin]), .manageUsers))
        #expect(!TenantPolicy.allows(user(.hub, [.moderator]), .manageUsers))
        #expect(!TenantPolicy.allows(user(.hub, [.viewer]), .manageUnits))
    }

    @Test("hub moderators manage listings; viewers and partner users do not")
    func listingManagers() {
        #expect(TenantPolicy.allows(user(.hub, [.moderator]), .manageListings))
        #expect(!TenantPolicy.allows(user(.hub, [.viewer]), .manageListings))
        #expect(!TenantPolicy.allows(user(.partnerCompany, [.partnerUser]), .manageListings))
    }

    @Test("only hubs publish listings")
    func onlyHubsPublish() {
        #expect(throws: Never.self) { try TenantPolicy.requireListingOwner(.hub) }
        #expect { try TenantPolicy.requireListingOwner(.partnerCompany) } throws: {
            ($0 as? DomainError)?.code == "tenant_kind_not_allowed"
        }
    }
}
