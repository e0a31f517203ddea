import Foundation
import HubNetCore
import HubNetTestSupport
import PropertyBased
import Testing

/// The consent rules of `Consent` and `VisibilityPolicy.crossingDetails`, one by one.
@Suite("Consent")
struct ConsentTests {
    static let now = Date(micros: 1_800_000_000_000_000)
    static let partner = Tenant.ID()
    static let details = LeadDetails(
        name: "Ada Obi", email: "ada@cafe.test", phone: "+15105550100", city: "Oakland", region: "CA", request: "A loan", type: "retail")

    static func consent(_ scope: Consent.Scope, obtained: TimeInterval = -3_600, expires: TimeInterval? = nil, withdrawn: Bool = false) -> Consent {
        Consent(
            leadID: Lead.ID(), scope: scope, purpose: "referral", method: .written, recordedBy: nil, obtainedAt: now + obtained,
            expiresAt: expires.map { now + $0 }, createdAt: now, withdrawnAt: withdrawn ? now - 1 : nil)
    }

    @Test("a consent covers its organisation, its kind of organisation, or the whole network — nothing else")
    func scopes() {
        let other = Tenant.ID()
        #expect(Self.consent(.organisation(Self.partner)).covers(Self.partner, kind: .partnerCompany, at: Self.now))
        #expect(!Self.consent(.organisation(Self.partner)).covers(other, kind: .partnerCompany, at: Self.now))
        #expect(Self.consent(.kind(.partnerCompany)).covers(other, kind: .partnerCompany, at: Self.now))
        #expect(!Self.consent(.kind(.hub)).covers(other, kind: .partnerCompany, at: Self.now))
        #expect(Self.consent(.network).covers(other, kind: .hub, at: Self.now))
    }

    @Test("a withdrawn, expired or not yet obtained consent covers nobody; expiry is exclusive")
    func validity() {
        #expect(!Self.consent(.network, withdrawn: true).covers(Self.partner, kind: .hub, at: Self.now))
        #expect(!Self.consent(.network, expires: 0).covers(Self.partner, kind: .hub, at: Self.now))
        #expect(Self.consent(.network, expires: 1).covers(Self.partner, kind: .hub, at: Self.now))
        #expect(!Self.consent(.network, obtained: 60).covers(Self.partner, kind: .hub, at: Self.now))
        #expect(Self.consent(.network, expires: 0).hasLapsed(at: Self.now))
        #expect(!Self.consent(.network, expires: 1).hasLapsed(at: Self.now))
        #expect(Self.consent(.network, withdrawn: true).hasLapsed(at: Self.now))
    }

    @Test("without a covering consent the details cross de-identified: no name, email or phone; the need and the area stay")
    func crossing() {
        let (bare, none) = VisibilityPolicy.crossingDetails(Self.details, to: Self.partner, kind: .partnerCompany, consents: [], at: Self.now)
        #expect(none == nil)
        #expect(bare.name == LeadDetails.withheldName && bare.email == nil && bare.phone == nil)
        #expect(bare.city == "Oakland" && bare.region == "CA" && bare.request == "A loan" && bare.type == "retail")
        let given = Self.consent(.kind(.partnerCompany))
        let (whole, used) = VisibilityPolicy.crossingDetails(
            Self.details, to: Self.partner, kind: .partnerCompany, consents: [Self.consent(.kind(.hub)), given], at: Self.now)
        #expect(used == given.id && whole == Self.details)
    }

    @Test("a consent is checked at the boundary: purpose, times and scope, each naming its field")
    func validation() throws {
        func field(_ body: () throws -> Consent) -> String? {
            do {
                _ = try body()
                return nil
            } catch let error as DomainError {
                return error.field
            } catch { return "not a DomainError" }
        }
        let lead = Lead.ID()
        #expect(field { try Consent.validated(leadID: lead, scope: .network, purpose: " ", method: .verbal, recordedBy: nil, obtainedAt: nil, expiresAt: nil, now: Self.now) } == "purpose")
        #expect(field { try Consent.validated(leadID: lead, scope: .network, purpose: "p", method: .verbal, recordedBy: nil, obtainedAt: Self.now + 3_600, expiresAt: nil, now: Self.now) } == "obtained_at")
        #expect(field { try Consent.validated(leadID: lead, scope: .network, purpose: "p", method: .verbal, recordedBy: nil, obtainedAt: Self.now - 11 * 366 * 86_400, expiresAt: nil, now: Self.now) } == "obtained_at")
        #expect(field { try Consent.validated(leadID: lead, scope: .network, purpose: "p", method: .verbal, recordedBy: nil, obtainedAt: nil, expiresAt: Self.now, now: Self.now) } == "expires_at")
        #expect(field { try Consent.validated(leadID: lead, scope: .network, purpose: "p", method: .verbal, recordedBy: nil, obtainedAt: nil, expiresAt: Self.now + 11 * 366 * 86_400, now: Self.now, field: "consent.") } == "consent.expires_at")
        #expect(field { try Consent.validated(leadID: lead, scope: .network, purpose: "p", method: .verbal, recordedBy: nil, obtainedAt: nil, expiresAt: Self.now + 86_400, now: Self.now) } == nil)
        #expect(throws: DomainError.self) { try Consent.scope("organisation", organisation: nil, kind: nil) }
        #expect(throws: DomainError.self) { try Consent.scope("kind", organisation: nil, kind: "bank") }
        #expect(throws: DomainError.self) { try Consent.scope("network", organisation: Self.partner, kind: nil) }
        #expect(try Consent.scope("kind", organisation: nil, kind: "hub") == .kind(.hub))
    }

    @Test("whatever the consents and the clock, personal details cross only under a consent that covers the target then")
    func crossingProperty() async {
        await propertyCheck(count: 1_000, input: Gen.uint64()) { seed in
            var input = HostileInput(seed: seed)
            let kinds = Tenant.Kind.allCases
            let targets = [Self.partner, Tenant.ID()]
            let consents = (0..<input.below(4)).map { _ -> Consent in
                let scope: Consent.Scope =
                    switch input.below(3) {
                    case 0: .organisation(input.pick(targets))
                    case 1: .kind(input.pick(kinds))
                    default: .network
                    }
                return Self.consent(
                    scope, obtained: Double(input.below(7_200)) - 3_600, expires: input.chance(50) ? Double(input.below(7_200)) - 3_600 : nil,
                    withdrawn: input.chance(20))
            }
            let target = input.pick(targets)
            let kind = input.pick(kinds)
            let (crossed, used) = VisibilityPolicy.crossingDetails(Self.details, to: target, kind: kind, consents: consents, at: Self.now)
            if let used {
                let consent = consents.first { $0.id == used }
                #expect(consent?.covers(target, kind: kind, at: Self.now) == true)
                #expect(crossed == Self.details)
            } else {
                #expect(!consents.contains { $0.covers(target, kind: kind, at: Self.now) })
                #expect(crossed.email == nil && crossed.phone == nil && crossed.name == LeadDetails.withheldName)
            }
        }
    }
}
