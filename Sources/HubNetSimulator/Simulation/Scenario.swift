import Foundation

/// What a simulation runs: the network, the arrivals, the people's habits and odds, the devices.
/// Give one as a JSON file (`hubnet simulate --scenario FILE`), or start from a preset.
public struct Scenario: Sendable, Codable, Equatable {
    public var name: String
    public var seed: UInt64
    public var days: Int
    public var hubs: Int
    public var advisorsPerHub: Int
    public var listingsPerHub: Int
    public var partners: Int
    public var sourcingCompanies: Int
    /// Devices per user (every user works through devices running the client SDK).
    public var devicesPerUser: Int
    /// Leads per virtual day across the network, and how they arrive.
    public var leadsPerDay: Int
    public var channels: Channels
    /// Workflow templates the hubs' imported leads follow, round-robin over hubs (000, 002, 003).
    public var hubImportTemplates: [String]
    public var hubOdds: HubOdds
    public var partnerOdds: PartnerOdds
    /// Mean hours before a person first acts on a lead they can see.
    public var meanResponseHours: Double
    /// Chance per day that a device goes offline, and for how many hours.
    public var offlineChancePerDay: Double
    public var offlineHours: Int
    /// Hours between a device's syncs while online.
    public var syncEveryHours: Int
    /// Chance per day that a sourcing company tries to act on a lead it referred (it must be refused).
    public var sourceMeddlingPerDay: Double
    /// Chance that a person who decides on a lead also edits its region (two people editing the
    /// same lead offline is how conflicts arise).
    public var editChance: Double
    /// Days before a partner's unanswered lead expires, set in each partner company's own
    /// `partner_lead` template (the network's rule); absent: the template's 7.
    public var partnerExpiryDays: Int?
    /// Chance that, when an advisor works a lead handed to them, the hub's moderator corrects the
    /// same lead's region on their own device in the same hour: two offline edits of one field, a
    /// conflict for whichever device syncs second. Absent: 0.
    public var doubleEditChance: Double?
    /// Times per week, per hub, that the hub's admin widens or narrows an advisor's view (adds or
    /// removes the `viewer` role): the advisor's devices reset from a snapshot, and drop what they
    /// no longer see. Absent: never.
    public var viewChangesPerWeek: Double?
    /// Times per week, per device, that a device loses its storage but keeps its token (the app
    /// reinstalled): its unpushed work is lost, its next sync starts from a snapshot. Absent: never.
    public var deviceWipesPerWeek: Double?
    /// Virtual hours (from 0) at whose start the mail receiver goes down for the hour: deliveries
    /// fail and are retried by the outbox. Absent: never.
    public var smtpOutageHours: [Int]?
    /// Virtual hours (from 0) at whose start PostgreSQL crashes (`pg_ctl stop -m immediate`: every
    /// connection of the server cut, no checkpoint) and is started again, recovering from its WAL.
    /// While it is down a device syncs and an API client reads: both must be refused with 503 and
    /// `Retry-After`, nothing lost; then the server must find its way back by itself. Needs the
    /// simulator's own database (no `DATABASE_URL`). Absent: never.
    public var databaseRestartHours: [Int]?
    /// Virtual hours (from 0) at whose start the server process is killed with SIGKILL (a crash,
    /// the OOM killer) and started again on the same port and database. While it is gone a device
    /// syncs: the request must fail without an answer and the device keep its queue; the new
    /// process must carry on where the old one stopped. The server then runs as its own
    /// `hubnet serve` process on a frozen test clock the simulation moves (so its request timings
    /// are not in the page). Absent: the server runs inside the simulator.
    public var serverKillHours: [Int]?
    /// Times per week, per device, that a device's organisation revokes it while it is offline (a
    /// phone lost or handed back): its unpushed work is not acknowledged and is lost with it; its
    /// next sync must be refused with 401, after which its person registers it again and it starts
    /// from a snapshot. Absent: never.
    public var deviceRevocationsPerWeek: Double?
    /// Times per week, per person who works offline, that their organisation deactivates them
    /// while all their devices are offline (they left): each device's next sync must be refused
    /// with 401 and wipe it; a successor with the same role takes their place on new devices.
    /// Absent: never.
    public var userDeactivationsPerWeek: Double?
    /// The largest gap, in hours, between a device's clock and the true time: each device's clock
    /// runs ahead or behind by a drawn amount up to this, so the times it stamps on its mutations
    /// (and its own idea of what has expired) are off. Absent: every clock is right.
    public var deviceClockSkewHours: Double?
    /// How sourcing companies distribute their leads: absent, a person picks a partner at random;
    /// present, each company's rule (`PUT /v1/distribution-rule`, the pool being every partner)
    /// routes each lead (`POST /v1/leads/{id}/route`), with SLA pullback when it names one.
    public var distribution: Distribution?
    /// Share of new leads (lead form and sourcing companies) whose person consents to their details
    /// going to the network's organisations; the others' referrals cross de-identified. Which
    /// leads consent follows from their number, not the random stream. Absent: none.
    public var consentShare: Double?
    /// Whether devices keep the server's live channel open while online: a device pulls when it is
    /// poked (its tenant's change log grew past its cursor), not at every scheduled sync. `false`:
    /// every due device pulls at every sync, found something or not. Absent: true.
    public var liveChannel: Bool?

    public struct Distribution: Sendable, Codable, Equatable {
        /// `round_robin` or `weighted`.
        public var mode: String
        public var slaHours: Int?
        public var slaBusinessDays: Int?
        public var maxHops: Int?
        public var staleAfterHours: Int?
    }

    public struct Channels: Sendable, Codable, Equatable {
        public var leadForm: Double
        public var hubImport: Double
        public var sourcing: Double
    }

    public struct HubOdds: Sendable, Codable, Equatable {
        public var accept: Double
        public var decline: Double
        public var referExternal: Double
        public var contact: Double
        /// After acceptance: hand the client to an advisor.
        public var referInternal: Double
    }

    public struct PartnerOdds: Sendable, Codable, Equatable {
        public var accept: Double
        public var decline: Double
        /// The rest of a pending lead's odds: nobody answers and it expires.
        public var convert: Double
        public var notConvert: Double
    }

    public static let presets: [String: Scenario] = [
        "small": .small, "default": .standard, "all-templates": .allTemplates, "scale": .scale, "faults": .faults,
    ]

    /// The default network with faults injected: the mail receiver down for an hour on three
    /// days, PostgreSQL crashed and restarted twice, the server killed and restarted twice, devices wiping their storage several times a
    /// week and revoked while offline, views changed often. Every invariant must still hold.
    public static let faults: Scenario = {
        var scenario = standard
        scenario.name = "faults"
        scenario.smtpOutageHours = [9, 33, 105]
        scenario.databaseRestartHours = [14, 87]
        scenario.serverKillHours = [40, 130]
        scenario.deviceRevocationsPerWeek = 3
        scenario.userDeactivationsPerWeek = 1
        scenario.deviceWipesPerWeek = 2
        scenario.deviceClockSkewHours = 3
        scenario.viewChangesPerWeek = 6
        scenario.doubleEditChance = 0.6
        return scenario
    }()

    /// A minute on a laptop: 4 hubs, 6 partners, 2 sourcing companies, a week.
    public static let standard = Scenario(
        name: "default", seed: 42, days: 7, hubs: 4, advisorsPerHub: 2, listingsPerHub: 2, partners: 6, sourcingCompanies: 2,
        devicesPerUser: 1, leadsPerDay: 40, channels: .init(leadForm: 0.5, hubImport: 0.2, sourcing: 0.3),
        hubImportTemplates: ["hub_moderation", "staged_pipeline", "life_cycle"],
        hubOdds: .init(accept: 0.45, decline: 0.15, referExternal: 0.15, contact: 0.15, referInternal: 0.7),
        partnerOdds: .init(accept: 0.55, decline: 0.25, convert: 0.5, notConvert: 0.3), meanResponseHours: 20,
        offlineChancePerDay: 0.3, offlineHours: 10, syncEveryHours: 2, sourceMeddlingPerDay: 0.5,
        editChance: 0.3, partnerExpiryDays: 3, doubleEditChance: 0.3, viewChangesPerWeek: 2,
        deviceWipesPerWeek: 0.3, deviceRevocationsPerWeek: 1, userDeactivationsPerWeek: 0.5, consentShare: 0.8)

    /// The test's simulation: seconds, every template, every channel.
    public static let small: Scenario = {
        var scenario = standard
        scenario.name = "small"
        scenario.days = 3
        scenario.hubs = 3
        scenario.partners = 3
        scenario.sourcingCompanies = 1
        scenario.advisorsPerHub = 1
        scenario.listingsPerHub = 1
        scenario.leadsPerDay = 12
        return scenario
    }()

    /// Every built-in template in play (000 to 004), a longer run for timers and reminders.
    public static let allTemplates: Scenario = {
        var scenario = standard
        scenario.name = "all-templates"
        scenario.days = 40
        scenario.hubs = 6
        scenario.leadsPerDay = 15
        scenario.channels = .init(leadForm: 0.3, hubImport: 0.4, sourcing: 0.3)
        return scenario
    }()

    /// The issue's scale: 50 hubs, 200 partners, 30 days, 100,000 leads, about 500 devices.
    public static let scale: Scenario = {
        var scenario = standard
        scenario.name = "scale"
        scenario.days = 30
        scenario.hubs = 50
        scenario.advisorsPerHub = 4
        scenario.listingsPerHub = 2
        scenario.partners = 200
        scenario.sourcingCompanies = 10
        scenario.leadsPerDay = 3_334
        scenario.syncEveryHours = 4
        return scenario
    }()

    /// Odds must be probabilities that fit in one.
    public func validate() throws {
        func check(_ values: [Double], _ what: String) throws {
            guard values.allSatisfy({ $0 >= 0 }), values.reduce(0, +) <= 1.000_001 else {
                throw ScenarioError("\(what): odds must be between 0 and 1 and add up to at most 1")
            }
        }
        try check([channels.leadForm, channels.hubImport, channels.sourcing], "channels")
        try check([hubOdds.accept, hubOdds.decline, hubOdds.referExternal, hubOdds.contact], "hub_odds")
        try check([partnerOdds.accept, partnerOdds.decline], "partner_odds (pending)")
        try check([partnerOdds.convert, partnerOdds.notConvert], "partner_odds (accepted)")
        try check([editChance], "edit_chance")
        try check([doubleEditChance ?? 0], "double_edit_chance")
        try check([consentShare ?? 0], "consent_share")
        if let smtpOutageHours, !smtpOutageHours.allSatisfy({ (0..<days * 24).contains($0) }) {
            throw ScenarioError("smtp_outage_hours: each must be an hour of the run, from 0 to \(days * 24 - 1)")
        }
        if let databaseRestartHours, !databaseRestartHours.allSatisfy({ (0..<days * 24).contains($0) }) {
            throw ScenarioError("database_restart_hours: each must be an hour of the run, from 0 to \(days * 24 - 1)")
        }
        if let serverKillHours, !serverKillHours.allSatisfy({ (0..<days * 24).contains($0) }) {
            throw ScenarioError("server_kill_hours: each must be an hour of the run, from 0 to \(days * 24 - 1)")
        }
        if let deviceRevocationsPerWeek, !(0...168).contains(deviceRevocationsPerWeek) {
            throw ScenarioError("device_revocations_per_week: must be from 0 to 168")
        }
        if let userDeactivationsPerWeek, !(0...168).contains(userDeactivationsPerWeek) {
            throw ScenarioError("user_deactivations_per_week: must be from 0 to 168")
        }
        if let deviceClockSkewHours, !(0...168).contains(deviceClockSkewHours) {
            throw ScenarioError("device_clock_skew_hours: must be from 0 to 168")
        }
        if let deviceWipesPerWeek, !(0...168).contains(deviceWipesPerWeek) {
            throw ScenarioError("device_wipes_per_week: must be from 0 to 168")
        }
        if let viewChangesPerWeek, !(0...168).contains(viewChangesPerWeek) {
            throw ScenarioError("view_changes_per_week: must be from 0 to 168")
        }
        if let distribution {
            guard ["round_robin", "weighted"].contains(distribution.mode) else {
                throw ScenarioError("distribution.mode: must be round_robin or weighted")
            }
        }
        if let partnerExpiryDays, !(1...3650).contains(partnerExpiryDays) {
            throw ScenarioError("partner_expiry_days: must be from 1 to 3650")
        }
        guard days > 0, hubs >= 2, partners >= 1, sourcingCompanies >= 1, leadsPerDay >= 0, devicesPerUser >= 1, syncEveryHours >= 1 else {
            throw ScenarioError("days, devices_per_user and sync_every_hours must be positive; at least 2 hubs, 1 partner, 1 sourcing company")
        }
    }
}

public struct ScenarioError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

extension Scenario {
    /// This scenario with `key=value` overrides (`hubnet simulate --vary`): snake_case keys as
    /// `--print-scenario` shows them, dotted for nested ones (`partner_odds.accept`), values as
    /// JSON (`7`, `0.5`, `["life_cycle"]`) or else text. An unknown key is refused, not ignored.
    public func varied(_ overrides: [String]) throws -> Scenario {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = .sortedKeys
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        var object = try JSONSerialization.jsonObject(with: try encoder.encode(self)) as? [String: Any] ?? [:]
        var applied: [(path: [String], value: Any)] = []
        for override in overrides {
            guard let equals = override.firstIndex(of: "="), equals != override.startIndex else {
                throw ScenarioError("--vary \(override): write key=value, e.g. partner_expiry_days=7")
            }
            let path = override[..<equals].split(separator: ".").map(String.init)
            let text = String(override[override.index(after: equals)...])
            let value = (try? JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])) ?? text
            object = try Self.setting(path, to: value, in: object, whole: override)
            applied.append((path, value))
        }
        let result = try decoder.decode(Scenario.self, from: try JSONSerialization.data(withJSONObject: object))
        // A key the scenario does not have is dropped by decoding: read each one back to notice.
        let back = try JSONSerialization.jsonObject(with: try encoder.encode(result)) as? [String: Any] ?? [:]
        for (path, _) in applied where Self.value(at: path, in: back) == nil {
            throw ScenarioError("--vary: a scenario has no '\(path.joined(separator: "."))' (see --print-scenario)")
        }
        try result.validate()
        return result
    }

    private static func setting(_ path: [String], to value: Any, in object: [String: Any], whole: String) throws -> [String: Any] {
        guard let key = path.first else { throw ScenarioError("--vary \(whole): the key is empty") }
        var object = object
        if path.count == 1 {
            object[key] = value
        } else {
            guard let nested = object[key] as? [String: Any] else { throw ScenarioError("--vary \(whole): '\(key)' has no fields") }
            object[key] = try setting(Array(path.dropFirst()), to: value, in: nested, whole: whole)
        }
        return object
    }

    private static func value(at path: [String], in object: [String: Any]) -> Any? {
        guard let key = path.first else { return nil }
        if path.count == 1 { return object[key] }
        return (object[key] as? [String: Any]).flatMap { value(at: Array(path.dropFirst()), in: $0) }
    }
}
