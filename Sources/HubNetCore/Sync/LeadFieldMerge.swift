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

/// The lead fields a device may edit, as text (probability as its decimal digits).
public enum LeadField: String, Sendable, Codable, CaseIterable {
    case name, email, phone, city, region, request, type, category, priority, importance, probability

    public func value(in details: LeadDetails) -> String? {
        switch self {
        case .name: details.name
        case .email: details.email
        case .phone: details.phone
        case .city: details.city
        case .region: details.region
        case .request: details.request
        case .type: details.type
        case .category: details.category
        case .priority: details.priority
        case .importance: details.importance
        case .probability: details.probability.map(String.init)
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
        case .request: details.request = value
        case .type: details.type = value
        case .category: details.category = value
        case .priority: details.priority = value
        case .importance: details.importance = value
        case .probability:
            guard let value else {
                details.probability = nil
                return
            }
            guard let number = Int(value) else { throw .invalid("probability", "must be a whole number from 0 to 100") }
            details.probability = number
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
    public static func merge(_ edits: [LeadFieldEdit], into current: LeadDetails) throws(DomainError)
        -> (details: LeadDetails, conflicts: [FieldConflict])
    {
        var details = current
        var conflicts: [FieldConflict] = []
        for edit in edits {
            let now = edit.field.value(in: current)
            if normalized(now) == normalized(edit.from) || normalized(now) == normalized(edit.to) {
                try edit.field.set(edit.to, in: &details)
            } else {
                conflicts.append(FieldConflict(field: edit.field, yours: edit.to, kept: now))
            }
        }
        return (details, conflicts)
    }

    private static func normalized(_ value: String?) -> String? { value?.isEmpty == true ? nil : value }
}
