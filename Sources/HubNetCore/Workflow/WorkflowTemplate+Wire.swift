import Foundation

/// The hand-written wire form of a template's targets and requirements, for integrators who edit
/// templates by hand (`PUT /v1/workflow-templates/{key}`):
///
/// - a target is `"stay"`, `"next_stage"`, `"previous_stage"`, `{"status": "accepted"}` or
///   `{"chosen": ["won", "lost"]}`;
/// - a requirement is `"reason"`, `"linked_opportunity"`, `"activities_closed"`,
///   `"unit_member_or_assignee"`, `"unassigned"`, `"assignee"`, `{"any_role": ["moderator"]}` or
///   `{"referral_target": "listing"}`.
///
/// The form Swift synthesizes (`{"status": {"_0": "accepted"}}`, `{"reason": {}}`), which earlier
/// versions wrote and stored, is still read. Keys are matched in snake_case or camelCase, so the
/// same value decodes with or without a key strategy.
extension WorkflowTemplate.Target {
    public init(from decoder: any Decoder) throws {
        let tag = try WireTag(decoder)
        switch tag.name {
        case "stay": self = .stay
        case "nextstage": self = .nextStage
        case "previousstage": self = .previousStage
        case "status": self = .status(try tag.value(String.self))
        case "chosen": self = .chosen(try tag.value([String].self))
        default: throw tag.unknown("a target: stay, next_stage, previous_stage, {\"status\": …} or {\"chosen\": […]}")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        switch self {
        case .stay: try WireTag.encode("stay", to: encoder)
        case .nextStage: try WireTag.encode("next_stage", to: encoder)
        case .previousStage: try WireTag.encode("previous_stage", to: encoder)
        case .status(let key): try WireTag.encode("status", key, to: encoder)
        case .chosen(let keys): try WireTag.encode("chosen", keys, to: encoder)
        }
    }
}

extension WorkflowTemplate.Requirement {
    public init(from decoder: any Decoder) throws {
        let tag = try WireTag(decoder)
        switch tag.name {
        case "reason": self = .reason
        case "linkedopportunity": self = .linkedOpportunity
        case "activitiesclosed": self = .activitiesClosed
        case "unitmemberorassignee": self = .unitMemberOrAssignee
        case "unassigned": self = .unassigned
        case "assignee": self = .assignee
        case "anyrole": self = .anyRole(try tag.value([Role].self))
        case "referraltarget": self = .referralTarget(try tag.value(WorkflowTemplate.ReferralKind.self))
        default:
            throw tag.unknown(
                "a requirement: reason, linked_opportunity, activities_closed, unit_member_or_assignee, unassigned, assignee, "
                    + "{\"any_role\": […]} or {\"referral_target\": …}")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        switch self {
        case .reason: try WireTag.encode("reason", to: encoder)
        case .linkedOpportunity: try WireTag.encode("linked_opportunity", to: encoder)
        case .activitiesClosed: try WireTag.encode("activities_closed", to: encoder)
        case .unitMemberOrAssignee: try WireTag.encode("unit_member_or_assignee", to: encoder)
        case .unassigned: try WireTag.encode("unassigned", to: encoder)
        case .assignee: try WireTag.encode("assignee", to: encoder)
        case .anyRole(let roles): try WireTag.encode("any_role", roles, to: encoder)
        case .referralTarget(let kind): try WireTag.encode("referral_target", kind, to: encoder)
        }
    }
}

/// A tagged value: a bare string, or an object with one key (whose value may be wrapped in the
/// synthesized form's `{"_0": …}`).
private struct WireTag {
    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(_ string: String) { stringValue = string }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    /// The tag, lower-cased without underscores (`next_stage`, `nextStage` → `nextstage`).
    let name: String
    private let container: KeyedDecodingContainer<Key>?
    private let key: Key?
    private let codingPath: [any CodingKey]

    init(_ decoder: any Decoder) throws {
        codingPath = decoder.codingPath
        if let single = try? decoder.singleValueContainer(), let text = try? single.decode(String.self) {
            name = Self.normalized(text)
            container = nil
            key = nil
            return
        }
        let container = try decoder.container(keyedBy: Key.self)
        guard container.allKeys.count == 1, let key = container.allKeys.first else {
            throw DecodingError.dataCorrupted(.init(codingPath: codingPath, debugDescription: "must be a string or an object with one key"))
        }
        self.name = Self.normalized(key.stringValue)
        self.container = container
        self.key = key
    }

    func value<Value: Decodable>(_ type: Value.Type) throws -> Value {
        guard let container, let key else {
            throw DecodingError.dataCorrupted(.init(codingPath: codingPath, debugDescription: "\(name) needs a value"))
        }
        if let value = try? container.decode(type, forKey: key) { return value }
        // The synthesized form: {"_0": value}.
        let nested = try container.nestedContainer(keyedBy: Key.self, forKey: key)
        return try nested.decode(type, forKey: Key("_0"))
    }

    func unknown(_ expected: String) -> DecodingError {
        DecodingError.dataCorrupted(.init(codingPath: codingPath, debugDescription: "'\(name)' is not \(expected)"))
    }

    static func normalized(_ text: String) -> String { text.replacingOccurrences(of: "_", with: "").lowercased() }

    static func encode(_ tag: String, to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(tag)
    }

    static func encode<Value: Encodable>(_ tag: String, _ value: Value, to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Key.self)
        try container.encode(value, forKey: Key(tag))
    }
}
