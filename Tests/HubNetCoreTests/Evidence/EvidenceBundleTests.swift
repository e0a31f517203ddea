import Crypto
import Foundation
import HubNetCore
import HubNetTestSupport
import PropertyBased
import Testing

@Suite("Evidence bundles")
struct EvidenceBundleTests {
    static let source = Tenant(id: Tenant.ID(), kind: .sourcingCompany, name: "Acme Sourcing", slug: "acme", createdAt: Date(micros: 1_700_000_000_000_000))
    static let target = Tenant(id: Tenant.ID(), kind: .partnerCompany, name: "Partner Seven", slug: "partner-7", createdAt: Date(micros: 1_700_000_000_000_000))

    /// A chain computed here, step by step with SHA-256, not by the code under test.
    static func chain(lead: Lead.ID, actions: [(String, String?, String)], actor: User.ID) -> [LeadHistoryEntry] {
        var previous = [UInt8](repeating: 0, count: 32)
        var entries: [LeadHistoryEntry] = []
        for (index, (action, from, to)) in actions.enumerated() {
            let at = Date(micros: 1_780_000_000_123_456 + Int64(index) * 3_600_000_000)
            let fields = [lead.description, String(index + 1), action, from ?? "", to, actor.description, "", String(at.micros)]
            let canonical = Array(fields.map { "\($0.utf8.count):\($0)" }.joined(separator: "|").utf8)
            let hash = Array(SHA256.hash(data: previous + canonical))
            entries.append(
                LeadHistoryEntry(
                    seq: index + 1, action: action, fromStatus: from, toStatus: to, actorUserID: actor, reason: nil, at: at,
                    previousHash: previous, hash: hash))
            previous = hash
        }
        return entries
    }

    static func bundle(key: Curve25519.Signing.PrivateKey = .init()) throws -> (bytes: [UInt8], key: Curve25519.Signing.PrivateKey, head: [UInt8]) {
        let lead = Lead.ID()
        let history = chain(
            lead: lead, actions: [("create", nil, "pending"), ("accept", "pending", "accepted"), ("convert", "accepted", "closed_converted")],
            actor: User.ID())
        let referral = Referral(
            id: Referral.ID(), sourceTenantID: source.id, sourceLeadID: Lead.ID(), targetTenantID: target.id, targetLeadID: lead,
            targetKind: .partner, targetListingID: nil, createdBy: User.ID(), createdAt: Date(micros: 1_780_000_000_000_000),
            status: "closed_converted", statusName: "Closed - Converted", lifeCycle: .won, stage: nil,
            firstActionAt: history[1].at, lastActionAt: history[2].at, acceptedAt: history[1].at, declinedAt: nil,
            completedAt: history[2].at, reason: nil, withdrawnAt: nil)
        let listing = HSDS.Service(
            id: "x", name: "Grants desk", description: "Help with grants", url: nil, email: nil, status: "active",
            eligibilityDescription: nil, organization: .init(name: target.name), serviceAreas: [.init(name: "Alameda")],
            phones: nil, contacts: nil, attributes: nil)
        let bytes = try EvidenceBundle.make(
            .init(referral: referral, source: source, target: target, listing: listing, history: history, issuedAt: Date(micros: 1_790_000_000_000_000)),
            signer: target.id, key: key)
        return (bytes, key, history[2].hash)
    }

    @Test("a bundle as made verifies: the chain recomputed, every digest, the signature checked with CryptoKit directly")
    func intact() throws {
        let (bytes, key, head) = try Self.bundle()
        let result = EvidenceVerification.verify(bytes, trustedKey: Array(key.publicKey.rawRepresentation))
        #expect(result.intact, "\(result.checks)")
        #expect(result.entries == 3)
        #expect(result.checks.map(\.name) == ["format", "history", "digests", "signature", "trusted key"])
        // Independently: the stated head is the chain's last hash, and the signature verifies over
        // the document without its signature member, re-serialised here with sorted keys.
        let object = try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
        let history = try #require(object["history"] as? [String: Any])
        #expect(history["head"] as? String == head.map { String(format: "%02x", $0) }.joined())
        let signature = try #require(object["signature"] as? [String: Any])
        var unsigned = object
        unsigned["signature"] = nil
        let signed = try JSONSerialization.data(withJSONObject: unsigned, options: [.sortedKeys, .withoutEscapingSlashes])
        let valueText = try #require(signature["value"] as? String)
        let value = try #require(Data(base64Encoded: valueText))
        #expect(key.publicKey.isValidSignature(value, for: signed))
        // No whitespace outside strings and no trailing newline: nothing in the file is free to change.
        #expect(bytes.last == UInt8(ascii: "}"))
    }

    @Test("a one-byte change anywhere in the bundle is detected")
    func everyByte() throws {
        let (bytes, _, _) = try Self.bundle()
        var undetected: [Int] = []
        for index in bytes.indices {
            var altered = bytes
            altered[index] ^= 0x01
            if EvidenceVerification.verify(altered).intact { undetected.append(index) }
        }
        #expect(undetected.isEmpty, "changes at \(undetected.prefix(10)) passed: \(undetected.prefix(3).map { String(decoding: bytes[max(0, $0 - 20)..<min(bytes.count, $0 + 20)], as: UTF8.self) })")
        #expect(bytes.count > 2_000)
    }

    @Test("the verifier names what was altered: a history entry, a part, or the signer")
    func namesTheAlteration() throws {
        let (bytes, key, _) = try Self.bundle()
        let text = String(decoding: bytes, as: UTF8.self)
        let renamed = text.replacingOccurrences(of: #""action":"accept""#, with: #""action":"decline""#)
        #expect(renamed != text)
        let history = EvidenceVerification.verify(Array(renamed.utf8))
        #expect(history.checks.first { $0.name == "history" }?.ok == false)
        #expect(history.checks.first { $0.name == "history" }?.detail.contains("entry 2 (decline) was altered") == true)
        #expect(history.checks.first { $0.name == "digests" }?.detail.contains("history") == true)

        let listing = text.replacingOccurrences(of: "Grants desk", with: "Grants dusk")
        let listed = EvidenceVerification.verify(Array(listing.utf8))
        #expect(listed.checks.first { $0.name == "digests" }?.detail.contains("listing") == true)
        #expect(listed.checks.first { $0.name == "history" }?.ok == true)

        // Re-signed whole with another key: consistent in itself, caught only against the trusted key.
        let (resigned, _, _) = try Self.bundle(key: .init())
        #expect(EvidenceVerification.verify(resigned).intact)
        let pinned = EvidenceVerification.verify(resigned, trustedKey: Array(key.publicKey.rawRepresentation))
        #expect(!pinned.intact)
        #expect(pinned.checks.last?.name == "trusted key")
        #expect(pinned.checks.last?.ok == false)
    }

    @Test("the verifier reads any bytes without stopping and calls none of them intact")
    func hostileBytes() async {
        await propertyCheck(count: 500, input: Gen.uint64()) { seed in
            var input = HostileInput(seed: seed)
            let document = input.chance(50)
                ? Array(#"{"format":"hubnet-evidence/1","history":\#(input.value(depth: 3)),"signature":\#(input.value(depth: 2))}"#.utf8)
                : input.bytes(count: input.below(400))
            #expect(!EvidenceVerification.verify(document).intact)
        }
    }

    @Test("canonical JSON reads back to the same bytes, whatever the value")
    func canonicalRoundTrip() async throws {
        await propertyCheck(count: 500, input: Gen.uint64()) { seed in
            var input = HostileInput(seed: seed)
            guard let value = try? JSONValue.parse(Array(input.value(depth: 3).utf8)) else { return }
            let once = value.canonical
            let again = try? JSONValue.parse(once).canonical
            #expect(again == once, "\(String(decoding: once, as: UTF8.self))")
        }
        #expect(String(decoding: try JSONValue.parse(Array(#"{ "b": [1, 2.5, "x\n"], "a": null }"#.utf8)).canonical, as: UTF8.self) == #"{"a":null,"b":[1,2.5,"x\n"]}"#)
    }

    @Test("RFC 3339 times at the microsecond read back to the same microsecond, for every valid instant")
    func timesRoundTrip() async {
        await propertyCheck(count: 2_000, input: Gen.int64(in: Timestamp.validMicros)) { micros in
            let text = Timestamp.rfc3339(micros: micros)
            #expect(Timestamp.micros(rfc3339: text) == micros, "\(micros) → \(text)")
        }
        #expect(Timestamp.rfc3339(micros: 0) == "1970-01-01T00:00:00Z")
        #expect(Timestamp.rfc3339(micros: 951_782_400_000_250) == "2000-02-29T00:00:00.000250Z")
        #expect(Timestamp.rfc3339(micros: Timestamp.validMicros.lowerBound) == "0001-01-01T00:00:00Z")
        // Only the one spelling: another offset or case names the instant, but not as written here.
        #expect(Timestamp.micros(rfc3339: "2000-02-29T00:00:00.000250Z") == 951_782_400_000_250)
        #expect(Timestamp.micros(rfc3339: "2000-02-29T01:00:00.000250+01:00") == nil)
        #expect(Timestamp.micros(rfc3339: "2000-02-29T00:00:00.00025Z") == nil)
    }
}
