import Foundation
import HubNetCore
import Logging
import PostgresNIO

/// Devices of users: registered with a device token (shown once, stored as a hash), listed, revoked.
public struct PostgresDeviceRepository: Sendable {
    public let logger: Logger

    public init(logger: Logger) { self.logger = logger }

    static let columns = "id, tenant_id, user_id, name, created_at, last_seen_at, revoked_at"

    /// A new device of an active user, and its token; `nil` when there is no such active user.
    public func register(name: String, for user: User.ID, in transaction: TenantTransaction)
        async throws -> (Device, String)?
    {
        let name = try Validate.text(name, field: "name", max: 200)
        let token = BearerToken.generate(.device, tenant: transaction.tenant)
        let rows = try await transaction.connection.rows(
            """
            INSERT INTO devices (tenant_id, id, user_id, name, token_hash)
            SELECT \(transaction.tenant), \(Device.ID()), u.id, \(name), \(token.hash)
            FROM users AS u WHERE u.tenant_id = \(transaction.tenant) AND u.id = \(user) AND u.deactivated_at IS NULL
            RETURNING \(unescaped: Self.columns)
            """, logger: logger)
        guard let device = try await Self.devices(rows).first else { return nil }
        return (device, token.stringValue)
    }

    /// The tenant's devices, or one user's.
    public func list(user: User.ID?, in transaction: TenantTransaction) async throws -> [Device] {
        try await Self.devices(
            transaction.connection.rows(
                """
                SELECT \(unescaped: Self.columns) FROM devices
                WHERE tenant_id = \(transaction.tenant) AND (\(user)::UUID IS NULL OR user_id = \(user)) ORDER BY created_at, id
                """, logger: logger))
    }

    public func get(_ id: Device.ID, in transaction: TenantTransaction) async throws -> Device? {
        try await Self.devices(
            transaction.connection.rows("SELECT \(unescaped: Self.columns) FROM devices WHERE tenant_id = \(transaction.tenant) AND id = \(id)", logger: logger)
        ).first
    }

    /// Revokes a device: its token stops working at once. Stamped `now` by the server's clock.
    public func revoke(_ id: Device.ID, now: Date, in transaction: TenantTransaction) async throws {
        try await transaction.connection.rows(
            "UPDATE devices SET revoked_at = COALESCE(revoked_at, \(now)) WHERE tenant_id = \(transaction.tenant) AND id = \(id)", logger: logger)
    }

    /// Every authenticated request's statement, kept parsed per connection (`PreparedStatementKey`).
    enum AuthenticateDevice: PreparedStatementKey {}

    /// The user behind a live device token of an active user; notes the device as seen at most once a
    /// minute, by the server's clock (a virtual one under test: staleness in routing compares it), and
    /// only when the device's row is free (a push holds it): authentication never waits for it.
    /// A revoked device or a deactivated user is `AccessEnded` (the device must wipe), an unknown
    /// token `nil`.
    /// One statement (`hubnet_authenticate_device`) outside any transaction (`Database.withSingleStatement`).
    /// - Parameter lockTimeout: how long noting the last use may wait for anything but the device row
    ///   (a table lock during a migration); a device row held by another transaction is skipped.
    public func authenticate(
        _ token: BearerToken, now: Date = Date(), lockTimeout: Duration = .seconds(5), on connection: PostgresConnection
    ) async throws -> AuthenticatedUser? {
        guard token.kind == .device else { return nil }
        let rows = try await connection.rows(
            """
            SELECT auth_device, auth_user, auth_roles, auth_kind, auth_revoked, auth_deactivated, auth_last_mutation
            FROM hubnet_authenticate_device(\(token.tenantID), \(token.hash), \(now), \(Int32(clamping: lockTimeout.milliseconds)))
            """, preparedAs: AuthenticateDevice.self, logger: logger)
        for (deviceID, userID, roles, kind, revoked, deactivated, lastMutation) in try rows.decode(
            (Device.ID, User.ID, [String], String, Bool, Bool, Int64).self)
        {
            return try Self.answer(
                token, device: deviceID, user: userID, roles: roles, kind: kind, revoked: revoked, deactivated: deactivated,
                lastMutation: lastMutation)
        }
        return nil
    }

    /// Checks several device tokens in one statement (`hubnet_authenticate_devices`), each exactly
    /// as `authenticate` checks it alone: one answer per token, in order (a revoked device is that
    /// token's failure). A token of another kind answers `nil`.
    public func authenticateMany(_ tokens: [BearerToken], now: Date, lockTimeout: Duration = .seconds(5), on connection: PostgresConnection)
        async throws -> [Result<AuthenticatedUser?, any Error>]
    {
        var answers: [Result<AuthenticatedUser?, any Error>] = Array(repeating: .success(nil), count: tokens.count)
        let checked = tokens.indices.filter { tokens[$0].kind == .device }
        guard !checked.isEmpty else { return answers }
        // Not a prepared statement: a batch's rows can exceed one network read, and PostgresNIO's
        // row stream for a prepared statement stops the process when the connection drops in the
        // middle of such a result (see `PreparedStatementKey`); collected rows fail instead.
        let rows = try await connection.rows(
            """
            SELECT auth_position, auth_device, auth_user, auth_roles, auth_kind, auth_revoked, auth_deactivated, auth_last_mutation
            FROM hubnet_authenticate_devices(\(checked.map { tokens[$0].tenantID.rawValue })::UUID[],
                ARRAY(SELECT decode(h, 'hex') FROM unnest(\(checked.map { BearerToken.hex(tokens[$0].hash) })::TEXT[]) WITH ORDINALITY AS x(h, n) ORDER BY n), \(now), \(Int32(clamping: lockTimeout.milliseconds)))
            """, logger: logger)
        for (position, deviceID, userID, roles, kind, revoked, deactivated, lastMutation) in try rows.decode(
            (Int32, Device.ID, User.ID, [String], String, Bool, Bool, Int64).self)
        {
            guard position >= 1, Int(position) <= checked.count else { continue }
            let index = checked[Int(position) - 1]
            answers[index] = Result {
                try Self.answer(
                    tokens[index], device: deviceID, user: userID, roles: roles, kind: kind, revoked: revoked, deactivated: deactivated,
                    lastMutation: lastMutation)
            }
        }
        return answers
    }

    /// What a device's row means. Deactivating a user revokes their devices too; the user's
    /// standing is the better answer.
    static func answer(
        _ token: BearerToken, device: Device.ID, user: User.ID, roles: [String], kind: String, revoked: Bool, deactivated: Bool,
        lastMutation: Int64
    ) throws -> AuthenticatedUser? {
        if deactivated { throw AccessEnded(.userDeactivated, lastMutationID: lastMutation) }
        if revoked { throw AccessEnded(.deviceRevoked, lastMutationID: lastMutation) }
        guard let kind = Tenant.Kind(rawValue: kind) else { return nil }
        return AuthenticatedUser(
            userID: user, tenantID: token.tenantID, tenantKind: kind, roles: Set(roles.compactMap(Role.init(rawValue:))), deviceID: device)
    }

    static func devices(_ rows: PostgresRows) async throws -> [Device] {
        var devices: [Device] = []
        for (id, tenant, user, name, createdAt, lastSeenAt, revokedAt) in try rows.decode(
            (Device.ID, Tenant.ID, User.ID, String, Date, Date?, Date?).self)
        {
            devices.append(Device(id: id, tenantID: tenant, userID: user, name: name, createdAt: createdAt, lastSeenAt: lastSeenAt, revokedAt: revokedAt))
        }
        return devices
    }
}
