import Foundation
import HubNetCore
import HubNetTestSupport
import Testing

@Suite("Listings and the public directory")
struct ListingTests {
    @Test("the directory finds published listings by service area, category and referral flag, without a token")
    func directorySearch() async throws {
        try await withTestApplication { app in
            _ = try await app.fixtures.tenant(
                .hub, name: "East Bay Hub",
                listings: [
                    ListingDraft(name: "Startup advising", serviceAreas: ["Alameda County"], categories: ["Startups"]),
                    ListingDraft(name: "Export help", serviceAreas: ["Alameda County"], categories: ["Trade"], acceptingReferrals: false),
                    ListingDraft(name: "Hidden", serviceAreas: ["Alameda County"], published: false),
                ])
            _ = try await app.fixtures.tenant(
                .hub, name: "Marin Hub", listings: [ListingDraft(name: "Marin startups", serviceAreas: ["Marin"], categories: ["startups"])])
            func names(_ query: String) async throws -> [String] {
                let response = try await app.request(.get, "/v1/directory/listings\(query)")
                #expect(response.status == .ok)
                return (response.json?["items"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
            }
            #expect(try await names("?service_area=alameda%20county") == ["Export help", "Startup advising"])
            #expect(try await names("?category=STARTUPS") == ["Marin startups", "Startup advising"])
            #expect(try await names("?service_area=Alameda%20County&accepting_referrals=true") == ["Startup advising"])
            #expect(try await names("").contains("Hidden") == false)
            let entry = try #require((try await app.request(.get, "/v1/directory/listings?service_area=Marin")).json?["items"] as? [[String: Any]])
            #expect((entry.first?["hub"] as? [String: Any])?["name"] as? String == "Marin Hub")
        }
    }

    @Test("listings are created, paged, updated with a version guard, and deleted")
    func lifecycle() async throws {
        try await withTestApplication { app in
            let hub = try await app.fixtures.tenant(.hub)
            let token = hub.admin.token
            for index in 0..<5 {
                #expect(try await app.request(.post, "/v1/listings", token: token, json: #"{"name":"L\#(index)","service_areas":["X"]}"#).status == .created)
            }
            var seen: [String] = []
            var cursor: String? = nil
            repeat {
                let page = try await app.request(.get, "/v1/listings?limit=2" + (cursor.map { "&cursor=\($0)" } ?? ""), token: token)
                seen += (page.json?["items"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
                cursor = page.json?["next_cursor"] as? String
            } while cursor != nil
            #expect(seen == ["L0", "L1", "L2", "L3", "L4"])

            let first = try await app.request(.get, "/v1/listings?limit=1", token: token)
            let id = try #require((first.json?["items"] as? [[String: Any]])?.first?["id"] as? String)
            let updated = try await app.request(.patch, "/v1/listings/\(id)", token: token, json: #"{"description":"New","version":1}"#)
            #expect(updated.json?["version"] as? Int == 2)
            #expect(updated.json?["name"] as? String == "L0")
            let stale = try await app.request(.patch, "/v1/listings/\(id)", token: token, json: #"{"description":"Lost","version":1}"#)
            #expect(stale.errorCode == "version_conflict")
            let cleared = try await app.request(.patch, "/v1/listings/\(id)", token: token, json: #"{"description":""}"#)
            #expect(cleared.json?["description"] == nil || cleared.json?["description"] is NSNull)
            #expect(try await app.request(.delete, "/v1/listings/\(id)", token: token).status == .noContent)
            #expect(try await app.request(.get, "/v1/listings/\(id)", token: token).status == .notFound)
        }
    }

    @Test("an HSDS export imports into another hub as the same listings")
    func hsdsRoundTrip() async throws {
        try await withTestApplication { app in
            let source = try await app.fixtures.tenant(
                .hub, name: "Source Hub",
                listings: [
                    ListingDraft(
                        name: "Advising", description: "1:1", services: ["plan review"], serviceAreas: ["Alameda"],
                        categories: ["Startups"], eligibility: "CA businesses",
                        contact: ListingContact(name: "Desk", email: "desk@source.test", phone: "+1 510 555 0100", url: "https://source.test"),
                        acceptingReferrals: true),
                    ListingDraft(name: "Paused", serviceAreas: ["Marin"], acceptingReferrals: false, published: false),
                ])
            let target = try await app.fixtures.tenant(.hub)
            let export = try await app.request(.get, "/v1/listings/export", token: source.admin.token)
            #expect(export.status == .ok)
            let dryRun = try await app.request(.post, "/v1/listings/import?dry_run=true", token: target.admin.token, json: export.text)
            #expect(dryRun.json?["imported"] as? Int == 2)
            let afterDryRun = try await app.request(.get, "/v1/listings", token: target.admin.token)
            #expect((afterDryRun.json?["items"] as? [Any])?.isEmpty == true)
            let imported = try await app.request(.post, "/v1/listings/import", token: target.admin.token, json: export.text)
            #expect(imported.status == .created)
            let items = try #require(imported.json?["items"] as? [[String: Any]])
            func comparable(_ item: [String: Any]) -> [String] {
                ["name", "description", "services", "service_areas", "categories", "eligibility", "contact", "accepting_referrals", "published"]
                    .map { key in
                        guard let value = item[key], JSONSerialization.isValidJSONObject([value]),
                            let data = try? JSONSerialization.data(withJSONObject: [value], options: [.sortedKeys])
                        else { return "nil" }
                        return String(decoding: data, as: UTF8.self)
                    }
            }
            let original = try #require((try await app.request(.get, "/v1/listings", token: source.admin.token)).json?["items"] as? [[String: Any]])
            #expect(items.map(comparable) == original.map(comparable))
        }
    }

    @Test("units gain and lose members of their own tenant only")
    func units() async throws {
        try await withTestApplication { app in
            let hub = try await app.fixtures.tenant(.hub, users: [[.advisor]])
            let other = try await app.fixtures.tenant(.hub, users: [[.advisor]])
            let unit = try await app.request(.post, "/v1/units", token: hub.admin.token, json: #"{"name":"B2B"}"#)
            let unitID = try #require(unit.json?["id"] as? String)
            let advisor = hub.users[0].user.id
            let added = try await app.request(.put, "/v1/units/\(unitID)/members/\(advisor)", token: hub.admin.token)
            #expect(added.json?["member_ids"] as? [String] == [advisor.description])
            // Adding twice is harmless; a user of another tenant is not found.
            #expect(try await app.request(.put, "/v1/units/\(unitID)/members/\(advisor)", token: hub.admin.token).status == .ok)
            #expect(try await app.request(.put, "/v1/units/\(unitID)/members/\(other.users[0].user.id)", token: hub.admin.token).status == .notFound)
            #expect(try await app.request(.delete, "/v1/units/\(unitID)/members/\(advisor)", token: hub.admin.token).status == .noContent)
            let renamed = try await app.request(.patch, "/v1/units/\(unitID)", token: hub.admin.token, json: #"{"name":"Retail"}"#)
            #expect(renamed.json?["member_ids"] as? [String] == [])
            #expect(renamed.json?["name"] as? String == "Retail")
        }
    }
}
