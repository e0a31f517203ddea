import Foundation
import HTTPTypes
import Hummingbird
import HubNetCore
import HubNetPostgres

/// The public lead form of a listing: no login, validated, rate-limited per client address, with a
/// honeypot field that only robots fill in. A lead lands in the listing's hub as New.
struct LeadFormController {
    let database: Database
    let listings: PostgresListingRepository
    let leads: PostgresLeadRepository
    let templates: PostgresWorkflowTemplateRepository
    let privacy: PostgresPrivacyRepository
    let limiter: RateLimiter
    let trustForwardedFor: Bool
    let now: @Sendable () -> Date

    func addRoutes(to group: RouterGroup<AppRequestContext>) {
        group.post("public/listings/{id}/leads", use: submit)
    }

    struct Submission: Decodable, Sendable {
        var name: String
        var email: String?
        var phone: String?
        var city: String?
        var region: String?
        var request: String?
        /// The honeypot: hidden from people by the form, so only robots fill it.
        var website: String?
        /// The person's consent to their details going to other organisations (the form's
        /// checkbox), recorded with `method: lead_form`; without it a referral crosses de-identified.
        var consent: ConsentBody?
    }

    struct Receipt: ResponseEncodable {
        var status: String
    }

    @Sendable func submit(_ request: Request, context: AppRequestContext) async throws -> Response {
        let now = now()
        let client = clientAddress(request, context)
        let (allowed, retryAfter) = await limiter.admit(client, now: now)
        guard allowed else {
            var response = try APIError(
                status: .tooManyRequests, code: "rate_limited",
                message: "too many submissions from this address; try again in \(retryAfter) seconds"
            ).response(from: request, context: context)
            response.headers[.retryAfter] = String(retryAfter)
            return response
        }
        let id = try context.id("id", of: Listing.self, "listing")
        let submission = try await request.decodeJSON(Submission.self, context: context)
        let receipt = Receipt(status: "received")
        if let website = submission.website, !website.isEmpty {
            // Answer a robot exactly like a person, so it learns nothing; store nothing.
            context.logger.info("lead form honeypot filled", metadata: ["listing_id": "\(id)"])
            return try accepted(receipt, request, context)
        }
        guard let listing = try await database.withSingleStatement({ connection in try await listings.publishedOnItsOwn(id, on: connection) })
        else {
            throw DomainError.notFound("listing")
        }
        let details = LeadDetails(
            name: submission.name, email: submission.email, phone: submission.phone, city: submission.city,
            region: submission.region, request: submission.request)
        let key = TenantPolicy.defaultTemplateKey(for: .hub)
        try await database.withTenant(listing.tenantID) { transaction in
            guard let template = try await templates.template(key, in: transaction) else {
                throw DomainError.notFound("workflow template")
            }
            let lead = try await leads.create(
                details, template: template, source: .leadForm, createdBy: nil, listing: listing.id,
                now: now, in: transaction)
            if let consent = submission.consent {
                try await privacy.record(
                    try consent.consent(for: lead.id, recordedBy: nil, method: .leadForm, now: now, prefix: "consent."),
                    in: transaction)
            }
        }
        context.trace?.tenantID = listing.tenantID.description
        return try accepted(receipt, request, context)
    }

    private func accepted(_ receipt: Receipt, _ request: Request, _ context: AppRequestContext) throws -> Response {
        var response = try receipt.response(from: request, context: context)
        response.status = .accepted
        return response
    }

    private func clientAddress(_ request: Request, _ context: AppRequestContext) -> String {
        Self.clientAddress(request, context: context, trustForwardedFor: trustForwardedFor)
    }

    /// The client's address: the connection's peer, or behind a trusted proxy the first `X-Forwarded-For` entry.
    static func clientAddress(_ request: Request, context: AppRequestContext, trustForwardedFor: Bool) -> String {
        if trustForwardedFor, let forwarded = request.headers[.xForwardedFor]?.split(separator: ",").first {
            return forwarded.trimmingCharacters(in: .whitespaces)
        }
        return context.remoteAddress ?? "unknown"
    }
}

extension HTTPField.Name {
    static let xForwardedFor = HTTPField.Name("X-Forwarded-For")!
}
