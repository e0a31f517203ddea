import Foundation
import HubNetCore
import Testing

@Suite("Referrals as FHIR Task")
struct ReferralTaskTests {
    static let source = Tenant(id: Tenant.ID(), kind: .hub, name: "Referring Hub", slug: "referring", createdAt: Date())
    static let target = Tenant(id: Tenant.ID(), kind: .partnerCompany, name: "Partner", slug: "partner", createdAt: Date())

    static func referral(
        _ status: WorkflowTemplate.Status, acted: Bool = false, accepted: Bool = false, declined: Bool = false, withdrawn: Bool = false
    ) -> Referral {
        let created = Date(micros: 1_780_000_000_000_000)
        let acted = acted || accepted || declined
        return Referral(
            id: Referral.ID(), sourceTenantID: source.id, sourceLeadID: Lead.ID(), targetTenantID: target.id, targetLeadID: Lead.ID(),
            targetKind: .partner, targetListingID: nil, createdBy: User.ID(), createdAt: created, status: status.key,
            statusName: status.name, lifeCycle: status.lifeCycle, stage: status.stage,
            firstActionAt: acted ? created.addingTimeInterval(60) : nil, lastActionAt: acted ? created.addingTimeInterval(120) : nil,
            acceptedAt: accepted ? created.addingTimeInterval(60) : nil, declinedAt: declined ? created.addingTimeInterval(60) : nil,
            completedAt: nil, reason: declined ? "not our sector" : nil, withdrawnAt: withdrawn ? created.addingTimeInterval(600) : nil)
    }

    static func status(_ template: WorkflowTemplate, _ key: String) throws -> WorkflowTemplate.Status {
        try #require(template.statuses.first { $0.key == key })
    }

    @Test("every status of the five templates maps to a FHIR R4 Task status, and its business status is the workflow's own")
    func everyStatusMaps() {
        var count = 0
        for template in BuiltInTemplates.all {
            for status in template.statuses {
                for (acted, accepted, declined) in [(false, false, false), (true, false, false), (true, true, false), (true, false, true)] {
                    let task = ReferralTask.task(
                        Self.referral(status, acted: acted, accepted: accepted, declined: declined), source: Self.source, target: Self.target)
                    #expect(ReferralTask.taskStatuses.contains(task.status), "\(template.key).\(status.key) → \(task.status)")
                    #expect(task.businessStatus.coding?.first?.code == status.key)
                    #expect(task.businessStatus.text == status.name)
                    #expect(task.owner.reference == "Organization/\(Self.target.id)")
                    #expect(task.requester.reference == "Organization/\(Self.source.id)")
                    count += 1
                }
            }
        }
        #expect(count == BuiltInTemplates.all.map(\.statuses.count).reduce(0, +) * 4)
        #expect(BuiltInTemplates.all.count == 5)
    }

    @Test("the mapping table: requested, received, accepted, on-hold, in-progress, completed, rejected, failed, cancelled")
    func table() throws {
        let partner = BuiltInTemplates.partnerLead
        let hub = BuiltInTemplates.hubModeration
        let path = BuiltInTemplates.statusPath
        let life = BuiltInTemplates.lifeCycle
        func mapped(_ template: WorkflowTemplate, _ key: String, acted: Bool = false, accepted: Bool = false, declined: Bool = false, withdrawn: Bool = false) throws -> String {
            ReferralTask.status(Self.referral(try Self.status(template, key), acted: acted, accepted: accepted, declined: declined, withdrawn: withdrawn))
        }
        #expect(try mapped(partner, "pending") == "requested")
        #expect(try mapped(hub, "contacted", acted: true) == "received")
        #expect(try mapped(life, "pending", accepted: true) == "accepted")
        #expect(try mapped(partner, "accepted", accepted: true) == "accepted")
        #expect(try mapped(path, "waiting_for_information", acted: true) == "on-hold")
        #expect(try mapped(path, "working", acted: true) == "in-progress")
        #expect(try mapped(partner, "closed_converted", accepted: true) == "completed")
        #expect(try mapped(partner, "closed_not_converted", accepted: true) == "completed")
        #expect(try mapped(partner, "declined", declined: true) == "rejected")
        #expect(try mapped(partner, "expired") == "failed")
        #expect(try mapped(life, "cancelled", acted: true) == "cancelled")
        #expect(try mapped(partner, "pending", withdrawn: true) == "cancelled")
    }

    @Test("a Task carries times at the microsecond, the referral's id, the profile, and an outcome once closed")
    func shape() throws {
        let converted = Self.referral(try Self.status(BuiltInTemplates.partnerLead, "closed_converted"), accepted: true)
        let task = ReferralTask.task(converted, source: Self.source, target: Self.target)
        #expect(task.id == converted.id.description)
        #expect(task.meta.profile == [FHIR.taskProfile])
        #expect(task.authoredOn == "2026-05-28T20:26:40Z")
        #expect(task.focus.reference == "ServiceRequest/\(converted.id)")
        #expect(task.output?.first?.valueCodeableConcept.coding?.first?.code == "won")
        let open = ReferralTask.task(Self.referral(try Self.status(BuiltInTemplates.partnerLead, "pending")), source: Self.source, target: Self.target)
        #expect(open.output == nil)
        #expect(open.executionPeriod == nil)
        let request = ReferralTask.serviceRequest(converted, source: Self.source, target: Self.target, listingName: nil)
        #expect(request.status == "completed")
        #expect(request.performer.first?.reference == "Organization/\(Self.target.id)")
    }
}
