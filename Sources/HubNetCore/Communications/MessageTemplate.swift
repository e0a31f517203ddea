import Foundation

/// A notification text with `#tags` (`#lead.name`, `#hub.name`) that are replaced by the values of
/// the record it is sent about. A tag is `#` followed by dotted lower-case words; any other `#`
/// is plain text ("#1 priority").
public struct MessageTemplate: Sendable, Equatable, Codable {
    public typealias ID = Identifier<MessageTemplate>

    public enum Channel: String, Sendable, Codable, CaseIterable { case email, webhook }

    public var name: String
    public var channel: Channel
    public var subject: String
    public var body: String
    /// The key of the catalog notice (`NoticeCatalog`) whose text this template replaces for the
    /// tenant's recipients (`referral_received`, `reminder`, …); `nil` for a template of its own.
    public var notice: String?

    public init(name: String, channel: Channel, subject: String, body: String, notice: String? = nil) {
        self.name = name
        self.channel = channel
        self.subject = subject
        self.body = body
        self.notice = notice
    }

    /// Every tag a template may use, with what it stands for: `lead.<key>` for each descriptive
    /// field (`LeadTextField.all`) besides these.
    public static let knownTags: [String: String] = [
        "lead.name": "the lead's contact name",
        "lead.email": "the lead's contact email",
        "lead.phone": "the lead's contact phone",
        "lead.city": "the lead's city",
        "lead.region": "the lead's region",
        "lead.status": "the lead's status, by its name",
        "lead.created_at": "when the lead arrived (ISO 8601)",
        "lead.expected_completion_at": "when the lead is expected to complete (ISO 8601)",
        "hub.name": "the name of the tenant that holds the lead",
        "user.name": "the name of the user who acted",
        "action.name": "the action taken",
        "action.reason": "the reason given with the action",
    ].merging(LeadTextField.all.map { ("lead.\($0.key)", "the lead's \($0.label.lowercased())") }) { fixed, _ in fixed }

    /// The tags in `text`, in order of appearance.
    public static func tags(in text: String) -> [String] {
        scan(Array(text.unicodeScalars)).map(\.tag)
    }

    /// Each tag of `scalars` and the scalars it spans with its `#`, in order.
    private static func scan(_ scalars: [Unicode.Scalar]) -> [(span: Range<Int>, tag: String)] {
        var found: [(span: Range<Int>, tag: String)] = []
        var index = 0
        while index < scalars.count {
            guard scalars[index] == "#" else { index += 1; continue }
            var end = index + 1
            var tag = ""
            while end < scalars.count {
                let scalar = scalars[end]
                let isWordChar = ("a"..."z").contains(scalar) || scalar == "_"
                    || (("0"..."9").contains(scalar) && !tag.isEmpty && tag.last != ".")
                if isWordChar {
                    tag.unicodeScalars.append(scalar)
                } else if scalar == ".", let last = tag.last, last != ".", end + 1 < scalars.count,
                    ("a"..."z").contains(scalars[end + 1])
                {
                    tag.append(".")
                } else {
                    break
                }
                end += 1
            }
            if tag.contains(".") { found.append((index..<end, tag)) }
            index = max(end, index + 1)
        }
        return found
    }

    /// Checked: a name, a subject for email, and no tag outside `knownTags`; a notice's text (its
    /// `notice` names one of the catalog) is an email and uses only the tags that notice is given.
    public func validated() throws(DomainError) -> MessageTemplate {
        let name = try Validate.text(name, field: "name", max: 200)
        var known = Set(Self.knownTags.keys)
        if let notice {
            guard let replaced = NoticeCatalog.named(notice) else {
                throw .invalid("notice", "names no notice; notices: \(NoticeCatalog.all.map(NoticeCatalog.key(of:)).joined(separator: ", "))")
            }
            guard channel == .email else { throw .invalid("channel", "a notice is an email; its channel is email") }
            known = NoticeCatalog.tags(of: replaced)
        }
        let subject =
            channel == .email
            ? try Validate.text(subject, field: "subject", max: 500)
            : try Validate.optionalText(subject, field: "subject", max: 500) ?? ""
        let body = try Validate.text(body, field: "body", max: 20_000)
        for (field, text) in [("subject", subject), ("body", body)] {
            if let unknown = Self.tags(in: text).first(where: { !known.contains($0) }) {
                throw .invalid(field, "unknown tag #\(unknown); known tags: \(known.sorted().map { "#\($0)" }.joined(separator: ", "))")
            }
        }
        return MessageTemplate(name: name, channel: channel, subject: subject, body: body, notice: notice)
    }

    /// The template with every tag replaced by its value; a tag without a value becomes empty.
    public func rendered(_ values: [String: String]) -> (subject: String, body: String) {
        (Self.render(subject, values), Self.render(body, values))
    }

    /// One pass over the text: a value put in is never read again as a tag (a lead named
    /// "#hub.name" stays so named).
    static func render(_ text: String, _ values: [String: String]) -> String {
        let scalars = Array(text.unicodeScalars)
        var result = String.UnicodeScalarView()
        var copied = 0
        for (span, tag) in scan(scalars) {
            result.append(contentsOf: scalars[copied..<span.lowerBound])
            result.append(contentsOf: (values[tag] ?? "").unicodeScalars)
            copied = span.upperBound
        }
        result.append(contentsOf: scalars[copied...])
        return String(result)
    }

    /// The values of the lead tags for one lead.
    public static func values(for lead: Lead, statusName: String, hubName: String) -> [String: String] {
        // As ISO8601DateFormatter writes them ("2026-12-06T17:35:00Z"), without making one per notice.
        let iso = Date.ISO8601FormatStyle()
        let details = lead.details
        return [
            "lead.name": details.name, "lead.email": details.email ?? "", "lead.phone": details.phone ?? "",
            "lead.city": details.city ?? "", "lead.region": details.region ?? "", "lead.status": statusName,
            "lead.created_at": iso.format(lead.state.createdAt),
            "lead.expected_completion_at": lead.state.expectedCompletionAt.map(iso.format) ?? "",
            "hub.name": hubName,
        ].merging(LeadTextField.all.map { ("lead.\($0.key)", details.texts[$0] ?? "") }) { fixed, _ in fixed }
    }
}
