import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HubNetCore
import HubNetPostgres
import NIOCore

/// Evidence bundles: one signed JSON document per referral that either side can hand to a third
/// party, who checks it offline with `hubnet verify FILE`; and each organisation's public key.
struct EvidenceController {
    let database: Database
    let access: ReferralAccess
    let leads: PostgresLeadRepository
    let listings: PostgresListingRepository
    let keys: PostgresSigningKeyRepository
    let now: @Sendable () -> Date

    /// `GET /v1/referrals/{id}/evidence` (authenticated).
    func addRoutes(to group: RouterGroup<AppRequestContext>) {
        group.get("referrals/{id}/evidence", use: evidence)
    }

    /// `GET /v1/organizations/{id}/signing-key` (public, as the directory is).
    func addPublicRoutes(to group: RouterGroup<AppRequestContext>) {
        group.get("organizations/{id}/signing-key", use: signingKey)
    }

    /// The bundle, signed by the organisation that holds the history chain (the target).
    @Sendable func evidence(_ request: Request, context: AppRequestContext) async throws -> Response {
        let caller = try context.requireUser()
        let id = try context.id("id", of: Referral.self, "referral")
        let now = now()
        let (referral, history, listing, key) = try await database.withTenant(caller.tenantID) { transaction in
            guard let referral = try await access.referral(id, caller: caller, in: transaction) else {
                throw DomainError.notFound("referral")
            }
            // The chain (which the source may follow, `VisibilityPolicy`), the listing and the key
            // are the target's: read in its rows, then back.
            let (history, listing, key) = try await transaction.visiting(referral.targetTenantID) { target in
                let history = try await leads.history(of: referral.targetLeadID, in: target)
                let listing = try await referral.targetListingID.asyncMap { try await listings.get($0, in: target) } ?? nil
                return (history, listing, try await keys.key(now: now, in: target))
            }
            return (referral, history, listing, key)
        }
        let organisations = try await access.organisations(of: [referral])
        guard let source = organisations[referral.sourceTenantID], let target = organisations[referral.targetTenantID] else {
            throw DomainError.notFound("referral")
        }
        let bytes = try EvidenceBundle.make(
            .init(
                referral: referral, source: source, target: target, listing: listing.map { HSDS.service($0, hubName: target.name) },
                history: history, issuedAt: now),
            signer: target.id, key: try Curve25519.Signing.PrivateKey(rawRepresentation: key))
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        headers[.contentDisposition] = "attachment; filename=\"referral-\(referral.id)-evidence.json\""
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    struct SigningKeyResponse: ResponseEncodable {
        var organization: String
        var algorithm: String
        var keyId: String
        /// The raw 32-byte Ed25519 public key, base64.
        var publicKey: String
        var createdAt: Date
    }

    /// An organisation's public key, once it has signed a bundle; the same `not_found` otherwise.
    @Sendable func signingKey(_ request: Request, context: AppRequestContext) async throws -> SigningKeyResponse {
        let id = try context.id("id", of: Tenant.self, "organization")
        guard let key = try await database.withNetwork({ connection in try await keys.published(for: id, on: connection) }) else {
            throw DomainError.notFound("signing key")
        }
        return SigningKeyResponse(
            organization: "Organization/\(id)", algorithm: "Ed25519", keyId: key.keyID,
            publicKey: key.rawRepresentation.base64EncodedString(), createdAt: key.createdAt)
    }
}

extension Optional {
    fileprivate func asyncMap<T>(_ transform: (Wrapped) async throws -> T) async rethrows -> T? {
        guard let value = self else { return nil }
        return try await transform(value)
    }
}
