import Crypto
import Foundation
import HubNetCore
import Logging
import PostgresNIO

/// Each organisation's Ed25519 key for evidence bundles: made on first use, kept in its own rows.
public struct PostgresSigningKeyRepository: Sendable {
    public let logger: Logger

    public init(logger: Logger) { self.logger = logger }

    /// A published public key.
    public struct PublicKey: Sendable, Equatable {
        public var keyID: String
        public var rawRepresentation: Data
        public var createdAt: Date
    }

    /// The tenant's private key (its raw 32 bytes), made now if it has none. Runs in the tenant's transaction; two
    /// first uses at once keep one key (the loser's insert does nothing and it reads the winner's).
    public func key(now: Date, in transaction: TenantTransaction) async throws -> Data {
        let fresh = Curve25519.Signing.PrivateKey()
        let publicKey = fresh.publicKey.rawRepresentation
        try await transaction.connection.rows(
            """
            INSERT INTO tenant_signing_keys (tenant_id, key_id, private_key, public_key, created_at)
            VALUES (\(transaction.tenant), \(EvidenceBundle.keyID(publicKey)), \(fresh.rawRepresentation), \(publicKey), \(now))
            ON CONFLICT (tenant_id) DO NOTHING
            """, logger: logger)
        let rows = try await transaction.connection.rows(
            "SELECT private_key FROM tenant_signing_keys WHERE tenant_id = \(transaction.tenant)", logger: logger)
        for (raw,) in try rows.decode((Data,).self) {
            return raw
        }
        throw DomainError.notFound("signing key")
    }

    /// The public half of any organisation's key, `nil` when it has signed nothing yet.
    public func published(for tenant: Tenant.ID, on connection: PostgresConnection) async throws -> PublicKey? {
        let rows = try await connection.rows(
            "SELECT key_id, public_key, created_at FROM hubnet_signing_key(\(tenant))", logger: logger)
        for (keyID, raw, createdAt) in try rows.decode((String, Data, Date).self) {
            return PublicKey(keyID: keyID, rawRepresentation: raw, createdAt: createdAt)
        }
        return nil
    }
}
