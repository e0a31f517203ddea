import Foundation

/// Every email HubNet sends, in one place. Each notice is a `MessageTemplate` whose `#tags` are
/// filled from the record it is about (`MessageTemplate.rendered`, in one pass: a value is never
/// read as a tag). The repositories and services that enqueue a notice pick it here and give its
/// values; none of them writes a text.
public enum NoticeCatalog {
    /// A subject and a body, ready for the outbox.
    public struct Text: Sendable, Equatable {
        public var subject: String
        public var body: String
    }

    /// 000/001: the referral's creator hears of the target's action (`referral.accept`, …).
    public static let referralUpdate = MessageTemplate(
        name: "referral update", channel: .email, subject: "Your referral of #lead.name: #lead.status",
        body: "#hub.name has marked #lead.name as #lead.status.\n#action.reason\n")

    /// The target's people who may answer a new referral, with a signed link per answer.
    public static let referralReceived = MessageTemplate(
        name: "referral received", channel: .email, subject: "New referral: #lead.name",
        body: "#source.name referred #lead.name to you.\n\n#answer.links\n\nOpen it in HubNet: #lead.url\n")

    /// The target's people when a routed lead is pulled back from them (SLA missed).
    public static let leadWithdrawn = MessageTemplate(
        name: "lead withdrawn", channel: .email, subject: "Lead withdrawn: #lead.name",
        body: "#lead.name was withdrawn from you: nobody acted on it within #sla.text. It went to another partner.\n")

    /// The referral's creator when a pullback routed the lead to the next partner.
    public static let referralRerouted = MessageTemplate(
        name: "referral rerouted", channel: .email, subject: "Referral of #lead.name moved on",
        body: "#lead.name: #pullback.why. #pullback.next.\n")

    /// The referral's creator when a pullback brought the lead back to them.
    public static let referralReturned = MessageTemplate(
        name: "referral returned", channel: .email, subject: "Referral of #lead.name returned to you",
        body: "#lead.name: #pullback.why. It is back with you (#pullback.ending); refer or route it again.\n")

    /// A target whose copy lost the person's details with their consent.
    public static let consentLapsed = MessageTemplate(
        name: "consent lapsed", channel: .email, subject: "Consent #consent.change: referral #referral.id",
        body: "The person's consent to share their details with you #consent.change. Their name, email and phone have "
            + "been removed from the referred lead; the need and area stay.\n\nReferral: #referral.id\n")

    /// A referral's creator, when its target asks for the person's consent.
    public static let consentRequested = MessageTemplate(
        name: "consent requested", channel: .email, subject: "Consent requested: #lead.name",
        body: "#target.name asks for #lead.name's consent to receive their details for your referral #referral.id.\n"
            + "Record it on the lead (POST /v1/leads/{id}/consents) and refer again, or tell them it is refused.\n")

    /// 002: a lead's assignee, when its stage's reminder interval passed without an action.
    public static let reminder = MessageTemplate(
        name: "reminder", channel: .email, subject: "Reminder: #lead.name is waiting in #stage.name",
        body: "No action on #lead.name for #reminder.days days in the #stage.name stage.\n")

    /// A lead's new assignee (`notify_assignee`).
    public static let assigned = MessageTemplate(
        name: "lead assigned", channel: .email, subject: "A lead needs your attention: #lead.name",
        body: "#lead.name was assigned to you (#lead.status).\n\nOpen it in HubNet: #lead.url\n")

    /// A console user who asked to sign in by email.
    public static let signIn = MessageTemplate(
        name: "console sign-in", channel: .email, subject: "Sign in to HubNet: #tenant.name",
        body: "Hello,\n\nuse this link to sign in to HubNet as a member of #tenant.name:\n\n#sign_in.link\n\n"
            + "It works once, within #sign_in.minutes minutes. If you did not ask to sign in, ignore this email.")

    /// Every notice of the catalog, by name.
    public static let all: [MessageTemplate] = [
        referralUpdate, referralReceived, leadWithdrawn, referralRerouted, referralReturned, consentLapsed, consentRequested,
        reminder, assigned, signIn,
    ]

    /// `notice` filled with `values` (a tag without a value becomes empty).
    public static func text(_ notice: MessageTemplate, _ values: [String: String]) -> Text {
        let (subject, body) = notice.rendered(values)
        return Text(subject: subject, body: body)
    }

    /// A notice's key, as a tenant's own text for it names it (`MessageTemplate.notice`): its name
    /// in snake_case (`referral_update`, `console_sign_in`).
    public static func key(of notice: MessageTemplate) -> String {
        notice.name.replacingOccurrences(of: " ", with: "_").replacingOccurrences(of: "-", with: "_")
    }

    /// The notice of the catalog with this key.
    public static func named(_ key: String) -> MessageTemplate? { byKey[key] }

    private static let byKey = Dictionary(uniqueKeysWithValues: all.map { (key(of: $0), $0) })

    /// The tags a notice is given values for, which a tenant's own text for it may use: those of
    /// the catalog's text, and for a referral update every tag of its lead and action.
    public static func tags(of notice: MessageTemplate) -> Set<String> {
        if notice == referralUpdate { return Set(MessageTemplate.knownTags.keys) }
        return Set(MessageTemplate.tags(in: notice.subject) + MessageTemplate.tags(in: notice.body))
    }

    /// A notice with its values, to be written in the catalog's text or in the recipient tenant's
    /// own text for it (`MessageTemplate.notice`), which the outbox looks up when it enqueues.
    public struct Filled: Sendable, Equatable {
        public var notice: MessageTemplate
        public var values: [String: String]

        public init(_ notice: MessageTemplate, _ values: [String: String]) {
            self.notice = notice
            self.values = values
        }

        public var key: String { NoticeCatalog.key(of: notice) }

        /// In `replacement`'s text when there is one, else in the catalog's.
        public func text(in replacement: MessageTemplate? = nil) -> Text {
            NoticeCatalog.text(replacement ?? notice, values)
        }
    }
}
