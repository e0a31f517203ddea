import Crypto
import Foundation

/// What checking an evidence bundle found: each check with its result, and in plain words what, if
/// anything, was altered. `hubnet verify FILE` prints it.
public struct EvidenceVerification: Sendable, Encodable, Equatable {
    public struct Check: Sendable, Encodable, Equatable {
        public var name: String
        public var ok: Bool
        public var detail: String
    }

    /// True when every check passed.
    public var intact: Bool { !checks.isEmpty && checks.allSatisfy(\.ok) }
    public var checks: [Check] = []
    /// The signing key's id and signer, when the bundle names them.
    public var keyID: String?
    public var signer: String?
    public var referral: String?
    public var entries: Int?

    enum CodingKeys: String, CodingKey { case intact, checks, keyID = "keyId", signer, referral, entries }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(intact, forKey: .intact)
        try container.encode(checks, forKey: .checks)
        try container.encodeIfPresent(keyID, forKey: .keyID)
        try container.encodeIfPresent(signer, forKey: .signer)
        try container.encodeIfPresent(referral, forKey: .referral)
        try container.encodeIfPresent(entries, forKey: .entries)
    }

    mutating func record(_ name: String, _ ok: Bool, _ detail: String) {
        checks.append(Check(name: name, ok: ok, detail: detail))
    }

    /// Checks a bundle's bytes offline: its JSON, the history chain entry by entry, each part's
    /// digest, and the signature; with `trustedKey` (the signer's published public key, raw or
    /// base64), also that the bundle was signed by that key and not by one put in its place.
    public static func verify(_ bytes: [UInt8], trustedKey: [UInt8]? = nil) -> EvidenceVerification {
        var result = EvidenceVerification()
        let root: JSONValue
        do {
            root = try JSONValue.parse(bytes)
        } catch {
            result.record("json", false, "the file is not one JSON document without duplicate keys (\(error.message))")
            return result
        }
        guard case .object = root, root["format"]?.stringValue == EvidenceBundle.format else {
            result.record("format", false, "the file is not a \(EvidenceBundle.format) bundle")
            return result
        }
        result.record("format", true, EvidenceBundle.format)
        result.referral = root["referral"]?["id"]?.stringValue
        result.checkHistory(root["history"])
        result.checkDigests(root)
        result.checkSignature(root, trustedKey: trustedKey)
        return result
    }

    private mutating func checkHistory(_ history: JSONValue?) {
        guard let history, let leadText = history["lead"]?.stringValue, let lead = Lead.ID(string: leadText),
            let entries = history["entries"]?.arrayValue, let head = history["head"]?.stringValue
        else {
            record("history", false, "the history part is missing or malformed")
            return
        }
        self.entries = entries.count
        var previous = Hex.lowercase(LeadHistoryEntry.genesis)
        var problems: [String] = []
        for (index, entry) in entries.enumerated() {
            guard let seq = entry["seq"]?.integerValue, let action = entry["action"]?.stringValue,
                let to = entry["toStatus"]?.stringValue, let atText = entry["at"]?.stringValue,
                let at = Timestamp.micros(rfc3339: atText), let previousHash = entry["previousHash"]?.stringValue,
                let hash = entry["hash"]?.stringValue, let number = Int(exactly: seq)
            else {
                problems.append("entry \(index + 1) is malformed")
                continue
            }
            let actorText = entry["actor"]?.stringValue
            let actor = actorText.flatMap(User.ID.init(string:))
            if actorText != nil, actor == nil { problems.append("entry \(number) names an actor that is not an id") }
            let expected = Hex.lowercase(
                LeadHistoryEntry.chainHash(
                    previous: Array(previousHash.utf8).count == 64 ? Self.bytes(hex: previousHash) : [],
                    LeadHistoryEntry.canonical(
                        lead: lead, seq: number, action: action, fromStatus: entry["fromStatus"]?.stringValue, toStatus: to,
                        actorUserID: actor, reason: entry["reason"]?.stringValue, atMicros: at)))
            if hash != expected {
                problems.append("entry \(number) (\(action)) was altered: its hash does not follow from its fields")
            }
            if previousHash != previous {
                problems.append("entry \(number) does not follow the entry before it (one was removed, inserted or reordered)")
            }
            previous = hash
        }
        if head != previous { problems.append("the chain head is not the last entry's hash") }
        record(
            "history", problems.isEmpty,
            problems.isEmpty ? "\(entries.count) entries chained from the genesis hash to the head \(head.prefix(16))…" : problems.joined(separator: "; "))
    }

    private mutating func checkDigests(_ root: JSONValue) {
        var altered: [String] = []
        for part in EvidenceBundle.parts {
            let stated = root["digests"]?[part]?.stringValue
            if stated != EvidenceBundle.digest(root[part] ?? .null) { altered.append(part) }
        }
        record(
            "digests", altered.isEmpty,
            altered.isEmpty
                ? "every part matches its SHA-256 digest"
                : "altered after the bundle was made: \(altered.joined(separator: ", ")) (the digest no longer matches)")
    }

    private mutating func checkSignature(_ root: JSONValue, trustedKey: [UInt8]?) {
        let signature = root["signature"]
        signer = root["signedBy"]?.stringValue
        // Base64 in its one canonical spelling only (a decoder ignores the last character's spare
        // bits, so two texts could decode alike).
        guard signature?["algorithm"]?.stringValue == "Ed25519", let keyText = signature?["publicKey"]?.stringValue,
            let keyBytes = Data(base64Encoded: keyText), keyBytes.base64EncodedString() == keyText,
            let valueText = signature?["value"]?.stringValue, let value = Data(base64Encoded: valueText),
            value.base64EncodedString() == valueText, let publicKey = try? Curve25519.Signing.PublicKey(rawRepresentation: keyBytes)
        else {
            record("signature", false, "the signature is missing or malformed")
            return
        }
        keyID = EvidenceBundle.keyID(keyBytes)
        let signed = root.removing("signature").canonical
        let valid = publicKey.isValidSignature(value, for: signed) && signature?["keyId"]?.stringValue == keyID
        record(
            "signature", valid,
            valid
                ? "Ed25519 signature by key \(keyID ?? "") (\(signer ?? "unnamed signer")) covers the whole bundle"
                : "the signature does not match: the bundle was altered after it was signed, or the signature itself was")
        if let trustedKey {
            let trusted = trustedKey.count == 32 ? trustedKey : Array(Data(base64Encoded: String(decoding: trustedKey, as: UTF8.self)) ?? Data())
            let same = Array(keyBytes) == trusted
            record(
                "trusted key", same,
                same ? "signed by the key you trust" : "signed by key \(keyID ?? ""), not by the key you trust (\(EvidenceBundle.keyID(trusted)))")
        }
    }

    static func bytes(hex: String) -> [UInt8] {
        var bytes: [UInt8] = []
        var high: UInt8?
        for character in hex.utf8 {
            let nibble: UInt8
            switch character {
            case 0x30...0x39: nibble = character - 0x30
            case 0x61...0x66: nibble = character - 0x61 + 10
            default: return []
            }
            if let h = high {
                bytes.append(h << 4 | nibble)
                high = nil
            } else {
                high = nibble
            }
        }
        return bytes
    }
}
