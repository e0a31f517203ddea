import Foundation

/// The wire form of a mutation, strict in what it accepts: a mutation it cannot read is refused
/// with a `DomainError` naming the field, which the server turns into that mutation's `rejected`
/// outcome (the rest of the batch proceeds).
///
/// | name | fields besides `id`, `name`, `lead_id`, `acted_at`?, `version`? |
/// |---|---|
/// | `lead.action` | `action`, `arguments`? {`reason`, `status`, `listing_id`, `advisor_id`, `assignee_id`, `create_opportunity`, `opportunity_id`} |
/// | `lead.update` | `changes` [{`field`, `from`, `to`}] (1 to 20), `base_version`? |
/// | `note.add` | `record_id`, `body` |
/// | `activity.schedule` | `record_id`, `kind` (call, meeting, email, task), `title`, `due_at`? |
/// | `activity.complete`, `activity.cancel` | `record_id` |
/// | `referral.create` | `partner_id`, `expires_at`? |
///
/// Times are integer microseconds since 1970 within the years 1 to 9999. An unknown `name` or
/// `version` is `unsupported`; a missing, unknown or malformed field is `invalid_value`.
extension Mutation: Codable {
    struct Key: CodingKey, Hashable {
        var stringValue: String
        var intValue: Int? { nil }
        init(_ name: String) { stringValue = name }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    static let commonFields: Set<String> = ["id", "name", "lead_id", "acted_at", "version"]

    /// The fields each name may carry besides the common ones.
    public static func fields(of name: Name) -> Set<String> {
        switch name {
        case .leadAction: ["action", "arguments"]
        case .leadUpdate: ["changes", "base_version"]
        case .noteAdd: ["record_id", "body"]
        case .activitySchedule: ["record_id", "kind", "title", "due_at"]
        case .activityComplete, .activityCancel: ["record_id"]
        case .referralCreate: ["partner_id", "expires_at"]
        }
    }

    /// Every field each name may carry, common ones included: built once, read for every mutation.
    static let allowedFields: [Name: Set<String>] = Dictionary(
        uniqueKeysWithValues: Name.allCases.map { ($0, commonFields.union(fields(of: $0))) })

    /// The most field edits one `lead.update` may carry.
    public static let maximumChanges = 20

    public init(from decoder: any Decoder) throws {
        let wire = try WireObject(decoder, path: "")
        id = try wire.require("id", Int64.self)
        let nameText = try wire.require("name", String.self)
        guard let name = Name(rawValue: nameText) else {
            throw DomainError(
                kind: .invalid, code: "unsupported",
                message: "name: this server does not know the mutation '\(nameText.prefix(64))'; it knows "
                    + Name.allCases.map(\.rawValue).joined(separator: ", "),
                field: "name")
        }
        if let version = try wire.optional("version", Int.self), !Self.supportedVersions.contains(version) {
            throw DomainError(
                kind: .invalid, code: "unsupported",
                message: "version: this server reads version \(Self.supportedVersions.map(String.init).joined(separator: ", ")) of \(name.rawValue), not \(version)",
                field: "version")
        }
        try wire.refuseUnknownKeys(allowed: Self.allowedFields[name] ?? Self.commonFields, of: name.rawValue)
        leadId = try wire.require("lead_id", Lead.ID.self)
        actedAt = try wire.optional("acted_at", Int64.self)
        if let actedAt { _ = try Timestamp.date(micros: actedAt, field: "acted_at") }
        switch name {
        case .leadAction:
            let action = try wire.require("action", String.self)
            guard Self.isKey(action) else { throw DomainError.invalidValue("action", "must be an action key") }
            var arguments = ActionArguments()
            if let nested = try wire.object("arguments") {
                try nested.refuseUnknownKeys(allowed: Set(ActionArguments.CodingKeys.allCases.map(\.rawValue)), of: "arguments")
                arguments.reason = try nested.optional("reason", String.self)
                arguments.status = try nested.optional("status", String.self)
                if let status = arguments.status, !Self.isKey(status) { throw DomainError.invalidValue("arguments.status", "must be a status key") }
                arguments.listingId = try nested.optional("listing_id", Listing.ID.self)
                arguments.advisorId = try nested.optional("advisor_id", User.ID.self)
                arguments.assigneeId = try nested.optional("assignee_id", User.ID.self)
                arguments.createOpportunity = try nested.optional("create_opportunity", Bool.self)
                arguments.opportunityId = try nested.optional("opportunity_id", Opportunity.ID.self)
            }
            intent = .act(LeadAction(action, arguments))
        case .leadUpdate:
            let baseVersion = try wire.optional("base_version", Int.self)
            if let baseVersion, !(1...Int(Int32.max)).contains(baseVersion) {
                throw DomainError.invalidValue("base_version", "must be a version of the lead (1 or more)")
            }
            let changes = try wire.edits("changes")
            guard (1...Self.maximumChanges).contains(changes.count) else {
                throw DomainError.invalidValue("changes", "must hold 1 to \(Self.maximumChanges) field edits")
            }
            intent = .update(LeadUpdate(baseVersion: baseVersion, changes: changes))
        case .noteAdd:
            intent = .addNote(id: LeadNote.ID(try wire.require("record_id", UUID.self)), body: try wire.require("body", String.self))
        case .activitySchedule:
            let kindText = try wire.require("kind", String.self)
            guard let kind = LeadActivity.Kind(rawValue: kindText) else {
                throw DomainError.invalidValue(
                    "kind", "must be one of \(LeadActivity.Kind.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            let dueAt = try wire.optional("due_at", Int64.self).map { (micros) throws(DomainError) in
                try Timestamp.date(micros: micros, field: "due_at")
            }
            intent = .scheduleActivity(
                ActivitySchedule(
                    id: LeadActivity.ID(try wire.require("record_id", UUID.self)), kind: kind, title: try wire.require("title", String.self),
                    dueAt: dueAt))
        case .activityComplete:
            intent = .completeActivity(LeadActivity.ID(try wire.require("record_id", UUID.self)))
        case .activityCancel:
            intent = .cancelActivity(LeadActivity.ID(try wire.require("record_id", UUID.self)))
        case .referralCreate:
            let expiresAt = try wire.optional("expires_at", Int64.self).map { (micros) throws(DomainError) in
                try Timestamp.date(micros: micros, field: "expires_at")
            }
            intent = .refer(ReferralRequest(partnerId: try wire.require("partner_id", Tenant.ID.self), expiresAt: expiresAt))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Key.self)
        try container.encode(id, forKey: Key("id"))
        try container.encode(name.rawValue, forKey: Key("name"))
        try container.encode(leadId, forKey: Key("lead_id"))
        try container.encodeIfPresent(actedAt, forKey: Key("acted_at"))
        switch intent {
        case .act(let action):
            try container.encode(action.action, forKey: Key("action"))
            if action.arguments != ActionArguments() { try container.encode(action.arguments, forKey: Key("arguments")) }
        case .update(let update):
            try container.encode(update.changes, forKey: Key("changes"))
            try container.encodeIfPresent(update.baseVersion, forKey: Key("base_version"))
        case .addNote(let id, let body):
            try container.encode(id.rawValue, forKey: Key("record_id"))
            try container.encode(body, forKey: Key("body"))
        case .scheduleActivity(let schedule):
            try container.encode(schedule.id.rawValue, forKey: Key("record_id"))
            try container.encode(schedule.kind.rawValue, forKey: Key("kind"))
            try container.encode(schedule.title, forKey: Key("title"))
            try container.encodeIfPresent(schedule.dueAt?.micros, forKey: Key("due_at"))
        case .completeActivity(let id), .cancelActivity(let id):
            try container.encode(id.rawValue, forKey: Key("record_id"))
        case .refer(let request):
            try container.encode(request.partnerId, forKey: Key("partner_id"))
            try container.encodeIfPresent(request.expiresAt?.micros, forKey: Key("expires_at"))
        }
    }
}


extension Mutation {
    /// A template's key as a device may name it: 1–64 bytes of visible characters, no spaces and no
    /// control characters (a NUL byte would not even reach the database as text).
    static func isKey(_ value: String) -> Bool {
        !value.isEmpty && value.utf8.count <= 64
            && !value.unicodeScalars.contains { $0.value < 0x21 || $0.value == 0x7F || $0.properties.isWhitespace }
    }
}
extension DomainError {
    /// A value of a mutation (or another wire record) that cannot be used, naming its field.
    public static func invalidValue(_ field: String, _ message: String) -> DomainError {
        DomainError(kind: .invalid, code: "invalid_value", message: "\(field): \(message)", field: field)
    }
}

/// A JSON object read member by member, every failure a `DomainError` naming the member's path.
struct WireObject {
    let container: KeyedDecodingContainer<Mutation.Key>
    let path: String

    init(_ decoder: any Decoder, path: String) throws(DomainError) {
        do {
            container = try decoder.container(keyedBy: Mutation.Key.self)
        } catch {
            throw DomainError.invalidValue(path.isEmpty ? "mutation" : path, "must be a JSON object")
        }
        self.path = path
    }

    init(_ container: KeyedDecodingContainer<Mutation.Key>, path: String) {
        self.container = container
        self.path = path
    }

    func field(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    func require<Value: Decodable>(_ key: String, _ type: Value.Type) throws(DomainError) -> Value {
        guard let value = try optional(key, type) else { throw DomainError.invalidValue(field(key), "is required") }
        return value
    }

    func optional<Value: Decodable>(_ key: String, _ type: Value.Type) throws(DomainError) -> Value? {
        let key = Mutation.Key(key)
        do {
            guard container.contains(key), try !container.decodeNil(forKey: key) else { return nil }
            return try container.decode(type, forKey: key)
        } catch {
            throw DomainError.invalidValue(field(key.stringValue), "must be \(Self.describe(type))")
        }
    }

    func object(_ key: String) throws(DomainError) -> WireObject? {
        let codingKey = Mutation.Key(key)
        do {
            guard container.contains(codingKey), try !container.decodeNil(forKey: codingKey) else { return nil }
            return WireObject(try container.nestedContainer(keyedBy: Mutation.Key.self, forKey: codingKey), path: field(key))
        } catch {
            throw DomainError.invalidValue(field(key), "must be a JSON object")
        }
    }

    /// `[{field, from, to}]`, each entry checked.
    func edits(_ key: String) throws(DomainError) -> [LeadFieldEdit] {
        let codingKey = Mutation.Key(key)
        var list: UnkeyedDecodingContainer
        do {
            guard container.contains(codingKey) else { throw DomainError.invalidValue(field(key), "is required") }
            list = try container.nestedUnkeyedContainer(forKey: codingKey)
        } catch let error as DomainError {
            throw error
        } catch {
            throw DomainError.invalidValue(field(key), "must be an array of field edits")
        }
        var edits: [LeadFieldEdit] = []
        while !list.isAtEnd {
            let path = "\(field(key))[\(edits.count)]"
            guard edits.count < Mutation.maximumChanges else { throw DomainError.invalidValue(field(key), "holds too many edits") }
            let entry: WireObject
            do {
                entry = WireObject(try list.nestedContainer(keyedBy: Mutation.Key.self), path: path)
            } catch {
                throw DomainError.invalidValue(path, "must be a JSON object")
            }
            try entry.refuseUnknownKeys(allowed: ["field", "from", "to"], of: "a field edit")
            let name = try entry.require("field", String.self)
            guard let leadField = LeadField(rawValue: name) else {
                throw DomainError.invalidValue(
                    entry.field("field"), "is not an editable field; use one of \(LeadField.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            edits.append(LeadFieldEdit(field: leadField, from: try entry.optional("from", String.self), to: try entry.optional("to", String.self)))
        }
        return edits
    }

    /// An unknown member is refused: a misspelled optional field must not vanish silently.
    func refuseUnknownKeys(allowed: Set<String>, of what: String) throws(DomainError) {
        // The first unknown key in sorted order, so the answer does not depend on the body's key order.
        if let unknown = container.allKeys.lazy.map(\.stringValue).filter({ !allowed.contains($0) }).min() {
            throw DomainError.invalidValue(
                field(String(unknown.prefix(64))), "is not a field of \(what); expected \(allowed.sorted().joined(separator: ", "))")
        }
    }

    static func describe(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Bool.Type: "true or false"
        case is Int64.Type: "a whole number from -9223372036854775808 to 9223372036854775807"
        case is Int.Type: "a whole number"
        case is UUID.Type, is Lead.ID.Type, is User.ID.Type, is Listing.ID.Type, is Opportunity.ID.Type, is Tenant.ID.Type:
            "an id (a UUID)"
        default: "of another type"
        }
    }
}
