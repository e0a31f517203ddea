import Foundation
import Hummingbird
import HubNetCore
import HubNetPostgres

/// Devices: a user registers theirs and gets a device token (shown once); users list and revoke
/// their own, tenant admins anyone's. A revoked device's token stops working at once.
struct DeviceController {
    let database: Database
    let devices: PostgresDeviceRepository
    /// The server's clock: a revocation is stamped by it.
    var now: @Sendable () -> Date = { Date() }

    func addRoutes(to group: RouterGroup<AppRequestContext>) {
        group.post("devices", use: register)
        group.get("devices", use: list)
        group.delete("devices/{id}", use: revoke)
    }

    struct RegisterRequest: Decodable { var name: String }

    struct DeviceBody: Encodable, Sendable {
        var id: Device.ID
        var userId: User.ID
        var name: String
        var createdAt: Date
        var lastSeenAt: Date?
        var revokedAt: Date?

        init(_ device: Device) {
            self.id = device.id
            self.userId = device.userID
            self.name = device.name
            self.createdAt = device.createdAt
            self.lastSeenAt = device.lastSeenAt
            self.revokedAt = device.revokedAt
        }
    }

    struct Registered: ResponseEncodable {
        var device: DeviceBody
        /// The device's bearer token (`hnd_…`); shown this once.
        var token: String
    }

    struct ListBody: ResponseEncodable { var items: [DeviceBody] }

    @Sendable func register(_ request: Request, context: AppRequestContext) async throws -> Created<Registered> {
        let caller = try context.requireUser()
        let body = try await request.decodeJSON(RegisterRequest.self, context: context)
        guard let (device, token) = try await database.withTenant(caller.tenantID, { transaction in
            try await devices.register(name: body.name, for: caller.userID, in: transaction)
        }) else { throw DomainError.notFound("user") }
        return Created(body: Registered(device: DeviceBody(device), token: token))
    }

    /// The caller's devices; an admin sees every device of the tenant.
    @Sendable func list(_ request: Request, context: AppRequestContext) async throws -> ListBody {
        let caller = try context.requireUser()
        let everyone = TenantPolicy.allows(caller, .manageOthersTokens)
        let items = try await database.withTenant(caller.tenantID) { transaction in
            try await devices.list(user: everyone ? nil : caller.userID, in: transaction)
        }
        return ListBody(items: items.map(DeviceBody.init))
    }

    @Sendable func revoke(_ request: Request, context: AppRequestContext) async throws -> NoContent {
        let caller = try context.requireUser()
        let id = try context.id("id", of: Device.self, "device")
        try await database.withTenant(caller.tenantID) { transaction in
            guard let device = try await devices.get(id, in: transaction) else {
                throw DomainError.notFound("device")
            }
            if device.userID != caller.userID { try TenantPolicy.require(caller, .manageOthersTokens) }
            try await devices.revoke(id, now: now(), in: transaction)
        }
        return NoContent()
    }
}
