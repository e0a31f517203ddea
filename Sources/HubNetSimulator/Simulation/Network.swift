import Foundation
import HubNetCore
import HubNetSync

/// The simulated network: organisations, people, their devices.
final class SimulatedDevice {
    let label: String
    /// A new one when the device is registered again after a revocation.
    var id: Device.ID
    /// The device's token, kept when its storage is wiped (as an app keeps it in the keychain).
    var token: String
    /// Its organisation revoked it while it was offline; its next sync must be refused.
    var revoked = false
    /// Replaced by a fresh one when the device's storage is wiped.
    var client: SyncClient
    /// The device stays offline until this hour of the run.
    var offlineUntilHour = 0
    let syncOffset: Int
    /// How far the device's clock is ahead (positive) or behind (negative) the true time.
    let clockSkew: TimeInterval

    init(label: String, id: Device.ID, token: String, client: SyncClient, syncOffset: Int, clockSkew: TimeInterval = 0) {
        self.clockSkew = clockSkew
        self.label = label
        self.id = id
        self.token = token
        self.client = client
        self.syncOffset = syncOffset
    }
}

final class Person {
    enum Kind { case moderator, advisor, partnerUser, sourcingUser }

    let label: String
    let kind: Kind
    /// A new user (and token) when the person is replaced after a deactivation.
    var userID: User.ID
    var token: String
    let email: String
    let organisation: Organisation
    /// Their organisation deactivated them while they were offline; a successor takes their place
    /// (same label, a new account and devices) when their devices next come online.
    var departed = false
    /// How many people have held this place before.
    var successors = 0
    var devices: [SimulatedDevice] = []
    /// Decisions already taken or dropped, by lead and status: each person decides once per state.
    var decided: Set<String> = []
    /// When a pending decision is due (hour of the run) and on which lead, by the same key.
    var due: [String: (hour: Int, lead: UUID)] = [:]
    /// Leads whose view on the device changed since the person last looked (a pull, their own action).
    var changed: Set<UUID> = []
    /// The device's whole store is new (a snapshot): look at every lead once.
    var lookAtAll = true
    /// An advisor whose admin has given them the `viewer` role (they see the whole hub).
    var widened = false

    init(label: String, kind: Kind, userID: User.ID, token: String, email: String, organisation: Organisation) {
        self.label = label
        self.kind = kind
        self.userID = userID
        self.token = token
        self.email = email
        self.organisation = organisation
    }

    var role: Role {
        switch kind {
        case .moderator: .moderator
        case .advisor: .advisor
        case .partnerUser, .sourcingUser: .partnerUser
        }
    }

    var mayGoOffline: Bool { kind == .advisor || kind == .partnerUser }
}

final class Organisation {
    let index: Int
    let name: String
    let kind: Tenant.Kind
    let tenant: NetworkAdmin.ProvisionedTenant
    /// Listings of a hub: (id, name).
    var listings: [(Listing.ID, String)] = []
    var people: [Person] = []
    let importTemplate: String?

    init(index: Int, name: String, kind: Tenant.Kind, tenant: NetworkAdmin.ProvisionedTenant, importTemplate: String?) {
        self.index = index
        self.name = name
        self.kind = kind
        self.tenant = tenant
        self.importTemplate = importTemplate
    }
}

/// A deterministic coin for one decision: the same seed, lead and decision always give the same
/// draw, whatever order the simulation meets them in.
struct Draw {
    private var generator: SplitMix64

    init(seed: UInt64, _ parts: String...) {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in parts.joined(separator: "|").utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01B3
        }
        generator = SplitMix64(seed: seed ^ hash)
    }

    /// Uniform in [0, 1).
    mutating func unit() -> Double { Double(generator.next() >> 11) / Double(1 << 53) }

    mutating func below(_ bound: Int) -> Int { bound <= 0 ? 0 : Int(generator.next() % UInt64(bound)) }

    /// Hours from an exponential with this mean, at least 1.
    mutating func hours(mean: Double) -> Int { max(1, Int((-log(1 - unit()) * mean).rounded())) }
}
