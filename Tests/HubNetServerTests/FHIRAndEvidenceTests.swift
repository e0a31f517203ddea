import Crypto
import Foundation
import HTTPTypes
import HubNetCore
import HubNetTestSupport
import HummingbirdTesting
import Testing

/// FHIR Task views and evidence bundles of real referrals, through the API, as both sides and a
/// stranger see them; the FHIR JSON validated by an independent implementation (fhir.resources).
@Suite("FHIR views and evidence bundles")
struct FHIRAndEvidenceTests {
    let leadBody = #"{"contact":{"name":"Nia Brooks","email":"nia@studio.test","city":"Berkeley"},"request":"Grant help"}"#

    /// Validates FHIR documents with the fhir.resources models (scripts/test installs them).
    static func validateFHIR(_ documents: [String: [UInt8]]) throws -> (ok: Bool, output: String) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("fhir-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        var paths: [String] = []
        for (name, bytes) in documents.sorted(by: { $0.key < $1.key }) {
            let url = directory.appendingPathComponent("\(name).json")
            try Data(bytes).write(to: url)
            paths.append(url.path)
        }
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("FHIR/validate_fhir.py").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script] + paths
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus == 0, output)
    }

    @Test("GET /fhir/Task/{id}: both sides read the same Task as the partner acts; a stranger gets a FHIR not-found; every document validates as FHIR R4")
    func taskViews() async throws {
        try await withTestApplication { app in
            let sourcing = try await app.fixtures.tenant(.sourcingCompany, name: "Acme Sourcing", users: [[.partnerUser]])
            let partner = try await app.fixtures.tenant(.partnerCompany, name: "Partner Seven", users: [[.partnerUser]])
            let stranger = try await app.fixtures.tenant(.partnerCompany, users: [[.partnerUser]])
            let token = sourcing.users[0].token
            let partnerToken = partner.users[0].token
            var documents: [String: [UInt8]] = [:]

            let lead = try #require((try await app.request(.post, "/v1/leads", token: token, json: leadBody)).json?["id"] as? String)
            let referred = try await app.request(.post, "/v1/leads/\(lead)/referrals", token: token, json: #"{"partner_id":"\#(partner.tenant.id)"}"#)
            let referral = try #require(referred.json?["id"] as? String)

            func task(_ token: String) async throws -> [String: Any] {
                let response = try await app.request(.get, "/fhir/Task/\(referral)", token: token)
                #expect(response.status == .ok, "\(response.text)")
                #expect(response.headers[.contentType]?.hasPrefix("application/fhir+json") == true)
                return try #require(response.json)
            }
            let requested = try await task(token)
            #expect(requested["resourceType"] as? String == "Task")
            #expect(requested["status"] as? String == "requested")
            #expect((requested["owner"] as? [String: Any])?["reference"] as? String == "Organization/\(partner.tenant.id)")
            #expect((requested["requester"] as? [String: Any])?["reference"] as? String == "Organization/\(sourcing.tenant.id)")
            #expect((requested["businessStatus"] as? [String: Any])?["text"] as? String == "Pending")
            // The Task names no person: the lead's contact stays in the leads.
            let requestedText = try #require(String(data: try JSONSerialization.data(withJSONObject: requested), encoding: .utf8))
            #expect(!requestedText.contains("Nia") && !requestedText.contains("nia@"))
            documents["task-requested"] = Array((try await app.request(.get, "/fhir/Task/\(referral)", token: token)).text.utf8)

            // The target reads the same Task by the referral's id.
            #expect(NSDictionary(dictionary: try await task(partnerToken)).isEqual(to: requested))

            let partnerLead = try #require(
                ((try await app.request(.get, "/v1/leads", token: partnerToken)).json?["items"] as? [[String: Any]])?.first?["id"] as? String)
            _ = try await app.request(.post, "/v1/leads/\(partnerLead)/actions/accept", token: partnerToken, json: "{}")
            let accepted = try await task(token)
            #expect(accepted["status"] as? String == "accepted")
            #expect((accepted["executionPeriod"] as? [String: Any])?["start"] != nil)
            documents["task-accepted"] = Array((try await app.request(.get, "/fhir/Task/\(referral)", token: partnerToken)).text.utf8)

            // A second referral, declined: rejected, with the reason.
            let second = try #require((try await app.request(.post, "/v1/leads", token: token, json: leadBody)).json?["id"] as? String)
            let declinedReferral = try #require(
                (try await app.request(.post, "/v1/leads/\(second)/referrals", token: token, json: #"{"partner_id":"\#(partner.tenant.id)"}"#)).json?["id"] as? String)
            let incoming = try #require((try await app.request(.get, "/v1/leads?status=pending", token: partnerToken)).json?["items"] as? [[String: Any]])
            let secondLead = try #require(incoming.first?["id"] as? String)
            _ = try await app.request(.post, "/v1/leads/\(secondLead)/actions/decline", token: partnerToken, json: #"{"reason":"not our sector"}"#)
            let rejected = try #require((try await app.request(.get, "/fhir/Task/\(declinedReferral)", token: token)).json)
            #expect(rejected["status"] as? String == "rejected")
            #expect((rejected["statusReason"] as? [String: Any])?["text"] as? String == "not our sector")

            // Search: by owner and status, with the ServiceRequests and organisations included.
            let search = try await app.request(.get, "/fhir/Task?owner=Organization/\(partner.tenant.id)&status=rejected,accepted", token: token)
            #expect(search.status == .ok, "\(search.text)")
            let entries = try #require(search.json?["entry"] as? [[String: Any]])
            let matches = entries.filter { ($0["search"] as? [String: Any])?["mode"] as? String == "match" }
            #expect(Set(matches.compactMap { ($0["resource"] as? [String: Any])?["id"] as? String }) == [referral, declinedReferral])
            let includedTypes = entries.filter { ($0["search"] as? [String: Any])?["mode"] as? String == "include" }
                .compactMap { ($0["resource"] as? [String: Any])?["resourceType"] as? String }
            #expect(includedTypes.filter { $0 == "ServiceRequest" }.count == 2)
            #expect(includedTypes.filter { $0 == "Organization" }.count == 2)
            documents["search"] = Array(search.text.utf8)
            let onlyRejected = try await app.request(.get, "/fhir/Task?status=rejected", token: partnerToken)
            let rejectedMatches = (onlyRejected.json?["entry"] as? [[String: Any]])?.filter { ($0["search"] as? [String: Any])?["mode"] as? String == "match" }
            #expect(rejectedMatches?.count == 1, "\(onlyRejected.text)")
            // Paging: one Task per page, the next link leads to the other, then no further link.
            let firstPage = try await app.request(.get, "/fhir/Task?_count=1", token: token)
            let next = try #require(((firstPage.json?["link"] as? [[String: Any]])?.first { $0["relation"] as? String == "next" })?["url"] as? String)
            let nextURL = try #require(URLComponents(string: next))
            let nextQuery = try #require(nextURL.percentEncodedQuery)
            let nextPath = nextURL.path + "?" + nextQuery
            let secondPage = try await app.request(.get, nextPath, token: token)
            let pageIDs = [firstPage, secondPage].flatMap { page in
                ((page.json?["entry"] as? [[String: Any]]) ?? []).filter { ($0["search"] as? [String: Any])?["mode"] as? String == "match" }
                    .compactMap { ($0["resource"] as? [String: Any])?["id"] as? String }
            }
            #expect(Set(pageIDs) == [referral, declinedReferral])
            #expect(pageIDs.count == 2)

            documents["service-request"] = Array((try await app.request(.get, "/fhir/ServiceRequest/\(referral)", token: token)).text.utf8)
            documents["organization"] = Array((try await app.request(.get, "/fhir/Organization/\(partner.tenant.id)", token: token)).text.utf8)
            #expect(try await app.request(.get, "/fhir/Organization/\(stranger.tenant.id)", token: token).status == .notFound)

            // A stranger: the same not-found as for an id that never existed, as an OperationOutcome.
            let hidden = try await app.request(.get, "/fhir/Task/\(referral)", token: stranger.users[0].token)
            let missing = try await app.request(.get, "/fhir/Task/\(UUID().uuidString.lowercased())", token: stranger.users[0].token)
            #expect(hidden.status == .notFound)
            #expect(hidden.json?["resourceType"] as? String == "OperationOutcome")
            #expect(hidden.text == missing.text)
            documents["not-found"] = Array(hidden.text.utf8)
            let unauthenticated = try await app.request(.get, "/fhir/Task/\(referral)")
            #expect(unauthenticated.status == .unauthorized)
            #expect(unauthenticated.json?["resourceType"] as? String == "OperationOutcome")
            let bad = try await app.request(.get, "/fhir/Task?status=bogus", token: token)
            #expect(bad.status == .badRequest || bad.status == .unprocessableContent, "\(bad.status)")
            #expect(((bad.json?["issue"] as? [[String: Any]])?.first?["expression"] as? [String])?.first == "status")

            let validation = try Self.validateFHIR(documents)
            #expect(validation.ok, "\(validation.output)")
            #expect(validation.output.contains("\(documents.count) of \(documents.count) FHIR documents valid"), "\(validation.output)")
        }
    }

    @Test("every status of the five templates, as a Task and a ServiceRequest, validates as FHIR R4")
    func everyTemplateStatusValidates() throws {
        let source = Tenant(id: Tenant.ID(), kind: .hub, name: "Referring Hub", slug: "referring", createdAt: Date())
        let target = Tenant(id: Tenant.ID(), kind: .hub, name: "Receiving Hub", slug: "receiving", createdAt: Date())
        let encoder = JSONEncoder()
        var documents: [String: [UInt8]] = [:]
        for template in BuiltInTemplates.all {
            for status in template.statuses {
                let created = Date(micros: 1_780_000_000_000_000)
                let referral = Referral(
                    id: Referral.ID(), sourceTenantID: source.id, sourceLeadID: Lead.ID(), targetTenantID: target.id, targetLeadID: Lead.ID(),
                    targetKind: .listing, targetListingID: Listing.ID(), createdBy: User.ID(), createdAt: created, status: status.key,
                    statusName: status.name, lifeCycle: status.lifeCycle, stage: status.stage, firstActionAt: created.addingTimeInterval(30),
                    lastActionAt: created.addingTimeInterval(90), acceptedAt: nil, declinedAt: nil,
                    completedAt: status.lifeCycle == .pending || status.lifeCycle == .inProgress ? nil : created.addingTimeInterval(90),
                    reason: "because", withdrawnAt: nil)
                documents["\(template.key)-\(status.key)-task"] = Array(try encoder.encode(ReferralTask.task(referral, source: source, target: target)))
                documents["\(template.key)-\(status.key)-request"] = Array(
                    try encoder.encode(ReferralTask.serviceRequest(referral, source: source, target: target, listingName: "Grants desk")))
            }
        }
        let validation = try Self.validateFHIR(documents)
        #expect(validation.ok, "\(validation.output)")
        #expect(documents.count > 40)
    }

    @Test("GET /v1/referrals/{id}/evidence: either side gets a bundle signed by the chain's owner that verifies against its published key; one changed byte is caught")
    func evidence() async throws {
        try await withTestApplication { app in
            let source = try await app.fixtures.tenant(.hub, name: "Referring Hub", users: [[.moderator]])
            let target = try await app.fixtures.tenant(
                .hub, name: "Receiving Hub", users: [[.moderator]], listings: [ListingDraft(name: "Grants desk", serviceAreas: ["Alameda"])])
            let stranger = try await app.fixtures.tenant(.hub)
            let lead = try #require((try await app.request(.post, "/v1/leads", token: source.users[0].token, json: leadBody)).json?["id"] as? String)
            _ = try await app.request(
                .post, "/v1/leads/\(lead)/actions/refer_external", token: source.users[0].token, json: #"{"listing_id":"\#(target.listings[0].id)"}"#)
            let referral = try #require(
                ((try await app.request(.get, "/v1/referrals", token: source.users[0].token)).json?["items"] as? [[String: Any]])?.first?["id"] as? String)
            let targetLead = try #require(
                ((try await app.request(.get, "/v1/leads", token: target.users[0].token)).json?["items"] as? [[String: Any]])?.first?["id"] as? String)
            _ = try await app.request(.post, "/v1/leads/\(targetLead)/actions/contact", token: target.users[0].token, json: "{}")
            _ = try await app.request(.post, "/v1/leads/\(targetLead)/actions/accept", token: target.users[0].token, json: "{}")

            // Before any bundle the target has no published key.
            #expect(try await app.request(.get, "/v1/organizations/\(target.tenant.id)/signing-key").status == .notFound)
            let response = try await app.request(.get, "/v1/referrals/\(referral)/evidence", token: source.users[0].token)
            #expect(response.status == .ok, "\(response.text)")
            #expect(response.headers[.contentDisposition]?.contains("evidence.json") == true)
            let bytes = Array(response.text.utf8)
            let bundle = try #require(response.json)

            // The published key, fetched without credentials, is the one that signed.
            let published = try await app.request(.get, "/v1/organizations/\(target.tenant.id)/signing-key")
            let publicKeyText = try #require(published.json?["public_key"] as? String)
            let publicKey = try #require(Data(base64Encoded: publicKeyText))
            let signature = try #require(bundle["signature"] as? [String: Any])
            #expect(bundle["signedBy"] as? String == "Organization/\(target.tenant.id)")
            #expect(signature["publicKey"] as? String == publicKey.base64EncodedString())
            let result = EvidenceVerification.verify(bytes, trustedKey: Array(publicKey))
            #expect(result.intact, "\(result.checks)")

            // Its history is the one the API shows, hash for hash; the listing is the HSDS service.
            let history = try #require((try await app.request(.get, "/v1/leads/\(targetLead)/history", token: target.users[0].token)).json?["items"] as? [[String: Any]])
            let entries = try #require((bundle["history"] as? [String: Any])?["entries"] as? [[String: Any]])
            #expect(entries.compactMap { $0["action"] as? String } == history.compactMap { $0["action"] as? String })
            #expect(entries.compactMap { $0["action"] as? String } == ["create", "contact", "accept"])
            #expect(entries.last?["hash"] as? String == history.last?["hash"] as? String, "\(history.last ?? [:])")
            #expect((bundle["listing"] as? [String: Any])?["name"] as? String == "Grants desk")
            #expect((bundle["task"] as? [String: Any])?["status"] as? String == "accepted")

            // The target gets a bundle over the same chain, signed with the same key.
            let fromTarget = try await app.request(.get, "/v1/referrals/\(referral)/evidence", token: target.users[0].token)
            #expect(EvidenceVerification.verify(Array(fromTarget.text.utf8), trustedKey: Array(publicKey)).intact)
            #expect(((fromTarget.json?["history"] as? [String: Any])?["head"] as? String) == ((bundle["history"] as? [String: Any])?["head"] as? String))
            // A stranger: not found, as for an unknown id.
            let hidden = try await app.request(.get, "/v1/referrals/\(referral)/evidence", token: stranger.admin.token)
            #expect(hidden.status == .notFound)
            #expect(hidden.text == (try await app.request(.get, "/v1/referrals/\(UUID().uuidString.lowercased())/evidence", token: stranger.admin.token)).text)

            // Change one byte of a hash in the middle of the file: caught, and named.
            let hash = try #require(entries[1]["hash"] as? String)
            let at = try #require(response.text.range(of: hash))
            var altered = response.text
            let position = altered.index(at.lowerBound, offsetBy: 10)
            altered.replaceSubrange(position...position, with: altered[position] == "0" ? "1" : "0")
            let tampered = EvidenceVerification.verify(Array(altered.utf8), trustedKey: Array(publicKey))
            #expect(!tampered.intact)
            #expect(tampered.checks.first { $0.name == "history" }?.ok == false)
        }
    }
}
