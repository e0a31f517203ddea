import HubNetCore

/// The SQL of the descriptive fields, derived from `LeadTextField.all`: a field added there is read
/// and written by every statement that carries a lead. Each column is named by the field's key, a
/// constant of Core's table (never input), so these fragments go into statements `unescaped:`.
extension LeadTextField {
    /// The quoted column.
    var column: String { "\"\(key)\"" }

    /// `"request", "type", …`, in `all`'s order.
    static let columnList = all.map(\.column).joined(separator: ", ")

    /// `l."request", l."type", …`
    static func columns(of table: String) -> String {
        all.map { "\(table).\($0.column)" }.joined(separator: ", ")
    }

    /// Each field's value read from a JSON object of `LeadTexts` (its snake_case keys), in
    /// `columnList`'s order: `doc->>'request', …`.
    static func values(in document: String) -> String {
        all.map { "(\(document))->>'\($0.key)'" }.joined(separator: ", ")
    }

    /// `"request" = doc->>'request', …`, for an `UPDATE … SET`.
    static func assignments(from document: String) -> String {
        all.map { "\($0.column) = (\(document))->>'\($0.key)'" }.joined(separator: ", ")
    }
}
