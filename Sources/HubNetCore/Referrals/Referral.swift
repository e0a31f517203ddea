import Foundation

/// A hand-off of a lead from a source tenant to a target, as the source sees it: the target's
/// progress mirrored into the source's own records, updated in the transaction of each target action.
public struct Referral: Sendable, Equatable {
    public typealias ID = Identifier<Referral>

    public enum TargetKind: String, Sendable, Codable {
        /// A resource listing, landing in its hub (000: before acceptance).
        case listing
        /// A partner company (001).
        case partner
    }

    public var id: ID
    public var sourceTenantID: Tenant.ID
    public var sourceLeadID: Lead.ID?
    public var targetTenantID: Tenant.ID
    public var targetLeadID: Lead.ID
    public var targetKind: TargetKind
    public var targetListingID: Listing.ID?
    public var createdBy: User.ID
    public var createdAt: Date
    /// The target lead's status, its name and life cycle, as of the target's last action.
    public var status: String
    public var statusName: String
    public var lifeCycle: LifeCycle
    public var stage: String?
    /// When the target first acted: the start of "how fast".
    public var firstActionAt: Date?
    public var lastActionAt: Date?
    public var acceptedAt: Date?
    public var declinedAt: Date?
    public var completedAt: Date?
    public var reason: String?
    /// Set when the lead was referred again elsewhere; the target then no longer sees it.
    public var withdrawnAt: Date?

    public init(
        id: ID, sourceTenantID: Tenant.ID, sourceLeadID: Lead.ID?, targetTenantID: Tenant.ID, targetLeadID: Lead.ID,
        targetKind: TargetKind, targetListingID: Listing.ID?, createdBy: User.ID, createdAt: Date, status: String,
        statusName: String, lifeCycle: LifeCycle, stage: String?, firstActionAt: Date?, lastActionAt: Date?, acceptedAt: Date?, declinedAt: Date?,
        completedAt: Date?, reason: String?, withdrawnAt: Date?
    ) {
        self.id = id
        self.sourceTenantID = sourceTenantID
        self.sourceLeadID = sourceLeadID
        self.targetTenantID = targetTenantID
        self.targetLeadID = targetLeadID
        self.targetKind = targetKind
        self.targetListingID = targetListingID
        self.createdBy = createdBy
        self.createdAt = createdAt
        self.status = status
        self.statusName = statusName
        self.lifeCycle = lifeCycle
        self.stage = stage
        self.firstActionAt = firstActionAt
        self.lastActionAt = lastActionAt
        self.acceptedAt = acceptedAt
        self.declinedAt = declinedAt
        self.completedAt = completedAt
        self.reason = reason
        self.withdrawnAt = withdrawnAt
    }

    /// A lead may go to another target once its current referral ended unanswered or refused
    /// (001: "the lead can be reassigned to another partner").
    public var allowsReReferral: Bool {
        withdrawnAt == nil && (lifeCycle == .expired || (lifeCycle == .lost && declinedAt != nil))
    }
}
