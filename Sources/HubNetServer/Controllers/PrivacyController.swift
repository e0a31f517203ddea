import Foundation
import Hummingbird
import HubNetCore
import HubNetPostgres

/// A person's privacy across organisations: consent records (and their withdrawal), asking a
/// referral's source for consent, duplicate matching by keyed hashes, who read a lead's personal
/// data, and the export of everything the tenant holds about one person.
struct PrivacyController {
    let database: Database
    let leads: PostgresLeadRepository
    let notes: PostgresLeadNoteRepository
    let activities: PostgresLeadActivityRepository
    let templates: PostgresWorkflowTemplateRepository
    let privacy: PostgresPrivacyRepository
    let now: @Sendable () -> Date

    func addRoutes(to group: RouterGroup<AppRequestContext>) {
        group.post("leads/{id}/consents", use: recordConsent)
        group.get("leads/{id}/consents", use: listConsents)
        group.post("leads/{id}/consents/{consentId}/withdraw", use: withdrawConsent)
        group.post("leads/{id}/consent-request", use: requestConsent)
        group.get("leads/{id}/matches", use: matches)
        group.get("leads/{id}/access-log", use: accessLog)
        group.get("subject-export", use: subjectExport)
        addErasureRoutes(to: group)
    }

    struct ConsentListResponse: ResponseEncodable {
        var items: [ConsentResponse]
    }

    /// `POST /v1/leads/{id}/consents`: records a consent the person gave.
    @Sendable func recordConsent(_ request: Request, context: AppRequestContext) async throws -> Created<ConsentResponse> {
        let caller = try context.requireUser()
        try TenantPolicy.require(caller, .workLeads)
        let id = try context.id("id", of: Lead.self, "lead")
        let body = try await request.decodeJSON(ConsentBody.self, context: context)
        let now = now()
        let consent = try body.consent(for: id, recordedBy: caller.userID, now: now)
        try await database.withTenant(caller.tenantID) { transaction in
            guard try await leads.visible(id, to: caller, in: transaction) != nil else { throw DomainError.notFound("lead") }
            try await privacy.record(consent, in: transaction)
        }
        return Created(body: ConsentResponse(consent, now: now))
    }

    @Sendable func listConsents(_ request: Request, context: AppRequestContext) async throws -> ConsentListResponse {
        let caller = try context.requireUser()
        try TenantPolicy.require(caller, .readLeads)
        let id = try context.id("id", of: Lead.self, "lead")
        let now = now()
        let consents = try await database.withTenant(caller.tenantID) { transaction in
            guard try await leads.visible(id, to: caller, in: transaction) != nil else { throw DomainError.notFound("lead") }
            return try await privacy.consents(of: id, in: transaction)
        }
        return ConsentListResponse(items: consents.map { ConsentResponse($0, now: now) })
    }

    struct WithdrawalResponse: ResponseEncodable {
        var consent: ConsentResponse
        /// The targets' copies de-identified by this withdrawal.
        var redactedCopies: Int
    }

    /// `POST /v1/leads/{id}/consents/{consentId}/withdraw`: withdraws a consent and, in the same
    /// transaction, de-identifies every copy that crossed under it alone.
    @Sendable func withdrawConsent(_ request: Request, context: AppRequestContext) async throws -> WithdrawalResponse {
        let caller = try context.requireUser()
        try TenantPolicy.require(caller, .workLeads)
        let id = try context.id("id", of: Lead.self, "lead")
        let consentID = try context.id("consentId", of: Consent.self, "consent")
        let now = now()
        return try await database.withTenant(caller.tenantID) { transaction in
            guard try await leads.visible(id, to: caller, in: transaction) != nil else { throw DomainError.notFound("lead") }
            guard let consent = try await privacy.withdraw(consentID, lead: id, by: caller.userID, now: now, in: transaction)
            else { throw DomainError.notFound("consent") }
            let redacted = try await privacy.lapse(consentID, now: now, in: transaction) ?? []
            return WithdrawalResponse(consent: ConsentResponse(consent, now: now), redactedCopies: redacted.count)
        }
    }

    struct ConsentRequestResponse: ResponseEncodable {
        var requested: Bool
    }

    /// `POST /v1/leads/{id}/consent-request`: the target of a de-identified referral asks its
    /// source for the person's consent (the referral's creator is emailed).
    @Sendable func requestConsent(_ request: Request, context: AppRequestContext) async throws -> ConsentRequestResponse {
        let caller = try context.requireUser()
        try TenantPolicy.require(caller, .workLeads)
        let id = try context.id("id", of: Lead.self, "lead")
        let now = now()
        try await database.withTenant(caller.tenantID) { transaction in
            guard let lead = try await leads.visible(id, to: caller, in: transaction) else { throw DomainError.notFound("lead") }
            try await privacy.requestConsent(for: lead, now: now, in: transaction)
        }
        return ConsentRequestResponse(requested: true)
    }

    struct MatchesResponse: ResponseEncodable {
        /// Other organisations holding a lead with the same email or phone (keyed-hash match).
        var knownToOrganisations: Int
        /// This tenant's other leads with the same email or phone.
        var relatedLeads: [Lead.ID]
        /// Where this tenant sent the lead and its matches.
        var referrals: [CopyResponse]

        enum CodingKeys: String, CodingKey { case knownToOrganisations, relatedLeads, referrals }
    }

    struct CopyResponse: Encodable {
        var referralID: Referral.ID
        var leadID: Lead.ID
        var organisationID: Tenant.ID
        var organisationName: String
        var sentAt: Date
        var status: String
        var withdrawnAt: Date?
        var consentID: Consent.ID?
        /// `whole` (under `consent_id`) or `deidentified`; `withdrawn` once the referral ended.
        var crossed: String

        enum CodingKeys: String, CodingKey {
            case referralID = "referralId", leadID = "leadId", organisationID = "organisationId", organisationName, sentAt, status,
                withdrawnAt, consentID = "consentId", crossed
        }

        init(_ copy: PostgresPrivacyRepository.Copy) {
            referralID = copy.referralID
            leadID = copy.leadID
            organisationID = copy.organisationID
            organisationName = copy.organisationName
            sentAt = copy.sentAt
            status = copy.statusName
            withdrawnAt = copy.withdrawnAt
            consentID = copy.consentID
            crossed = copy.withdrawnAt != nil ? "withdrawn" : copy.identityShared ? "whole" : "deidentified"
        }
    }

    /// `GET /v1/leads/{id}/matches`: "known to N other organisations", computed from keyed hashes
    /// of the normalised email and phone; no other organisation's field is read or returned.
    @Sendable func matches(_ request: Request, context: AppRequestContext) async throws -> MatchesResponse {
        let caller = try context.requireUser()
        try TenantPolicy.require(caller, .readLeads)
        let id = try context.id("id", of: Lead.self, "lead")
        return try await database.withTenant(caller.tenantID) { transaction in
            guard try await leads.visible(id, to: caller, in: transaction) != nil else { throw DomainError.notFound("lead") }
            let (count, related) = try await privacy.matches(of: id, in: transaction)
            let copies = try await privacy.copies(of: [id] + related, in: transaction)
            return MatchesResponse(knownToOrganisations: count, relatedLeads: related, referrals: copies.map(CopyResponse.init))
        }
    }

    struct AccessLogResponse: ResponseEncodable {
        struct Entry: Encodable {
            var at: Date
            var userID: User.ID?
            var deviceID: Device.ID?
            var channel: String
            enum CodingKeys: String, CodingKey { case at, userID = "userId", deviceID = "deviceId", channel }
        }
        var items: [Entry]
    }

    /// `GET /v1/leads/{id}/access-log` (admins): who read the lead's personal data, through what.
    @Sendable func accessLog(_ request: Request, context: AppRequestContext) async throws -> AccessLogResponse {
        let caller = try context.requireUser()
        guard caller.has(.admin) else { throw DomainError.forbidden("only an admin reads who viewed a lead") }
        let id = try context.id("id", of: Lead.self, "lead")
        let log = try await database.withTenant(caller.tenantID) { transaction in
            guard try await leads.exists(id, in: transaction) else { throw DomainError.notFound("lead") }
            return try await privacy.accessLog(of: id, in: transaction)
        }
        return AccessLogResponse(items: log.map { .init(at: $0.at, userID: $0.userID, deviceID: $0.deviceID, channel: $0.channel) })
    }

    struct SubjectExport: ResponseEncodable {
        struct Subject: Encodable {
            var email: String?
            var phone: String?
        }
        struct Source: Encodable {
            var organisationID: Tenant.ID
            var organisationName: String?
            var referralID: Referral.ID
            enum CodingKeys: String, CodingKey { case organisationID = "organisationId", organisationName, referralID = "referralId" }
        }
        struct Entry: Encodable {
            var lead: LeadResponse
            var notes: [NoteResponse]
            var activities: [ActivityResponse]
            var history: [LeadHistoryResponse.Entry]
            var consents: [ConsentResponse]
            /// Where copies went: which organisations, when, under which consent.
            var copies: [CopyResponse]
            /// The organisation the lead came from, for a referred lead.
            var receivedFrom: Source?
            var accessLog: [AccessLogResponse.Entry]
        }
        var subject: Subject
        var organisationID: Tenant.ID
        var generatedAt: Date
        var leads: [Entry]

        enum CodingKeys: String, CodingKey { case subject, organisationID = "organisationId", generatedAt, leads }
    }

    /// `GET /v1/subject-export?email=…&phone=…` (admins): everything the tenant holds about the
    /// person with that email or phone (matched as duplicates are, normalised), as one document.
    /// The export is itself a read of the person's data and is logged.
    @Sendable func subjectExport(_ request: Request, context: AppRequestContext) async throws -> SubjectExport {
        let caller = try context.requireUser()
        guard caller.has(.admin) else { throw DomainError.forbidden("only an admin exports a person's data") }
        let query = request.uri.queryParameters
        let email = try Validate.optionalEmail(query.get("email"), field: "email")
        let phone = try Validate.optionalPhone(query.get("phone"), field: "phone")
        guard email != nil || phone != nil else { throw DomainError.invalid("email", "give the person's email or phone") }
        let now = now()
        let entries = try await database.withTenant(caller.tenantID) { transaction in
            let ids = try await privacy.leads(matchingEmail: email, phone: phone, in: transaction)
            let all = try await templates.all(in: transaction)
            let copies = try await privacy.copies(of: ids, in: transaction)
            var entries: [SubjectExport.Entry] = []
            for id in ids {
                guard let lead = try await leads.get(id, in: transaction) else { continue }
                var source: SubjectExport.Source? = nil
                if let referral = lead.referralID, let from = lead.sourceTenantID {
                    source = .init(
                        organisationID: from, organisationName: try await privacy.organisationName(from, on: transaction.connection), referralID: referral)
                }
                entries.append(
                    .init(
                        lead: LeadResponse(lead, template: all.first { $0.key == lead.templateKey }, now: now),
                        notes: try await notes.list(lead: id, in: transaction).map(NoteResponse.init),
                        activities: try await activities.list(lead: id, in: transaction).map(ActivityResponse.init),
                        history: LeadHistoryResponse(try await leads.history(of: id, in: transaction)).items,
                        consents: try await privacy.consents(of: id, in: transaction).map { ConsentResponse($0, now: now) },
                        copies: copies.filter { $0.leadID == id }.map(CopyResponse.init), receivedFrom: source,
                        accessLog: try await privacy.accessLog(of: id, in: transaction).map {
                            .init(at: $0.at, userID: $0.userID, deviceID: $0.deviceID, channel: $0.channel)
                        }))
            }
            try await privacy.logAccess(ids, channel: .export, user: caller.userID, now: now, in: transaction)
            return entries
        }
        return SubjectExport(subject: .init(email: email, phone: phone), organisationID: caller.tenantID, generatedAt: now, leads: entries)
    }
}

// MARK: Erasure

extension PrivacyController {
    func addErasureRoutes(to group: RouterGroup<AppRequestContext>) {
        group.post("erasures", use: erase)
        group.get("erasures/{id}", use: erasure)
    }

    struct ErasureRequest: Decodable {
        var leadID: Lead.ID?
        var email: String?
        var phone: String?
        enum CodingKeys: String, CodingKey { case leadID = "leadId", email, phone }
    }

    struct ErasureResponse: ResponseEncodable {
        struct Copy: Encodable {
            var organisationID: Tenant.ID
            var leadID: Lead.ID
            var erasedAt: Date
            enum CodingKeys: String, CodingKey { case organisationID = "organisationId", leadID = "leadId", erasedAt }
        }
        struct DeviceState: Encodable {
            var organisationID: Tenant.ID
            var leadID: Lead.ID
            var deviceID: Device.ID
            /// When the device's next pull after the purge confirmed it; absent while it has not synced.
            var acknowledgedAt: Date?
            enum CodingKeys: String, CodingKey { case organisationID = "organisationId", leadID = "leadId", deviceID = "deviceId", acknowledgedAt }
        }
        var id: UUID
        var requestedBy: User.ID?
        var requestedAt: Date
        var copies: [Copy]
        var devices: [DeviceState]
        var devicesPending: Int

        init(_ erasure: PostgresPrivacyRepository.Erasure) {
            id = erasure.id
            requestedBy = erasure.requestedBy
            requestedAt = erasure.requestedAt
            copies = erasure.copies.map { .init(organisationID: $0.organisationID, leadID: $0.leadID, erasedAt: $0.erasedAt) }
            devices = erasure.devices.map {
                .init(organisationID: $0.organisationID, leadID: $0.leadID, deviceID: $0.deviceID, acknowledgedAt: $0.acknowledgedAt)
            }
            devicesPending = erasure.devices.filter { $0.acknowledgedAt == nil }.count
        }
    }

    /// `POST /v1/erasures` (admins): erases a person — one lead, or every lead of the tenant with
    /// their email or phone — and every copy sent on from them, in one transaction.
    @Sendable func erase(_ request: Request, context: AppRequestContext) async throws -> Created<ErasureResponse> {
        let caller = try context.requireUser()
        guard caller.has(.admin) else { throw DomainError.forbidden("only an admin erases a person's data") }
        let body = try await request.decodeJSON(ErasureRequest.self, context: context)
        let email = try Validate.optionalEmail(body.email, field: "email")
        let phone = try Validate.optionalPhone(body.phone, field: "phone")
        guard body.leadID != nil || email != nil || phone != nil else {
            throw DomainError.invalid("lead_id", "name the lead, or give the person's email or phone")
        }
        let now = now()
        let erasure = try await database.withTenant(caller.tenantID) { transaction in
            var targets: [Lead.ID] = []
            if let lead = body.leadID {
                guard try await leads.exists(lead, in: transaction) else { throw DomainError.notFound("lead") }
                targets.append(lead)
            }
            if email != nil || phone != nil {
                for lead in try await privacy.leads(matchingEmail: email, phone: phone, in: transaction)
                where !targets.contains(lead) {
                    targets.append(lead)
                }
            }
            guard !targets.isEmpty else { throw DomainError.notFound("lead") }
            let id = try await privacy.erase(targets, requestedBy: caller.userID, now: now, in: transaction)
            guard let erasure = try await privacy.erasure(id, in: transaction) else {
                throw DomainError.notFound("erasure")
            }
            return erasure
        }
        return Created(body: ErasureResponse(erasure))
    }

    /// `GET /v1/erasures/{id}` (admins): which copies were erased, and which devices have
    /// acknowledged the purge and which have not synced since.
    @Sendable func erasure(_ request: Request, context: AppRequestContext) async throws -> ErasureResponse {
        let caller = try context.requireUser()
        guard caller.has(.admin) else { throw DomainError.forbidden("only an admin reads erasures") }
        guard let text = context.parameters.get("id"), let id = UUID(uuidString: text) else { throw DomainError.notFound("erasure") }
        guard let erasure = try await database.withTenant(caller.tenantID, { transaction in
            try await privacy.erasure(id, in: transaction)
        }) else { throw DomainError.notFound("erasure") }
        return ErasureResponse(erasure)
    }
}
