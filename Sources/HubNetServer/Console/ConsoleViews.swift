import Foundation
import HubNetCore
import HubNetPostgres

// What the console's templates render: plain values, already formatted, so the templates stay
// logic-less. Mustache escapes every `{{value}}` for HTML.

/// The frame of every page: who is signed in, the navigation, and the form token their forms carry.
struct ConsoleChrome: Sendable {
    struct NavItem: Sendable {
        var href: String
        var label: String
        var current: Bool
    }

    /// The console's sections, in the order of the navigation.
    enum Section: String, CaseIterable, Sendable {
        case leads, board, opportunities, clients, listings, referrals, reports, devices, users, templates, deliveries, settings

        /// Whether the section is for this person (the API refuses the rest anyway).
        func shown(to user: AuthenticatedUser) -> Bool {
            switch self {
            case .deliveries, .templates: TenantPolicy.allows(user, .manageWorkflowTemplates)
            case .clients, .listings: user.tenantKind == .hub
            case .settings: user.has(.admin)
            default: true
            }
        }

        var href: String { "/" + rawValue }
        var label: String {
            switch self {
            case .leads: "Leads"
            case .board: "Stage board"
            case .clients: "Clients"
            case .opportunities: "Opportunities"
            case .settings: "Settings"
            case .listings: "Listings"
            case .referrals: "Referrals"
            case .reports: "Reports"
            case .devices: "Devices"
            case .users: "People"
            case .templates: "Message templates"
            case .deliveries: "Deliveries"
            }
        }
    }

    var signedIn: Bool
    var userName: String
    var tenantName: String
    var csrf: String
    var nav: [NavItem]
    var notice: String?

    static let signedOut = ConsoleChrome(signedIn: false, userName: "", tenantName: "", csrf: "", nav: [], notice: nil)

    init(signedIn: Bool, userName: String, tenantName: String, csrf: String, nav: [NavItem], notice: String?) {
        self.signedIn = signedIn
        self.userName = userName
        self.tenantName = tenantName
        self.csrf = csrf
        self.nav = nav
        self.notice = notice
    }

    init(_ session: PostgresConsoleSessionRepository.SignedIn, section: Section = .leads, notice: String? = nil) {
        self.init(
            signedIn: true, userName: session.displayName, tenantName: session.tenantName, csrf: session.csrfToken,
            nav: Section.allCases.filter { $0.shown(to: session.user) }.map {
                NavItem(href: $0.href, label: $0.label, current: $0 == section)
            }, notice: notice)
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
    var live = true
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
    struct Reply: Sendable {
        var name: String
        var subject: String
        var body: String
        var mailto: String
    }
    struct Activity: Sendable {
        var leadID: String
        var id: String
        var kind: String
        var title: String
        var state: String
        var due: String?
        /// Open, and the user may close it: complete and cancel buttons.
        var open: Bool
    }

    var chrome: ConsoleChrome
    var live = true
    var id: String
    var name: String
    var statusName: String
    var badges: [ConsoleBadge]
    var problem: String?
    var actions: [Action]
    var noActions: String
    var canWrite: Bool
    var hasReplies: Bool
    var replies: [Reply]
    var fields: [Field]
    var hasActivities: Bool
    var activities: [Activity]
    var kinds: [ConsoleOption]
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

struct BoardView: Sendable {
    struct Card: Sendable {
        var id: String
        var name: String
        var statusName: String
        var badges: [ConsoleBadge]
        var moves: [Move]
    }
    struct Move: Sendable {
        var leadID: String
        var key: String
        var name: String
    }
    struct Column: Sendable {
        var name: String
        var count: Int
        var cards: [Card]
    }

    var chrome: ConsoleChrome
    var live = true
    var templates: [ConsoleOption]
    var hasColumns: Bool
    var columns: [Column]
    var templateName: String
}

struct ReferralsView: Sendable {
    struct Row: Sendable {
        var sourceLead: String?
        var name: String
        var target: String
        var statusName: String
        var lifeCycle: String
        var reason: String?
        var created: String
        var lastAction: String
        var withdrawn: Bool
    }

    var chrome: ConsoleChrome
    var live = true
    var rows: [Row]
    var nextHref: String?
}

struct ReportsView: Sendable {
    struct Bar: Sendable {
        var label: String
        var count: Int
        var width: Int
        var y: Int
        var textY: Int
    }
    struct Overdue: Sendable {
        var id: String
        var name: String
        var status: String
        var expected: String
        var days: String
    }

    var chrome: ConsoleChrome
    var templates: [ConsoleOption]
    var templateName: String
    var total: Int
    var bars: [Bar]
    var chartHeight: Int
    var hasOverdue: Bool
    var overdueTotal: Int
    var overdue: [Overdue]
}

struct DevicesView: Sendable {
    struct Row: Sendable {
        var id: String
        var name: String
        var owner: String
        var created: String
        var lastSeen: String
        var revoked: String?
    }

    var chrome: ConsoleChrome
    var rows: [Row]
}

struct UsersView: Sendable {
    struct Row: Sendable {
        var id: String
        var name: String
        var email: String
        var roles: String
        var active: Bool
        var deactivatable: Bool
    }

    var chrome: ConsoleChrome
    var rows: [Row]
    var canManage: Bool
    var roles: [ConsoleOption]
    var problem: String?
}

struct DeliveriesView: Sendable {
    struct Row: Sendable {
        var at: String
        var event: String
        var channel: String
        var recipient: String
        var attempt: Int
        var outcome: String
        var detail: String?
    }

    var chrome: ConsoleChrome
    var rows: [Row]
}

struct TemplatesView: Sendable {
    struct Row: Sendable {
        var id: String
        var name: String
        var channel: String
        var subject: String
        var body: String
        /// The catalog notice it gives the text of; empty for a quick reply.
        var notice: String
    }
    struct Tag: Sendable {
        var tag: String
        var meaning: String
    }
    /// A notice of the catalog, the tags its text may use, and whether the tenant gives its own.
    struct Notice: Sendable {
        var key: String
        var subject: String
        var tags: String
        var given: Bool
    }

    var chrome: ConsoleChrome
    var rows: [Row]
    var tags: [Tag]
    var notices: [Notice]
    var problem: String?
}

struct ClientsView: Sendable {
    struct Row: Sendable {
        var leadID: String
        var name: String
        var email: String
        var city: String
        var since: String
    }

    var chrome: ConsoleChrome
    var rows: [Row]
    var nextHref: String?
}

struct ListingsView: Sendable {
    struct Row: Sendable {
        var name: String
        var areas: String
        var categories: String
        var accepting: Bool
        var published: Bool
    }

    var chrome: ConsoleChrome
    var rows: [Row]
}

struct OpportunitiesView: Sendable {
    struct Row: Sendable {
        var name: String
        var leadID: String?
        var stage: String
        var amount: String
        var closed: Bool
        var created: String
    }

    var chrome: ConsoleChrome
    var rows: [Row]
    var nextHref: String?
}

struct SettingsView: Sendable {
    var chrome: ConsoleChrome
    var graceHours: String
    var problem: String?
}

struct NewLeadView: Sendable {
    var chrome: ConsoleChrome
    var templates: [ConsoleOption]
    var name: String
    var email: String
    var phone: String
    var city: String
    var region: String
    var request: String
    var key: String
    var consent: Bool
    var consentMethods: [ConsoleOption]
    var problem: String?
}
