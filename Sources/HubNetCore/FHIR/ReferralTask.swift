import Foundation

/// How a referral reads as FHIR R4 (Gravity SDOH Clinical Care's referral management): a Task
/// owned by the receiving organisation, requested by the sourcing one, whose `status` follows the
/// target lead's life cycle and whose `businessStatus` is the workflow's own status.
public enum ReferralTask {
    /// The Task status of a referral as the receiving side left it (the mapping table in the README).
    ///
    /// | life cycle | condition | Task.status |
    /// |---|---|---|
    /// | any | withdrawn by the source (referred elsewhere) | cancelled |
    /// | pending | accepted (an accept that keeps the status) | accepted |
    /// | pending | acted on (contacted, referred on) | received |
    /// | pending | not yet acted on | requested |
    /// | in progress | status `accepted` | accepted |
    /// | in progress | a status `waiting…` | on-hold |
    /// | in progress | otherwise | in-progress |
    /// | won | | completed |
    /// | lost | declined before accepting | rejected |
    /// | lost | after accepting (not converted, dropped, abandoned) | completed |
    /// | cancelled | | cancelled |
    /// | expired | | failed |
    public static func status(_ referral: Referral) -> String {
        if referral.withdrawnAt != nil { return "cancelled" }
        switch referral.lifeCycle {
        case .pending:
            if referral.acceptedAt != nil { return "accepted" }
            return referral.firstActionAt == nil ? "requested" : "received"
        case .inProgress:
            if referral.status == "accepted" { return "accepted" }
            return referral.status.hasPrefix("waiting") ? "on-hold" : "in-progress"
        case .won: return "completed"
        case .lost: return referral.declinedAt != nil && referral.acceptedAt == nil ? "rejected" : "completed"
        case .cancelled: return "cancelled"
        case .expired: return "failed"
        }
    }

    /// Every Task.status FHIR R4 defines (the `task-status` value set).
    public static let taskStatuses: Set<String> = [
        "draft", "requested", "received", "accepted", "rejected", "ready", "cancelled", "in-progress", "on-hold", "failed",
        "completed", "entered-in-error",
    ]

    /// The referral as a Task, with the two organisations' names for display.
    public static func task(_ referral: Referral, source: Tenant, target: Tenant) -> FHIR.Task {
        let status = status(referral)
        var statusReason: FHIR.CodeableConcept?
        if referral.withdrawnAt != nil {
            statusReason = .init(text: "withdrawn by the source and referred elsewhere")
        } else if referral.lifeCycle == .expired {
            statusReason = .init(text: "expired: not acted on in time")
        } else if let reason = referral.reason {
            statusReason = .init(text: reason)
        }
        let closed = [.won, .lost, .cancelled, .expired].contains(referral.lifeCycle)
        let lastModified = [referral.lastActionAt, referral.withdrawnAt, referral.completedAt].compactMap { $0 }.max() ?? referral.createdAt
        var period: FHIR.Period?
        if let started = referral.firstActionAt {
            period = .init(start: Timestamp.rfc3339(started), end: referral.completedAt.map(Timestamp.rfc3339))
        }
        return FHIR.Task(
            id: referral.id.description,
            meta: .init(lastUpdated: Timestamp.rfc3339(lastModified), profile: [FHIR.taskProfile]),
            identifier: [.init(system: FHIR.referralSystem, value: referral.id.description)],
            basedOn: [.init(reference: "ServiceRequest/\(referral.id)")],
            status: status, statusReason: statusReason,
            businessStatus: .init(
                coding: [.init(system: FHIR.workflowStatusSystem, code: referral.status, display: referral.statusName)],
                text: referral.statusName),
            intent: "order", priority: "routine",
            code: .init(
                coding: [.init(system: "http://hl7.org/fhir/CodeSystem/task-code", code: "fulfill", display: "Fulfill the focal request")],
                text: nil),
            focus: .init(reference: "ServiceRequest/\(referral.id)"),
            authoredOn: Timestamp.rfc3339(referral.createdAt), lastModified: Timestamp.rfc3339(lastModified),
            requester: organizationReference(source), owner: organizationReference(target),
            executionPeriod: period,
            output: closed
                ? [
                    .init(
                        type: .init(text: "outcome"),
                        valueCodeableConcept: .init(
                            coding: [.init(system: "urn:hubnet:life-cycle", code: referral.lifeCycle.rawValue, display: nil)],
                            text: referral.statusName))
                ] : nil)
    }

    /// The request the Task fulfils: what was asked of whom. Its subject is named by the referral's
    /// id only; the person's details stay in the leads.
    public static func serviceRequest(_ referral: Referral, source: Tenant, target: Tenant, listingName: String?) -> FHIR.ServiceRequest {
        let closed = [.won, .lost, .cancelled, .expired].contains(referral.lifeCycle)
        return FHIR.ServiceRequest(
            id: referral.id.description,
            meta: .init(lastUpdated: nil, profile: nil),
            identifier: [.init(system: FHIR.referralSystem, value: referral.id.description)],
            status: referral.withdrawnAt != nil ? "revoked" : (closed ? "completed" : "active"),
            intent: "order",
            code: .init(coding: nil, text: listingName.map { "Referral to the listing \($0)" } ?? "Referral to \(target.name)"),
            subject: .init(identifier: .init(system: FHIR.referralSystem, value: referral.id.description), display: "the referred person"),
            authoredOn: Timestamp.rfc3339(referral.createdAt),
            requester: organizationReference(source), performer: [organizationReference(target)])
    }

    public static func organization(_ tenant: Tenant) -> FHIR.Organization {
        FHIR.Organization(
            id: tenant.id.description, identifier: [.init(system: FHIR.organizationSystem, value: tenant.slug)], active: true,
            type: [.init(coding: [.init(system: "urn:hubnet:tenant-kind", code: tenant.kind.rawValue, display: nil)], text: nil)],
            name: tenant.name)
    }

    static func organizationReference(_ tenant: Tenant) -> FHIR.Reference {
        .init(reference: "Organization/\(tenant.id)", display: tenant.name)
    }
}
