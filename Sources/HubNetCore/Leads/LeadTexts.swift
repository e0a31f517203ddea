/// A lead's descriptive text fields (003, "Lead Information"): each is described once, in
/// `LeadTextField.all`, and every place that carries a lead derives it from there: the HTTP API's
/// request and response bodies, the sync record, the CSV import's columns, the editable fields of a
/// `LeadUpdate`, validation, the database columns the store reads and writes, and the console's
/// lead page.
///
/// Adding one is a stored property here and its entry in `all`, a migration that adds its column
/// and its key to `hubnet_sync_lead`, its place in the OpenAPI document, and a test.
public struct LeadTexts: Sendable, Equatable, Hashable {
    /// What the person asked for.
    public var request: String?
    /// The kind of lead (003: determines its attributes and defaults).
    public var type: String?
    /// The business classification (003: business partner, customer, …).
    public var category: String?
    /// The priority level: the order in which leads are processed (003).
    public var priority: String?
    /// The importance level: leads agents give special attention to (003).
    public var importance: String?
    /// How the lead was introduced or proposed to the organisation (003's lead source, a label
    /// such as "trade fair" or "website"; `Lead.source` is the channel it arrived through).
    public var origin: String?

    public init(
        request: String? = nil, type: String? = nil, category: String? = nil, priority: String? = nil,
        importance: String? = nil, origin: String? = nil
    ) {
        self.request = request
        self.type = type
        self.category = category
        self.priority = priority
        self.importance = importance
        self.origin = origin
    }

    public subscript(field: LeadTextField) -> String? {
        get { self[keyPath: field.keyPath] }
        set { self[keyPath: field.keyPath] = newValue }
    }
}

/// One descriptive text field of a lead: its names on each wire and in the database, its limit
/// and its label.
public struct LeadTextField: Sendable, Hashable, CustomStringConvertible {
    /// snake_case: the sync record's key, the CSV column, the database column and the name an
    /// edit (`LeadFieldEdit.field`) uses.
    public let key: String
    /// camelCase: the key as the HTTP API's coders name it before their snake_case conversion
    /// (on that wire it reads as `key`).
    public let apiKey: String
    /// The longest value accepted, in characters.
    public let maximumLength: Int
    /// How the console labels it.
    public let label: String
    public let keyPath: WritableKeyPath<LeadTexts, String?> & Sendable

    init(_ key: String, maximumLength: Int, label: String, _ keyPath: WritableKeyPath<LeadTexts, String?> & Sendable) {
        self.key = key
        self.apiKey = Self.camelCase(key)
        self.maximumLength = maximumLength
        self.label = label
        self.keyPath = keyPath
    }

    /// Every descriptive field, in the order the API, the import and the console list them.
    public static let all: [LeadTextField] = [
        LeadTextField("request", maximumLength: 10_000, label: "Request", \.request),
        LeadTextField("type", maximumLength: 100, label: "Type", \.type),
        LeadTextField("category", maximumLength: 100, label: "Category", \.category),
        LeadTextField("priority", maximumLength: 50, label: "Priority", \.priority),
        LeadTextField("importance", maximumLength: 50, label: "Importance", \.importance),
        LeadTextField("origin", maximumLength: 100, label: "Origin", \.origin),
    ]

    /// The field with this snake_case key.
    public static func named(_ key: String) -> LeadTextField? { byKey[key] }

    private static let byKey = Dictionary(uniqueKeysWithValues: all.map { ($0.key, $0) })

    public var description: String { key }

    public static func == (lhs: LeadTextField, rhs: LeadTextField) -> Bool { lhs.key == rhs.key }
    public func hash(into hasher: inout Hasher) { hasher.combine(key) }

    static func camelCase(_ key: String) -> String {
        let words = key.split(separator: "_")
        return (words.first.map(String.init) ?? "") + words.dropFirst().map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined()
    }
}

extension LeadTexts {
    /// How a body names the fields: `snake` in sync records, imports and the store; `api` through
    /// the HTTP API's coders, which convert between camelCase and snake_case.
    public enum KeyStyle: Sendable { case snake, api }

    private struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    private static func key(_ field: LeadTextField, _ style: KeyStyle) -> Key {
        Key(stringValue: style == .snake ? field.key : field.apiKey)
    }

    /// Reads the fields from the keyed body `decoder` is decoding, beside that body's own keys.
    public init(from decoder: any Decoder, keys style: KeyStyle) throws {
        let container = try decoder.container(keyedBy: Key.self)
        self.init()
        for field in LeadTextField.all {
            self[field] = try container.decodeIfPresent(String.self, forKey: Self.key(field, style))
        }
    }

    /// Writes the fields into the keyed body `encoder` is encoding, beside that body's own keys;
    /// an empty field is left out, as the synthesized encoding leaves out a `nil`.
    public func encode(to encoder: any Encoder, keys style: KeyStyle) throws {
        var container = encoder.container(keyedBy: Key.self)
        for field in LeadTextField.all {
            try container.encodeIfPresent(self[field], forKey: Self.key(field, style))
        }
    }
}

/// On its own, a `LeadTexts` is an object of its snake_case keys (as the store's documents hold it).
extension LeadTexts: Codable {
    public init(from decoder: any Decoder) throws { try self.init(from: decoder, keys: .snake) }
    public func encode(to encoder: any Encoder) throws { try encode(to: encoder, keys: .snake) }
}
