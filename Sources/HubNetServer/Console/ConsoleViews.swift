import Foundation
import HubNetCore
import HubNetPostgres

// What the console's templates render: plain values, already formatted, so the templates stay
// logic-less. Mustache escapes every `{{value}}` for HTML.

/// The frame of every page: who is signed in, and the form token their forms carry.
struct ConsoleChrome: Sendable {
    var signedIn: Bool
    var userName: String
    var tenantName: String
    var csrf: String
    var onLeads: Bool
    var notice: String?

    static let signedOut = ConsoleChrome(signedIn: false, userName: "", tenantName: "", csrf: "", onLeads: false, notice: nil)

    init(signedIn: Bool, userName: String, tenantName: String, csrf: String, onLeads: Bool, notice: String?) {
        self.signedIn = signedIn
        self.userName = userName
        self.tenantName = tenantName
        self.csrf = csrf
        self.onLeads = onLeads
        self.notice = notice
    }

    init(_ session: PostgresConsoleSessionRepository.SignedIn, onLeads: Bool = true, notice: String? = nil) {
        self.init(
            signedIn: true, userName: session.displayName, tenantName: session.tenantName, csrf: session.csrfToken, onLeads: onLeads,
            notice: notice)
    }
}

struct ConsoleOption: Sendable {
    var value: String
    var label: String
    var selected: Bool
}

struct ConsoleBadge: Sendable {
    var key: String
    var label: String

    static func of(_ keys: [String]) -> [ConsoleBadge] {
        keys.map { ConsoleBadge(key: $0, label: labels[$0] ?? $0) }
    }

    static let labels = ["new": "New", "overdue": "Overdue", "past_maximum": "Past maximum"]
}

struct SignInView: Sendable {
    var chrome = ConsoleChrome.signedOut
    var sent = false
    var email = ""
    var problem: String?
}

struct SignInLinkView: Sendable {
    var chrome = ConsoleChrome.signedOut
    var token: String
}

struct ErrorView: Sendable {
    var chrome: ConsoleChrome
    var heading: String
    var message: String
    var back: String?
}

struct LeadsView: Sendable {
    struct Row: Sendable {
        var id: String
        var name: String
        var email: String?
        var statusName: String
        var badges: [ConsoleBadge]
        var templateName: String
        var assignee: String
        var created: String
        var createdISO: String
        var expires: String
    }

    var chrome: ConsoleChrome
    var q: String
    var templates: [ConsoleOption]
    var statuses: [ConsoleOption]
    var stages: [ConsoleOption]
    var badges: [ConsoleOption]
    var assignees: [ConsoleOption]
    var sorts: [ConsoleOption]
    var hubTable: Bool
    var leadTableOnly: Bool
    var rows: [Row]
    var count: Int
    var one: Bool
    var nextHref: String?
}

struct LeadView: Sendable {
    struct Action: Sendable {
        var leadID: String
        var key: String
        var name: String
        var confirm: String?
        var needsReason: Bool
        var hasStatusChoices: Bool
        var statusChoices: [ConsoleOption]
        var hasUserChoices: Bool
        var userChoices: [ConsoleOption]
        var userField: String
        var userLabel: String
        var hasListingChoices: Bool
        /// A referral to a listing is open, but no listing can take it: the button is disabled.
        var noListingChoices: Bool
        var listingChoices: [ConsoleOption]
        var offersOpportunity: Bool
    }
    struct Field: Sendable {
        var label: String
        var value: String
    }
    struct Entry: Sendable {
        var at: String
        var action: String
        var from: String
        var to: String
        var actor: String
        var reason: String
    }
    struct Note: Sendable {
        var author: String
        var at: String
        var body: String
    }
    struct Activity: Sendable {
        var kind: String
        var title: String
        var state: String
        var due: String?
    }

    var chrome: ConsoleChrome
    var id: String
    var name: String
    var statusName: String
    var badges: [ConsoleBadge]
    var problem: String?
    var actions: [Action]
    var noActions: String
    var canWrite: Bool
    var fields: [Field]
    var hasActivities: Bool
    var activities: [Activity]
    var hasNotes: Bool
    var notes: [Note]
    var chain: String
    var history: [Entry]
}

/// Dates as people read them in the console: UTC, to the minute.
enum ConsoleDate {
    static func format(_ date: Date?) -> String {
        guard let date else { return "" }
        let text = date.ISO8601Format()
        // 2026-05-01T09:00:00Z → 2026-05-01 09:00
        let parts = text.split(separator: "T")
        guard parts.count == 2 else { return text }
        return "\(parts[0]) \(parts[1].prefix(5))"
    }
}
