import Foundation
import HTTPTypes
import Hummingbird
import HubNetCore
import HubNetPostgres
import NIOCore

/// Read-only FHIR R4 views of referrals under `/fhir`: `Task/{id}`, a Task search, and the
/// ServiceRequest and Organization resources the Tasks point at. Same bearer tokens, same
/// visibility as the API: a referral's two organisations see it, nobody else.
struct FHIRController {
    let database: Database
    let access: ReferralAccess
    let leads: PostgresLeadRepository
    let listings: PostgresListingRepository
    let baseURL: String

    func addRoutes(to group: RouterGroup<AppRequestContext>) {
        group.get("Task/{id}", use: task)
        group.get("Task", use: search)
        group.get("ServiceRequest/{id}", use: serviceRequest)
        group.get("Organization/{id}", use: organization)
    }

    @Sendable func task(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (referral, organisations) = try await visible(context)
        return try Self.respond(ReferralTask.task(referral, source: organisations.source, target: organisations.target))
    }

    @Sendable func serviceRequest(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (referral, organisations) = try await visible(context)
        return try Self.respond(
            ReferralTask.serviceRequest(
                referral, source: organisations.source, target: organisations.target, listingName: try await listingName(referral)))
    }

    /// The caller's own organisation, or one it has sent a referral to or received one from.
    @Sendable func organization(_ request: Request, context: AppRequestContext) async throws -> Response {
        let caller = try context.requireUser()
        let id = try context.id("id", of: Tenant.self, "organization")
        var related = id == caller.tenantID
        if !related {
            related = try await database.withTenant(caller.tenantID) { transaction in
                try await access.referrals.exchanged(with: id, in: transaction)
            }
        }
        guard related, let tenant = try await access.tenants.get(id) else { throw DomainError.notFound("organization") }
        return try Self.respond(ReferralTask.organization(tenant))
    }

    /// `GET /fhir/Task?owner=&requester=&status=&_count=`: the caller's sent referrals, then the
    /// received ones (a position in `_cursor` tells which), filtered, as a `searchset` Bundle with
    /// each Task's ServiceRequest and organisations included.
    @Sendable func search(_ request: Request, context: AppRequestContext) async throws -> Response {
        let caller = try context.requireUser()
        let query = request.uri.queryParameters
        let me = caller.tenantID
        let owner = try query.get("owner").map { text throws(DomainError) in try Self.organisationParameter(text, field: "owner") }
        let requester = try query.get("requester").map { text throws(DomainError) in
            try Self.organisationParameter(text, field: "requester")
        }
        var statuses: Set<String>?
        if let text = query.get("status") {
            let codes = Set(text.split(separator: ",").map(String.init))
            guard !codes.isEmpty, codes.isSubset(of: ReferralTask.taskStatuses) else {
                throw DomainError.invalid("status", "must be Task status codes (requested, received, accepted, …), comma-separated")
            }
            statuses = codes
        }
        var count = 50
        if let text = query.get("_count") {
            guard let number = Int(text), (1...PageRequest.maximumLimit).contains(number) else {
                throw DomainError.invalid("_count", "must be a whole number between 1 and \(PageRequest.maximumLimit)")
            }
            count = number
        }
        var sent = owner != me && (requester == nil || requester == me)
        let received = (owner == nil || owner == me) && (requester == nil || requester != me)
        var after: PageCursor?
        if let text = query.get("_cursor") {
            guard text.hasPrefix("s.") || text.hasPrefix("r."), let cursor = try? PageCursor(token: String(text.dropFirst(2))) else {
                throw DomainError.invalid("_cursor", "is not a position this server issued")
            }
            if text.hasPrefix("r.") { sent = false }
            after = cursor
        }
        let filterOwner = owner
        let filterRequester = requester
        func matches(_ referral: Referral) -> Bool {
            (filterOwner == nil || referral.targetTenantID == filterOwner)
                && (filterRequester == nil || referral.sourceTenantID == filterRequester)
                && (statuses == nil || statuses?.contains(ReferralTask.status(referral)) == true)
        }
        let scanning = sent
        let (found, next) = try await database.withTenant(me) { transaction -> ([Referral], String?) in
            var found: [Referral] = []
            // Nothing to scan: the filters exclude both directions (or a received-side position
            // came back with filters that exclude that side).
            guard scanning || received else { return (found, nil) }
            var inSent = scanning
            var cursor = after
            // A bounded scan: at most ten pages of the caller's records per request; a page may
            // hold fewer matches than `_count` and still link to the next.
            for _ in 0..<10 {
                let page = try PageRequest(limit: PageRequest.maximumLimit, after: cursor)
                var scanned: [(Referral?, PageCursor)] = []
                var more: Bool
                if inSent {
                    let result = try await access.referrals.list(page: page, in: transaction)
                    scanned = result.items.map { ($0, PageCursor(createdAt: $0.createdAt, id: $0.id.rawValue)) }
                    more = result.nextCursor != nil
                } else {
                    var filter = LeadFilter()
                    filter.source = .referral
                    filter.includeArchived = true
                    filter.viewer = VisibilityPolicy.seesWholeTenant(caller.roles) ? nil : caller.userID
                    let result = try await leads.list(filter, page: page, in: transaction)
                    let mirrors = try await access.referrals.mirrors(of: result.items, in: transaction)
                    scanned = result.items.map { lead in
                        (lead.referralID.flatMap { mirrors[$0] }, PageCursor(createdAt: lead.state.createdAt, id: lead.id.rawValue))
                    }
                    more = result.nextCursor != nil
                }
                for (referral, position) in scanned {
                    cursor = position
                    guard let referral, matches(referral) else { continue }
                    found.append(referral)
                    if found.count == count {
                        let last = position == scanned.last?.1
                        if last && !more {
                            return (found, inSent && received ? "r." + PageCursor.start.token : nil)
                        }
                        return (found, (inSent ? "s." : "r.") + position.token)
                    }
                }
                if !more {
                    guard inSent, received else { return (found, nil) }
                    inSent = false
                    cursor = nil
                }
            }
            return (found, cursor.map { (inSent ? "s." : "r.") + $0.token })
        }
        let organisations = try await access.organisations(of: found)
        var entries: [FHIR.Bundle.Entry] = []
        var included: [FHIR.Bundle.Entry] = []
        var seenOrganisations: Set<Tenant.ID> = []
        for referral in found {
            guard let source = organisations[referral.sourceTenantID], let target = organisations[referral.targetTenantID] else { continue }
            let task = ReferralTask.task(referral, source: source, target: target)
            entries.append(entry(.task(task), mode: "match"))
            included.append(
                entry(.serviceRequest(ReferralTask.serviceRequest(referral, source: source, target: target, listingName: nil)), mode: "include"))
            for tenant in [source, target] where seenOrganisations.insert(tenant.id).inserted {
                included.append(entry(.organization(ReferralTask.organization(tenant)), mode: "include"))
            }
        }
        var links = [FHIR.Bundle.Link(relation: "self", url: "\(baseURL)\(request.uri)")]
        if let next {
            var parameters = URLComponents()
            parameters.queryItems = [
                owner.map { URLQueryItem(name: "owner", value: "Organization/\($0)") },
                requester.map { URLQueryItem(name: "requester", value: "Organization/\($0)") },
                statuses.map { URLQueryItem(name: "status", value: $0.sorted().joined(separator: ",")) },
                URLQueryItem(name: "_count", value: String(count)), URLQueryItem(name: "_cursor", value: next),
            ].compactMap { $0 }
            links.append(.init(relation: "next", url: "\(baseURL)/fhir/Task?\(parameters.percentEncodedQuery ?? "")"))
        }
        return try Self.respond(FHIR.Bundle(link: links, entry: entries + included))
    }

    private func entry(_ resource: FHIR.Resource, mode: String) -> FHIR.Bundle.Entry {
        .init(fullUrl: "\(baseURL)/fhir/\(resource.reference)", resource: resource, search: .init(mode: mode))
    }

    private func visible(_ context: AppRequestContext) async throws -> (Referral, (source: Tenant, target: Tenant)) {
        let caller = try context.requireUser()
        let id = try context.id("id", of: Referral.self, "referral")
        guard let referral = try await database.withTenant(caller.tenantID, { transaction in
            try await access.referral(id, caller: caller, in: transaction)
        }) else { throw DomainError.notFound("referral") }
        let organisations = try await access.organisations(of: [referral])
        guard let source = organisations[referral.sourceTenantID], let target = organisations[referral.targetTenantID] else {
            throw DomainError.notFound("referral")
        }
        return (referral, (source, target))
    }

    private func listingName(_ referral: Referral) async throws -> String? {
        guard let listingID = referral.targetListingID else { return nil }
        return try await database.withTenant(referral.targetTenantID) { transaction in
            try await listings.get(listingID, in: transaction)?.name
        }
    }

    /// `Organization/<id>` or a bare id.
    static func organisationParameter(_ text: String, field: String) throws(DomainError) -> Tenant.ID {
        let bare = text.hasPrefix("Organization/") ? String(text.dropFirst("Organization/".count)) : text
        guard let id = Tenant.ID(string: bare) else { throw .invalid(field, "must be Organization/<id>") }
        return id
    }

    static func respond(_ resource: some Encodable) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var headers = HTTPFields()
        headers[.contentType] = "\(FHIR.mediaType); charset=utf-8"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: try encoder.encode(resource))))
    }
}

/// Errors under `/fhir` as FHIR's OperationOutcome, with HubNet's code in the issue's details.
struct FHIRErrorMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            let (apiError, isInternal) = APIError.from(error)
            if isInternal { context.logger.error("request failed", metadata: ["error": "\(String(reflecting: error))"]) }
            let outcome = FHIR.OperationOutcome(
                status: Int(apiError.status.code), code: apiError.code, message: apiError.message, field: apiError.field)
            var response = try FHIRController.respond(outcome)
            response.status = apiError.status
            if let retryAfter = apiError.retryAfter { response.headers[.retryAfter] = String(retryAfter) }
            if apiError.status == .unauthorized { response.headers[.wwwAuthenticate] = "Bearer" }
            return response
        }
    }
}
