import Foundation

/// A person's consent to their details (name, email, phone) going to other organisations: to one
/// organisation, to a kind of organisation or to the whole network, for a purpose, obtained in a
/// known way by a known person at a known time, until it expires or is withdrawn.
///
/// A referral carries the person's details only under a consent that covers its target when it
/// crosses (`VisibilityPolicy.crossingDetails`); otherwise a de-identified copy crosses. When a
/// consent is withdrawn or expires, every copy that crossed under it is de-identified.
public struct Consent: Sendable, Equatable {
    public typealias ID = Identifier<Consent>

    public enum Scope: Sendable, Equatable {
        case organisation(Tenant.ID)
        case kind(Tenant.Kind)
        case network
    }

    /// How the consent was obtained.
    public enum Method: String, Sendable, CaseIterable {
        case written, verbal, electronic, leadForm = "lead_form"
    }

    public var id: ID
    public var leadID: Lead.ID
    public var scope: Scope
    public var purpose: String
    public var method: Method
    public var recordedBy: User.ID?
    public var obtainedAt: Date
    public var expiresAt: Date?
    public var createdAt: Date
    public var withdrawnAt: Date?

    public init(
        id: ID = ID(), leadID: Lead.ID, scope: Scope, purpose: String, method: Method, recordedBy: User.ID?, obtainedAt: Date,
        expiresAt: Date?, createdAt: Date, withdrawnAt: Date? = nil
    ) {
        self.id = id
        self.leadID = leadID
        self.scope = scope
        self.purpose = purpose
        self.method = method
        self.recordedBy = recordedBy
        self.obtainedAt = obtainedAt
        self.expiresAt = expiresAt
        self.createdAt = createdAt
        self.withdrawnAt = withdrawnAt
    }

    /// Whether the consent is in force at `now`: not withdrawn, not expired, and already obtained.
    public func isValid(at now: Date) -> Bool {
        withdrawnAt == nil && obtainedAt <= now && (expiresAt.map { now < $0 } ?? true)
    }

    /// Whether the person's details may go to `organisation` (of `kind`) at `now` under this consent.
    public func covers(_ organisation: Tenant.ID, kind: Tenant.Kind, at now: Date) -> Bool {
        guard isValid(at: now) else { return false }
        switch scope {
        case .organisation(let id): return id == organisation
        case .kind(let covered): return covered == kind
        case .network: return true
        }
    }

    /// Whether its withdrawal or expiry is due to be carried out at `now`.
    public func hasLapsed(at now: Date) -> Bool {
        withdrawnAt != nil || (expiresAt.map { $0 <= now } ?? false)
    }

    /// The longest a consent may run.
    public static let maximumDuration: TimeInterval = 10 * 366 * 86_400

    /// A consent as given at the boundary (API, lead form): checked, with its fields named.
    /// `obtainedAt` defaults to `now`; it may not lie in the future (a minute's clock skew allowed)
    /// nor more than the maximum duration in the past; `expiresAt` must follow it, within the maximum.
    public static func validated(
        leadID: Lead.ID, scope: Scope, purpose: String, method: Method, recordedBy: User.ID?, obtainedAt: Date?,
        expiresAt: Date?, now: Date, field prefix: String = ""
    ) throws(DomainError) -> Consent {
        let purpose = try Validate.text(purpose, field: prefix + "purpose", max: 500)
        let obtained = obtainedAt ?? now
        guard obtained <= now + 60 else { throw .invalid(prefix + "obtained_at", "lies in the future") }
        guard obtained >= now - maximumDuration else { throw .invalid(prefix + "obtained_at", "lies more than ten years back") }
        if let expiresAt {
            guard expiresAt > obtained else { throw .invalid(prefix + "expires_at", "must be after obtained_at") }
            guard expiresAt <= obtained + maximumDuration else {
                throw .invalid(prefix + "expires_at", "a consent runs at most ten years")
            }
        }
        return Consent(
            leadID: leadID, scope: scope, purpose: purpose, method: method, recordedBy: recordedBy, obtainedAt: obtained,
            expiresAt: expiresAt, createdAt: now)
    }

    /// The scope from its wire form: `organisation` with an organisation id, `kind` with a kind, or `network`.
    public static func scope(_ name: String, organisation: Tenant.ID?, kind: String?, field prefix: String = "")
        throws(DomainError) -> Scope
    {
        switch name {
        case "organisation", "organization":
            guard let organisation else { throw .invalid(prefix + "organisation_id", "names the organisation the consent covers") }
            guard kind == nil else { throw .invalid(prefix + "kind", "an organisation consent names no kind") }
            return .organisation(organisation)
        case "kind":
            guard let kind, let parsed = Tenant.Kind(rawValue: kind) else {
                throw .invalid(prefix + "kind", "one of \(Tenant.Kind.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            guard organisation == nil else { throw .invalid(prefix + "organisation_id", "a kind consent names no organisation") }
            return .kind(parsed)
        case "network":
            guard organisation == nil, kind == nil else { throw .invalid(prefix + "scope", "a network consent names no organisation or kind") }
            return .network
        default:
            throw .invalid(prefix + "scope", "one of organisation, kind, network")
        }
    }
}

extension Consent.Scope {
    public var name: String {
        switch self {
        case .organisation: "organisation"
        case .kind: "kind"
        case .network: "network"
        }
    }
}

extension LeadDetails {
    /// What a de-identified copy shows instead of the person's name.
    public static let withheldName = "Name withheld until consent"

    /// The details without the person's identity: no name, email or phone. The need (request,
    /// type, category, products) and the area (city, region) stay.
    public var deidentified: LeadDetails {
        var details = self
        details.name = Self.withheldName
        details.email = nil
        details.phone = nil
        return details
    }
}

extension VisibilityPolicy {
    /// The details of a lead that cross to another organisation: whole under a consent covering
    /// the target at the time of crossing, de-identified otherwise. The referral, its email to the
    /// target, the target's API, devices (pull and snapshot) and webhooks all read this copy.
    public static func crossingDetails(
        _ details: LeadDetails, to organisation: Tenant.ID, kind: Tenant.Kind, consents: [Consent], at now: Date
    ) -> (details: LeadDetails, consent: Consent.ID?) {
        if let consent = consents.first(where: { $0.covers(organisation, kind: kind, at: now) }) {
            return (details, consent.id)
        }
        return (details.deidentified, nil)
    }
}
