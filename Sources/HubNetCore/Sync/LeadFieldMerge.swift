/// A lead field edited offline: the value the device saw and the value it set.
public struct LeadFieldEdit: Sendable, Codable, Equatable {
    public var field: LeadField
    public var from: String?
    public var to: String?

    public init(field: LeadField, from: String?, to: String?) {
        self.field = field
        self.from = from
        self.to = to
    }
}

/// An edit that lost: `kept` stayed on the lead, `yours` is the device's value, kept here.
public struct FieldConflict: Sendable, Codable, Equatable {
    public var field: LeadField
    public var yours: String?
    public var kept: String?

    public init(field: LeadField, yours: String?, kept: String?) {
        self.field = field
        self.yours = yours
        self.kept = kept
    }
}

/// The lead fields a device may edit, as text (probability as its decimal digits): the contact's,
/// every descriptive field of `LeadTextField.all`, and the probability to win.
public struct LeadField: RawRepresentable, Sendable, Hashable, Codable, CaseIterable, CustomStringConvertible {
    public let rawValue: String

    /// Only an editable field's name makes one.
    public init?(rawValue: String) {
        guard Self.allCases.contains(where: { $0.rawValue == rawValue }) else { return nil }
        self.rawValue = rawValue
    }

    private init(_ name: String) { self.rawValue = name }

    public init(_ field: LeadTextField) { self.rawValue = field.key }

    public static let name = LeadField("name")
    public static let email = LeadField("email")
    public static let phone = LeadField("phone")
    public static let city = LeadField("city")
    public static let region = LeadField("region")
    public static let request = LeadField("request")
    public static let type = LeadField("type")
    public static let category = LeadField("category")
    public static let priority = LeadField("priority")
    public static let importance = LeadField("importance")
    public static let probability = LeadField("probability")

    public static let allCases: [LeadField] =
        [.name, .email, .phone, .city, .region] + LeadTextField.all.map(LeadField.init) + [.probability]

    public var description: String { rawValue }

    public func value(in details: LeadDetails) -> String? {
        switch self {
        case .name: details.name
        case .email: details.email
        case .phone: details.phone
        case .city: details.city
        case .region: details.region
        case .probability: details.probability.map(String.init)
        default: LeadTextField.named(rawValue).flatMap { details.texts[$0] }
        }
    }

    public func set(_ value: String?, in details: inout LeadDetails) throws(DomainError) {
        let value = value?.isEmpty == true ? nil : value
        switch self {
        case .name:
            guard let value else { throw .invalid("name", "must not be empty") }
            details.name = value
        case .email: details.email = value
        case .phone: details.phone = value
        case .city: details.city = value
        case .region: details.region = value
        case .probability:
            guard let value else {
                details.probability = nil
                return
            }
            guard let number = Int(value) else { throw .invalid("probability", "must be a whole number from 0 to 100") }
            details.probability = number
        default:
            if let field = LeadTextField.named(rawValue) { details.texts[field] = value }
        }
    }
}

/// How offline edits of one lead merge with what reached the server first.
///
/// The rule, one for every field: **the first value to reach the server wins**. An edit applies when
/// the field still holds the value the device edited from, so concurrent edits of different fields
/// both survive. When someone else changed the same field meanwhile, the server keeps that value
/// and the device's value comes back as a `FieldConflict` (kept in the mutation's outcome) for its
/// user to see and, if they wish, apply again.
public enum LeadFieldMerge {
    /// Merges an update made on `baseVersion` (when the client sent it) into the lead as it is now.
    ///
    /// The rule for `base_version`: equal to the lead's current version, nobody changed the lead
    /// since the client saw it and the edits apply as they are; older, they merge field by field by
    /// their `from` values (below); newer than the lead has ever been, the client made it up and the
    /// update is refused (`invalid_value`, field `base_version`). Without it, the field rule alone.
    public static func merge(_ update: LeadUpdate, into current: LeadDetails, currentVersion: Int) throws(DomainError)
        -> (details: LeadDetails, conflicts: [FieldConflict])
    {
        if let base = update.baseVersion {
            guard base <= currentVersion else {
                throw DomainError.invalidValue(
                    "base_version", "the lead has never been at version \(base); it is at version \(currentVersion)")
            }
            if base == currentVersion {
                var details = current
                for (index, edit) in update.changes.enumerated() { try set(edit, at: index, in: &details) }
                return (details, [])
            }
        }
        return try merge(update.changes, into: current)
    }

    public static func merge(_ edits: [LeadFieldEdit], into current: LeadDetails) throws(DomainError)
        -> (details: LeadDetails, conflicts: [FieldConflict])
    {
        var details = current
        var conflicts: [FieldConflict] = []
        for (index, edit) in edits.enumerated() {
            let now = edit.field.value(in: current)
            if normalized(now) == normalized(edit.from) || normalized(now) == normalized(edit.to) {
                try set(edit, at: index, in: &details)
            } else {
                conflicts.append(FieldConflict(field: edit.field, yours: edit.to, kept: now))
            }
        }
        return (details, conflicts)
    }

    /// Sets one edit's value, a refusal naming the edit (`changes[2].to`).
    private static func set(_ edit: LeadFieldEdit, at index: Int, in details: inout LeadDetails) throws(DomainError) {
        do {
            try edit.field.set(edit.to, in: &details)
        } catch {
            throw DomainError(
                kind: .invalid, code: "invalid_value", message: "changes[\(index)].to: \(error.message)", field: "changes[\(index)].to")
        }
    }

    private static func normalized(_ value: String?) -> String? { value?.isEmpty == true ? nil : value }
}
