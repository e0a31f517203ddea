/// A kind of lead with its defaults (003): how long its processing is expected to take, and the
/// importance and priority a new lead of the type starts with.
public struct LeadType: Sendable, Equatable, Codable {
    public var key: String
    public var name: String
    public var estimatedCompletionDays: Int?
    public var defaultImportance: String?
    public var defaultPriority: String?

    public init(key: String, name: String, estimatedCompletionDays: Int? = nil, defaultImportance: String? = nil, defaultPriority: String? = nil) {
        self.key = key
        self.name = name
        self.estimatedCompletionDays = estimatedCompletionDays
        self.defaultImportance = defaultImportance
        self.defaultPriority = defaultPriority
    }

    public func validated() throws(DomainError) -> LeadType {
        if let days = estimatedCompletionDays, !(1...3650).contains(days) {
            throw .invalid("estimated_completion_days", "must be between 1 and 3650")
        }
        return LeadType(
            key: try Validate.slug(key.replacingOccurrences(of: "_", with: "-"), field: "key").replacingOccurrences(of: "-", with: "_"),
            name: try Validate.text(name, field: "name", max: 200), estimatedCompletionDays: estimatedCompletionDays,
            defaultImportance: try Validate.optionalText(defaultImportance, field: "default_importance", max: 50),
            defaultPriority: try Validate.optionalText(defaultPriority, field: "default_priority", max: 50))
    }

    /// The details with the type's defaults filled in where they are empty.
    public func applyDefaults(to details: LeadDetails) -> LeadDetails {
        var details = details
        if details.importance == nil { details.importance = defaultImportance }
        if details.priority == nil { details.priority = defaultPriority }
        return details
    }
}
