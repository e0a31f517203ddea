import Crypto
import Foundation

/// A referral's evidence as one signed JSON document that anyone can check offline: the listing
/// it went to (HSDS), the referral as a FHIR Task with its ServiceRequest and organisations, the
/// target lead's hash-chained history, a SHA-256 digest of each part, and the chain owner's
/// Ed25519 signature over all of it.
///
/// The document is written in canonical JSON (`JSONValue.canonical`: no whitespace, sorted keys),
/// and the signature covers the canonical form of everything but the `signature` member, so a
/// change to any byte of the file either breaks its JSON or changes a value the signature covers.
public enum EvidenceBundle {
    public static let format = "hubnet-evidence/1"
    /// The parts with a digest each, in the order a verifier reports them.
    public static let parts = ["referral", "listing", "task", "serviceRequest", "organizations", "history"]

    /// The referral's own facts: who sent it to whom, when, and which lead holds the history.
    public struct Facts: Codable, Sendable, Equatable {
        public var id: String
        public var sourceOrganization: String
        public var targetOrganization: String
        public var targetKind: String
        public var targetListing: String?
        public var targetLead: String
        public var createdAt: String
    }

    /// One history entry with every field its hash covers, times at the stored microsecond.
    public struct Entry: Codable, Sendable, Equatable {
        public var seq: Int
        public var action: String
        public var fromStatus: String?
        public var toStatus: String
        public var actor: String?
        public var reason: String?
        public var at: String
        public var previousHash: String
        public var hash: String
    }

    public struct History: Codable, Sendable, Equatable {
        public var lead: String
        public var entries: [Entry]
        /// The last entry's hash (the genesis hash when there is none): what the chain commits to.
        public var head: String
    }

    /// Everything the bundle states, before it is signed.
    public struct Content: Sendable {
        public var referral: Referral
        public var source: Tenant
        public var target: Tenant
        /// The HSDS form of the listing a referral to a listing went to.
        public var listing: HSDS.Service?
        public var history: [LeadHistoryEntry]
        public var issuedAt: Date

        public init(referral: Referral, source: Tenant, target: Tenant, listing: HSDS.Service?, history: [LeadHistoryEntry], issuedAt: Date) {
            self.referral = referral
            self.source = source
            self.target = target
            self.listing = listing
            self.history = history
            self.issuedAt = issuedAt
        }
    }

    /// The public half of a signing key, named by the first 16 hex digits of its SHA-256.
    public static func keyID(_ publicKey: some DataProtocol) -> String {
        String(Hex.lowercase(SHA256.hash(data: publicKey)).prefix(16))
    }

    /// The signed document's bytes (canonical JSON), signed by `key` on behalf of `signer`.
    public static func make(_ content: Content, signer: Tenant.ID, key: Curve25519.Signing.PrivateKey) throws -> [UInt8] {
        let referral = content.referral
        let facts = Facts(
            id: referral.id.description, sourceOrganization: "Organization/\(referral.sourceTenantID)",
            targetOrganization: "Organization/\(referral.targetTenantID)", targetKind: referral.targetKind.rawValue,
            targetListing: referral.targetListingID?.description, targetLead: referral.targetLeadID.description,
            createdAt: Timestamp.rfc3339(referral.createdAt))
        let entries = content.history.map { entry in
            Entry(
                seq: entry.seq, action: entry.action, fromStatus: entry.fromStatus, toStatus: entry.toStatus,
                actor: entry.actorUserID?.description, reason: entry.reason, at: Timestamp.rfc3339(entry.at),
                previousHash: Hex.lowercase(entry.previousHash), hash: Hex.lowercase(entry.hash))
        }
        let history = History(
            lead: referral.targetLeadID.description, entries: entries,
            head: Hex.lowercase(content.history.last?.hash ?? LeadHistoryEntry.genesis))
        var members: [String: JSONValue] = [
            "format": .string(format),
            "issuedAt": .string(Timestamp.rfc3339(content.issuedAt)),
            "referral": try JSONValue.from(facts),
            "listing": try content.listing.map { try JSONValue.from($0) } ?? .null,
            "task": try JSONValue.from(ReferralTask.task(referral, source: content.source, target: content.target)),
            "serviceRequest": try JSONValue.from(
                ReferralTask.serviceRequest(referral, source: content.source, target: content.target, listingName: content.listing?.name)),
            "organizations": try JSONValue.from([ReferralTask.organization(content.source), ReferralTask.organization(content.target)]),
            "history": try JSONValue.from(history),
        ]
        var digests: [String: JSONValue] = [:]
        for part in parts { digests[part] = .string(digest(members[part] ?? .null)) }
        members["digests"] = .object(digests)
        members["signedBy"] = .string("Organization/\(signer)")
        let unsigned = JSONValue.object(members)
        let publicKey = key.publicKey.rawRepresentation
        let signature = try key.signature(for: unsigned.canonical)
        members["signature"] = .object([
            "algorithm": .string("Ed25519"),
            "keyId": .string(keyID(publicKey)),
            "publicKey": .string(publicKey.base64EncodedString()),
            "value": .string(Data(signature).base64EncodedString()),
        ])
        return JSONValue.object(members).canonical
    }

    static func digest(_ value: JSONValue) -> String {
        Hex.lowercase(SHA256.hash(data: value.canonical))
    }
}
