import AsyncHTTPClient
import Foundation
import HubNetCore
import HubNetPostgres
import HubNetServer
import HubNetSync
import PostgresNIO
import Synchronization

/// The virtual clock the server and the simulation share.
public final class SimulationClock: Sendable {
    private let current: Mutex<Date>
    public init(_ start: Date) { current = Mutex(start) }
    public var now: Date { current.withLock { $0 } }
    public func set(_ date: Date) { current.withLock { $0 = date } }
    public var function: @Sendable () -> Date { { [self] in self.now } }
}

/// Runs a scenario hour by hour on the virtual clock, through the real server (over loopback HTTP)
/// and the real client SDK, one step at a time so that the same seed gives the same run.
public final class Simulation {
    public let scenario: Scenario
    let server: LocalServer
    let admin: NetworkAdmin
    let clock: SimulationClock
    let sink: MailSink
    let progress: (Int, Int) -> Void
    let profiler: SimulationProfiler?
    /// How many independent requests (arrivals, deliveries) may be in flight at once; the run's
    /// outcome does not depend on it.
    let concurrency: Int

    var hubs: [Organisation] = []
    var partners: [Organisation] = []
    var sourcing: [Organisation] = []
    var people: [Person] { (hubs + partners + sourcing).flatMap(\.people) }
    /// Each simulated user's label by id.
    var labels: [User.ID: String] = [:]
    /// Each organisation's name by its tenant (ids differ from run to run, names do not); filled
    /// on first use, once the network is provisioned.
    private var namesByTenant: [Tenant.ID: String] = [:]

    func organisationName(_ tenant: Tenant.ID) -> String? {
        if namesByTenant.isEmpty {
            namesByTenant = Dictionary((hubs + partners + sourcing).map { ($0.tenant.id, $0.name) }, uniquingKeysWith: { first, _ in first })
        }
        return namesByTenant[tenant]
    }
    var rng: SplitMix64
    var leadCounter = 0
    var hour = 0
    public internal(set) var stats = SimulationStats()
    /// Seen during the run: a device holding a lead outside its user's view right after a pull.
    var outsideView: [String] = []
    var sourceSuccesses: [String] = []
    /// Faults answered otherwise than documented (a sync that succeeded while the database was down,
    /// a revoked device let in, queued work lost by a refusal).
    var faultFindings: [String] = []
    /// Devices revoked by their organisation's admin, and people deactivated, in this run.
    var devicesRevoked: Set<Device.ID> = []
    /// The live channel's stand-in: a connection as the schema owner that reads every tenant's
    /// change-log head (`heads()`). Without it, every due device pulls.
    var liveChannel: PostgresClient?
    var usersDeactivated: Set<User.ID> = []
    /// The devices' SQLite files (removed by `SimulationRunner` after the check).
    let deviceStorage = DeviceStorage()

    public static let start = Date(timeIntervalSince1970: 1_893_456_000)  // 2030-01-01, a Tuesday

    public init(
        scenario: Scenario, server: LocalServer, clock: SimulationClock, sink: MailSink, profiler: SimulationProfiler? = nil,
        concurrency: Int = 8, progress: @escaping (Int, Int) -> Void
    ) {
        self.concurrency = max(1, concurrency)
        self.scenario = scenario
        self.server = server
        self.admin = NetworkAdmin(server: server)
        self.clock = clock
        self.sink = sink
        self.progress = progress
        self.profiler = profiler
        self.rng = SplitMix64(seed: scenario.seed)
    }

    /// Sets the network up, runs every hour of every day, brings every device home, and returns
    /// what the invariant checker needs.
    public func run() async throws {
        try scenario.validate()
        if scenario.databaseRestartHours?.isEmpty == false, server.cluster == nil {
            throw ScenarioError("database_restart_hours: the simulator crashes its own database; run without DATABASE_URL")
        }
        if scenario.serverKillHours?.isEmpty == false, server.process == nil {
            throw ScenarioError("server_kill_hours: the server must run as its own process (SimulationRunner starts one)")
        }
        try await setClock(Self.start)
        try await measure(.provision) { try await provision() }
        let hours = scenario.days * 24
        var dayStarted = ContinuousClock.now
        for hour in 0..<hours {
            self.hour = hour
            // The mail receiver takes the hour's state before the clock moves: a server of its own
            // process delivers what fell due as its clock is moved, and must find the hour's receiver.
            let mailDown = scenario.smtpOutageHours?.contains(hour) ?? false
            sink.setDown(mailDown)
            if mailDown { stats.smtpOutageHours += 1 }
            try await setClock(Self.start + Double(hour) * 3600)
            if hour % 24 == 0 { planOfflineSpells(day: hour / 24) }
            try await measure(.arrivals) { try await arrivals() }
            try await measure(.timers) { try await fireTimers() }
            wipeDevices()
            try await revokeOfflineDevices()
            try await deactivateOfflineUsers()
            if scenario.databaseRestartHours?.contains(hour) ?? false { try await measure(.faults) { try await crashDatabase() } }
            if scenario.serverKillHours?.contains(hour) ?? false { try await measure(.faults) { try await killServer() } }
            try await workDevices()
            try await measure(.meddling) { try await meddle() }
            try await measure(.viewChanges) { try await changeViews() }
            try await measure(.delivery) { try await deliver() }
            if hour % 24 == 23 {
                profiler?.finishDay(ContinuousClock.now - dayStarted)
                dayStarted = ContinuousClock.now
                progress(hour / 24 + 1, scenario.days)
            }
        }
        // Home time: every device online, synced until nothing is pending and every view is current.
        // The server's timers run at this tick too, as at every other: the check reads the clock
        // here, and expiries that came due in the last hour are the server's to fire first.
        try await measure(.homeTime) {
            sink.setDown(false)
            try await setClock(Self.start + Double(hours) * 3600)
            try await fireTimers()
            for _ in 0..<3 { try await syncDevices(people.flatMap { person in person.devices.map { (person, $0) } }, checkViews: false) }
            try await deliver()
        }
    }

    /// Runs `body`, adding its wall time to `phase` when the run is profiled.
    func measure<Result>(_ phase: SimulationProfiler.Phase, _ body: () async throws -> Result) async throws -> Result {
        guard let profiler else { return try await body() }
        return try await profiler.measure(phase, body)
    }

    // MARK: Set-up

    /// Provisions the network through the API: every organisation's tenant, listings, people and
    /// devices are made at once (up to `concurrency` organisations side by side, each one's requests
    /// in order), then become the run's objects in the scenario's order, so the run is the same
    /// whatever the concurrency.
    func provision() async throws {
        let areas = ["Alameda", "Berkeley", "Fremont", "Hayward", "Oakland", "Richmond", "San Leandro", "Walnut Creek"]
        let categories = ["Grants", "Loans", "Mentoring", "Export", "Hiring"]
        let templates = scenario.hubImportTemplates.isEmpty ? ["hub_moderation"] : scenario.hubImportTemplates
        let run = String(scenario.seed, radix: 36)
        var plans: [OrganisationPlan] = []
        for index in 0..<scenario.hubs {
            let name = String(format: "Hub %02d", index + 1)
            plans.append(
                OrganisationPlan(
                    index: index, name: name, kind: .hub, slug: "sim-\(run)-hub-\(index + 1)-\(UUID().uuidString.prefix(6).lowercased())",
                    listings: (0..<scenario.listingsPerHub).map { listing in
                        (
                            "\(name) desk \(listing + 1)", areas[(index + listing) % areas.count],
                            categories[(index + listing) % categories.count]
                        )
                    },
                    people: [(.moderator, 1)] + (0..<scenario.advisorsPerHub).map { (.advisor, $0 + 1) }, expiryDays: nil,
                    importTemplate: templates[index % templates.count]))
        }
        for (kind, count, word) in [(Tenant.Kind.partnerCompany, scenario.partners, "partner"), (.sourcingCompany, scenario.sourcingCompanies, "sourcing")] {
            for index in 0..<count {
                let partner = kind == .partnerCompany
                plans.append(
                    OrganisationPlan(
                        index: index, name: String(format: partner ? "Partner %03d" : "Sourcing %02d", index + 1), kind: kind,
                        slug: "sim-\(run)-\(word)-\(index + 1)-\(UUID().uuidString.prefix(6).lowercased())", listings: [],
                        people: [(partner ? .partnerUser : .sourcingUser, 1)], expiryDays: partner ? scenario.partnerExpiryDays : nil,
                        importTemplate: nil))
            }
        }
        let (admin, devicesPerUser) = (admin, scenario.devicesPerUser)
        let made = try await Lanes.run(plans, touching: { [$0.key] }, concurrency: concurrency) { plan in
            try await Self.make(plan, admin: admin, devicesPerUser: devicesPerUser)
        }
        for (plan, made) in zip(plans, made) {
            let organisation = Organisation(
                index: plan.index, name: plan.name, kind: plan.kind, tenant: made.tenant, importTemplate: plan.importTemplate)
            organisation.listings = made.listings
            for account in made.accounts { try attach(account, to: organisation) }
            switch plan.kind {
            case .hub: hubs.append(organisation)
            case .partnerCompany: partners.append(organisation)
            default: sourcing.append(organisation)
            }
        }
        if let distribution = scenario.distribution {
            var rule: [String: Any] = ["mode": distribution.mode, "pool": partners.map { $0.tenant.id.description }]
            rule["sla_hours"] = distribution.slaHours
            rule["sla_business_days"] = distribution.slaBusinessDays
            rule["max_hops"] = distribution.maxHops
            rule["stale_after_hours"] = distribution.staleAfterHours
            let body = String(decoding: try JSONSerialization.data(withJSONObject: rule, options: [.sortedKeys]), as: UTF8.self)
            for company in sourcing {
                _ = try await admin.request("PUT", "/v1/distribution-rule", token: company.tenant.adminToken, json: body)
            }
        }
        try await syncDevices(people.flatMap { person in person.devices.map { (person, $0) } }, checkViews: false)
    }

    /// An organisation to provision: its tenant, a hub's listings (name, area, category), its
    /// people (kind and number) and a partner's own expiry rule.
    struct OrganisationPlan: Sendable {
        var index: Int
        var name: String
        var kind: Tenant.Kind
        var slug: String
        var listings: [(name: String, area: String, category: String)]
        var people: [(kind: Person.Kind, number: Int)]
        var expiryDays: Int?
        var importTemplate: String?
        /// Keeps each organisation in a lane of its own (`Lanes`).
        let key = Tenant.ID()
    }

    /// What the server made for an `OrganisationPlan`.
    struct ProvisionedOrganisation: Sendable {
        var tenant: NetworkAdmin.ProvisionedTenant
        var listings: [(Listing.ID, String)]
        var accounts: [Account]
    }

    /// A person's account as the server made it, with their devices' credentials.
    struct Account: Sendable {
        var kind: Person.Kind
        var label: String
        var email: String
        var userID: User.ID
        var token: String
        var devices: [(label: String, id: Device.ID, token: String)]
    }

    /// Makes one organisation through the API, its requests one after another.
    static func make(_ plan: OrganisationPlan, admin: NetworkAdmin, devicesPerUser: Int) async throws -> ProvisionedOrganisation {
        let tenant = try await admin.createTenant(plan.kind, name: plan.name, slug: plan.slug)
        var listings: [(Listing.ID, String)] = []
        for listing in plan.listings {
            let created = try await admin.request(
                "POST", "/v1/listings", token: tenant.adminToken,
                json: try admin.json([
                    "name": listing.name, "service_areas": [listing.area], "categories": [listing.category], "published": true,
                    "accepting_referrals": true,
                ]))
            if let id = (created["id"] as? String).flatMap(Listing.ID.init(string:)) { listings.append((id, listing.name)) }
        }
        if let days = plan.expiryDays {
            // The partner's own rule: its template, with its unanswered leads expiring sooner.
            var template = try await admin.request("GET", "/v1/workflow-templates/partner_lead", token: tenant.adminToken)
            var timers = template["timers"] as? [String: Any] ?? [:]
            timers["expire_after_days_pending"] = days
            template["timers"] = timers
            let body = String(decoding: try JSONSerialization.data(withJSONObject: template, options: [.sortedKeys]), as: UTF8.self)
            _ = try await admin.request("PUT", "/v1/workflow-templates/partner_lead", token: tenant.adminToken, json: body)
        }
        var accounts: [Account] = []
        for (kind, number) in plan.people {
            let (role, word): (Role, String) =
                switch kind {
                case .moderator: (.moderator, "moderator")
                case .advisor: (.advisor, "advisor")
                case .partnerUser, .sourcingUser: (.partnerUser, "staff")
                }
            let slug = plan.name.lowercased().replacingOccurrences(of: " ", with: "")
            let label = "\(plan.name) \(word) \(number)"
            let email = "\(word)\(number)@\(slug).sim.test"
            let (user, token) = try await admin.createUser(in: tenant, email: email, name: label, roles: [role])
            var devices: [(label: String, id: Device.ID, token: String)] = []
            for index in 0..<devicesPerUser {
                let deviceLabel = "\(label) device \(index + 1)"
                let (id, deviceToken) = try await registerDevice(deviceLabel, token: token, admin: admin)
                devices.append((deviceLabel, id, deviceToken))
            }
            accounts.append(Account(kind: kind, label: label, email: email, userID: user, token: token, devices: devices))
        }
        return ProvisionedOrganisation(tenant: tenant, listings: listings, accounts: accounts)
    }

    /// A person of `organisation` from their account: their devices get their stores, clocks and
    /// sync hours here (drawn by label, so in any order).
    func attach(_ account: Account, to organisation: Organisation) throws {
        let person = Person(
            label: account.label, kind: account.kind, userID: account.userID, token: account.token, email: account.email,
            organisation: organisation)
        for (index, device) in account.devices.enumerated() {
            let skew = clockSkew(of: device.label)
            let client = SyncClient(store: try deviceStorage.newStore(), transport: admin.transport(deviceToken: device.token), clock: deviceClock(skew))
            var offsetDraw = Draw(seed: scenario.seed, "sync offset", account.label, String(index))
            let offset = offsetDraw.below(scenario.syncEveryHours)
            if skew > 0 { stats.clocksAhead += 1 } else if skew < 0 { stats.clocksBehind += 1 }
            person.devices.append(
                SimulatedDevice(label: device.label, id: device.id, token: device.token, client: client, syncOffset: offset, clockSkew: skew))
        }
        organisation.people.append(person)
        labels[account.userID] = account.label
    }

    /// Registers a device with its person's token: its id and its own token.
    func registerDevice(_ label: String, token: String) async throws -> (Device.ID, String) {
        try await Self.registerDevice(label, token: token, admin: admin)
    }

    static func registerDevice(_ label: String, token: String, admin: NetworkAdmin) async throws -> (Device.ID, String) {
        let registered = try await admin.request("POST", "/v1/devices", token: token, json: try admin.json(["name": label]))
        guard let deviceToken = registered["token"] as? String,
            let id = ((registered["device"] as? [String: Any])?["id"] as? String).flatMap(Device.ID.init(string:))
        else { throw NetworkAdmin.HTTPFailure(status: 201, body: "no device") }
        return (id, deviceToken)
    }

    /// A device's clock error, drawn once per device: whole minutes within ± the scenario's largest.
    func clockSkew(of device: String) -> TimeInterval {
        guard let hours = scenario.deviceClockSkewHours, hours > 0 else { return 0 }
        var draw = Draw(seed: scenario.seed, "clock skew", device)
        let minutes = Int((hours * 60).rounded())
        return TimeInterval((draw.below(2 * minutes + 1) - minutes) * 60)
    }

    /// The device's clock: the virtual time plus its error.
    func deviceClock(_ skew: TimeInterval) -> @Sendable () -> Date {
        let now = clock.function
        return { now().addingTimeInterval(skew) }
    }

    func planOfflineSpells(day: Int) {
        for person in people where person.mayGoOffline {
            for device in person.devices {
                var draw = Draw(seed: scenario.seed, "offline", device.label, String(day))
                if draw.unit() < scenario.offlineChancePerDay {
                    let from = day * 24 + draw.below(24)
                    device.offlineUntilHour = from + scenario.offlineHours
                    stats.offlineSpells += 1
                }
            }
        }
    }

    // MARK: Arrivals

    /// The hour's new leads: drawn one after another in a fixed order (names, channels, hubs,
    /// partners), then sent. Arrivals that touch no organisation in common run at once (up to
    /// `concurrency`); those that share one keep their drawn order, so the run stays the same
    /// whatever the concurrency. With a distribution rule they run one at a time (routing takes
    /// turns across the network).
    func arrivals() async throws {
        let rate = Double(scenario.leadsPerDay) / 24
        var count = Int(rate)
        if Double(rng.next() >> 11) / Double(1 << 53) < rate - Double(count) { count += 1 }
        var planned: [Arrival] = []
        var imports: [Int: [String]] = [:]
        for _ in 0..<count {
            leadCounter += 1
            let name = String(format: "Client %06d", leadCounter)
            let email = String(format: "client%06d@sim.test", leadCounter)
            // Each person's need is their own (a case number in it), as in a real network: it is
            // what tells two de-identified copies apart, see `Decider.identity(of:)`.
            let need = String(format: "case %06d", leadCounter)
            let pick = Double(rng.next() >> 11) / Double(1 << 53)
            let channels = scenario.channels
            stats.arrivals[hour / 24, default: 0] += 1
            if pick < channels.leadForm {
                let hub = hubs[Int(rng.next() % UInt64(hubs.count))]
                guard !hub.listings.isEmpty else { continue }
                let listing = hub.listings[Int(rng.next() % UInt64(hub.listings.count))].0
                var form: [String: Any] = ["name": name, "email": email, "city": "Oakland", "request": "Help to grow (\(need))"]
                if consents(leadCounter) { form["consent"] = ["scope": "network", "purpose": "referral"] }
                planned.append(.leadForm(hub: hub.tenant.id, listing: listing, body: try admin.json(form)))
                stats.byChannel["lead_form", default: 0] += 1
            } else if pick < channels.leadForm + channels.hubImport {
                let hub = Int(rng.next() % UInt64(hubs.count))
                imports[hub, default: []].append("\(name),\(email),Oakland,Help to grow (\(need))")
                stats.byChannel["import", default: 0] += 1
            } else {
                let company = sourcing[Int(rng.next() % UInt64(sourcing.count))]
                let partner = partners[Int(rng.next() % UInt64(partners.count))]
                var body: [String: Any] = ["contact": ["name": name, "email": email, "city": "Oakland"], "request": "Distributed lead (\(need))"]
                if consents(leadCounter) {
                    body["consent"] = ["scope": "kind", "kind": "partner_company", "purpose": "referral", "method": "written"]
                }
                planned.append(
                    .sourced(
                        company: company.tenant.id, token: company.people[0].token, body: try admin.json(body),
                        partner: scenario.distribution == nil ? partner.tenant.id : nil))
                stats.byChannel["sourcing", default: 0] += 1
            }
        }
        for (index, rows) in imports.sorted(by: { $0.key < $1.key }) {
            let hub = hubs[index]
            let csv = "name,email,city,request\n" + rows.joined(separator: "\n") + "\n"
            var request = URLComponents()
            request.path = "/v1/leads/import"
            request.queryItems = [URLQueryItem(name: "template", value: hub.importTemplate ?? "hub_moderation")]
            planned.append(.imported(hub: hub.tenant.id, path: request.string ?? "/v1/leads/import", token: hub.people[0].token, csv: csv))
        }
        let sender = ArrivalSender(admin: admin, server: server)
        let outcomes = try await Lanes.run(planned, touching: \.tenants, concurrency: scenario.distribution == nil ? concurrency : 1) {
            try await sender.send($0)
        }
        for outcome in outcomes {
            switch outcome {
            case .routed: stats.routed += 1
            case .unroutable: stats.unroutable += 1
            case .done: break
            }
        }
    }

    /// Whether lead number `n`'s person consents: spread evenly by the golden ratio, so the share
    /// holds over any stretch of leads and no random draw is taken (other figures stay as they were).
    func consents(_ n: Int) -> Bool {
        guard let share = scenario.consentShare, share > 0 else { return false }
        let position = (Double(n) * 0.618_033_988_749_894_8).truncatingRemainder(dividingBy: 1)
        return position < share
    }

    // MARK: Server-side passes

    func fireTimers() async throws {
        let timers = LeadTimerService(database: server.database, now: clock.function)
        while true {
            let pulled = try await timers.firePullbacks()
            stats.pullbacks += pulled
            if try await timers.fireDueExpiries() + (try await timers.sendDueReminders()) + pulled == 0 { break }
        }
    }

    func deliver() async throws {
        let delivery = OutboxDeliveryService(
            database: server.database, smtp: SMTPClient(host: "127.0.0.1", port: sink.port, from: "simulator@hubnet.test"),
            now: clock.function)
        while try await delivery.deliverDue(concurrency: concurrency) > 0 {}
    }

    // MARK: People at work

    /// The hour's device work. The devices whose schedule says so send what they queued (devices
    /// of one organisation one after another, organisations side by side), then they all pull
    /// (side by side: nothing writes meanwhile), their records are checked against their users'
    /// views, and people decide on what their first device shows. Results are applied in the
    /// network's order, so the run is the same whatever the concurrency.
    func workDevices() async throws {
        var due: [(person: Person, device: SimulatedDevice)] = []
        for person in people {
            for device in person.devices where hour >= device.offlineUntilHour && hour % scenario.syncEveryHours == device.syncOffset {
                due.append((person, device))
            }
        }
        try await syncDevices(due, checkViews: true, pullWhenPoked: scenario.liveChannel ?? true)
        // People act through their first device, online or not (not once they have left): the
        // people of different organisations side by side, their outcomes applied in the network's order.
        let deciding = people.filter { !$0.departed && !$0.devices.isEmpty }
        let decider = Decider(
            scenario: scenario, hour: hour, labels: labels,
            organisationNames: Dictionary((hubs + partners + sourcing).map { ($0.tenant.id, $0.name) }, uniquingKeysWith: { first, _ in first }))
        // The other hubs' listings, for a moderator referring a lead out: once per organisation.
        var otherListings: [ObjectIdentifier: [(Listing.ID, String)]] = [:]
        func others(of organisation: Organisation) -> [(Listing.ID, String)] {
            if let known = otherListings[ObjectIdentifier(organisation)] { return known }
            let listings = hubs.filter { $0 !== organisation }.flatMap(\.listings).sorted { $0.1 < $1.1 }
            otherListings[ObjectIdentifier(organisation)] = listings
            return listings
        }
        let inputs = deciding.map { person in
            let moderator = person.organisation.people.first(where: { $0.kind == .moderator })
            return Decider.Input(
                label: person.label, kind: person.kind, userID: person.userID, tenant: person.organisation.tenant.id,
                client: person.devices[0].client,
                advisors: person.organisation.people.filter { $0.kind == .advisor }.map(\.userID),
                otherListings: person.kind == .moderator ? others(of: person.organisation) : [],
                moderator: moderator.map { ($0.label, $0.devices.first?.client) },
                state: .init(decided: person.decided, due: person.due, changed: person.changed, lookAtAll: person.lookAtAll))
        }
        let outcomes = try await measure(.decisions) {
            try await Lanes.run(inputs, touching: { [$0.tenant] }, concurrency: concurrency) { try await decider.decide($0) }
        }
        for (person, outcome) in zip(deciding, outcomes) {
            (person.decided, person.due, person.changed, person.lookAtAll) =
                (outcome.state.decided, outcome.state.due, outcome.state.changed, outcome.state.lookAtAll)
            stats.add(decisions: outcome.stats)
        }
    }

    /// Syncs these devices as one step: a departed person's successor and a revoked device's new
    /// registration first (the admin API); then the devices send what they queued (devices of one
    /// organisation one after another, organisations side by side); then they all pull (side by
    /// side: nothing writes meanwhile) and, with `checkViews`, their records are checked against
    /// their users' views. Results are applied in the given order, so the run is the same
    /// whatever the concurrency. With `pullWhenPoked`, a device pulls only when its live channel
    /// would have poked it: its tenant's log moved past its cursor (or it has none yet); the
    /// others have nothing to pull, and their pull is not made.
    func syncDevices(_ due: [(person: Person, device: SimulatedDevice)], checkViews: Bool, pullWhenPoked: Bool = false) async throws {
        for (person, device) in due {
            if person.departed { try await replace(person) }
            if device.revoked { try await reRegister(device, person: person) }
        }
        let steps = due.map { DeviceStep(client: $0.device.client, tenant: $0.person.organisation.tenant.id) }
        // Routing takes turns across the network: with a distribution rule, pushes go one by one.
        let pushing = scenario.distribution == nil ? concurrency : 1
        // Each device's reach reads its own store only: the devices are looked at side by side.
        let listingHubs = listingHubs
        let reaches = try await measure(.lanes) {
            try await Lanes.run(steps, touching: { _ in [Tenant.ID]() }, concurrency: concurrency) {
                try await Self.reach(of: $0, listingHubs: listingHubs)
            }
        }
        let pushed = try await measure(.syncs) {
            try await Lanes.run(Array(zip(steps, reaches)), touching: { $0.1 }, concurrency: pushing) { try await $0.0.client.pushPending() }
        }
        let heads = pullWhenPoked ? try await measure(.syncs) { await self.heads() } : nil
        var poked: [Bool] = []
        for step in steps {
            guard let heads, let cursor = try await step.client.cursor().flatMap(SyncCursor.init) else {
                poked.append(true)
                continue
            }
            poked.append(cursor.epoch != heads.epoch || cursor.seq != heads.seq[step.tenant, default: 0])
        }
        stats.pullsNotPoked += poked.count { !$0 }
        let pulled = try await measure(.syncs) {
            try await Lanes.run(Array(zip(steps, zip(pushed, poked))), touching: { _ in [Tenant.ID]() }, concurrency: concurrency) { step, pushedAndPoked in
                let (push, poked) = pushedAndPoked
                return push.stopped == nil && poked ? try await step.client.sync() : SyncReport()
            }
        }
        var checks: [ViewCheck] = []
        for (index, (person, device)) in due.enumerated() {
            let report = pushed[index].followed(by: pulled[index])
            stats.record(report, day: min(hour / 24, scenario.days - 1))
            person.changed.formUnion(report.changedLeads)
            if report.replaced { person.lookAtAll = true }
            if checkViews, !report.dropped.isEmpty || report.pulled > 0 {
                checks.append(
                    ViewCheck(client: device.client, label: device.label, user: person.userID, tenant: person.organisation.tenant.id))
            }
        }
        let database = server.database
        let hour = hour
        let found = try await measure(.viewChecks) {
            try await Lanes.run(checks, touching: { _ in [Tenant.ID]() }, concurrency: concurrency) { try await $0.outsideView(in: database, hour: hour) }
        }
        outsideView += found.flatMap { $0 }
    }

    /// What a device's push may change besides its own organisation, which no other push may
    /// change side by side with it (`PushReach`). A referred copy it acts on is answered in its
    /// source's referral row, and what the source does to its lead follows that lead's referrals:
    /// both take the referral as the key, so answers to other referrals of the same source go
    /// side by side. A lead it refers to a partner or a listing's hub lands in that organisation,
    /// which is the key. (A shared pool's copies compete in their source; with a distribution rule
    /// pushes go one by one.) Pushes sharing a key share a lane and go in the network's order, so
    /// a target's answer and its source's new referral of that lead land in the same order in
    /// every run.
    static func reach(of step: DeviceStep, listingHubs: [Listing.ID: Tenant.ID]) async throws -> [PushReach] {
        let pending = try await step.client.pending()
        guard !pending.isEmpty else { return [.organisation(step.tenant)] }
        var reached = Set<PushReach>()
        // Each lead the queue touches is looked at once, and only its own referrals are read: the
        // cost follows the queue, not how many referrals the device holds.
        var looked = Set<Lead.ID>()
        for mutation in pending {
            if looked.insert(mutation.leadId).inserted {
                if let referral = try await step.client.lead(mutation.leadId)?.referralId { reached.insert(.referral(referral)) }
                for referral in try await step.client.referrals(of: mutation.leadId) { reached.insert(.referral(referral.id)) }
            }
            switch mutation.intent {
            case .refer(let request): reached.insert(.organisation(request.partnerId))
            case .act(let action):
                if let listing = action.arguments.listingId, let hub = listingHubs[listing] { reached.insert(.organisation(hub)) }
            default: break
            }
        }
        reached.remove(.organisation(step.tenant))
        return [.organisation(step.tenant)] + reached.sorted { $0.description < $1.description }
    }

    /// Each hub listing's hub.
    var listingHubs: [Listing.ID: Tenant.ID] {
        Dictionary(hubs.flatMap { hub in hub.listings.map { ($0.0, hub.tenant.id) } }, uniquingKeysWith: { first, _ in first })
    }

    /// What the live channel tells devices, read at once for the whole network: the server's
    /// epoch and each tenant's change-log head. A device is poked when its tenant's log grows, so
    /// one whose cursor is at the head under the same epoch has not been. `nil` when it cannot be
    /// read (the database restarting): devices then pull on their schedule, as a device whose
    /// live channel dropped does.
    func heads() async -> (epoch: UUID, seq: [Tenant.ID: Int64])? {
        guard let liveChannel else { return nil }
        do {
            let rows = try await liveChannel.query(
                "SELECT e.epoch, h.tenant_id, h.seq FROM sync_epoch e LEFT JOIN sync_heads h ON true", logger: server.database.logger)
            var epoch: UUID?
            var seq: [Tenant.ID: Int64] = [:]
            for try await (current, tenant, head) in rows.decode((UUID, UUID?, Int64?).self) {
                epoch = current
                if let tenant, let head { seq[Tenant.ID(tenant)] = head }
            }
            return epoch.map { ($0, seq) }
        } catch {
            return nil
        }
    }

    /// Now and then a device loses its storage (the app reinstalled) but keeps its token: what it
    /// had not pushed is gone, and its next sync starts from a snapshot.
    func wipeDevices() {
        guard let perWeek = scenario.deviceWipesPerWeek, perWeek > 0 else { return }
        for person in people {
            for (index, device) in person.devices.enumerated() {
                var draw = Draw(seed: scenario.seed, "wipe", device.label, String(hour))
                guard draw.unit() < perWeek / 168, let store = try? deviceStorage.replacing(device.client.store) else { continue }
                device.client = SyncClient(store: store, transport: admin.transport(deviceToken: device.token), clock: deviceClock(device.clockSkew))
                if index == 0 { person.lookAtAll = true }
                stats.deviceWipes += 1
            }
        }
    }

    /// Now and then a hub's admin widens an advisor's view to the whole hub (`viewer`) or narrows
    /// it back: the advisor's devices reset from a snapshot on their next pull.
    func changeViews() async throws {
        guard let perWeek = scenario.viewChangesPerWeek, perWeek > 0 else { return }
        for hub in hubs {
            var draw = Draw(seed: scenario.seed, "view-change", hub.name, String(hour))
            let advisors = hub.people.filter { $0.kind == .advisor }
            guard draw.unit() < perWeek / 168, !advisors.isEmpty else { continue }
            let advisor = advisors[draw.below(advisors.count)]
            advisor.widened.toggle()
            let roles = advisor.widened ? #"["advisor","viewer"]"# : #"["advisor"]"#
            try await admin.request("PATCH", "/v1/users/\(advisor.userID)", token: hub.tenant.adminToken, json: #"{"roles":\#(roles)}"#)
            stats.viewChanges += 1
        }
    }

    /// Sourcing companies now and then try to act on leads they referred: every try must fail.
    func meddle() async throws {
        for company in sourcing {
            var draw = Draw(seed: scenario.seed, "meddle", company.name, String(hour))
            guard draw.unit() < scenario.sourceMeddlingPerDay / 24, let device = company.people.first?.devices.first else { continue }
            let referrals = try await device.client.referrals().sorted { $0.createdAt < $1.createdAt }
            guard !referrals.isEmpty else { continue }
            let referral = referrals[draw.below(referrals.count)]
            stats.sourceAttempts += 1
            do {
                try await admin.request("POST", "/v1/referrals/\(referral.id)/actions/accept", token: company.people[0].token, json: "{}")
                sourceSuccesses.append("\(company.name) accepted its own referral \(referral.id) at hour \(hour)")
            } catch let failure as NetworkAdmin.HTTPFailure where failure.status == 403 || failure.status == 404 {
                stats.sourceRefusals += 1
            }
        }
    }

    // MARK: Faults

    /// Now and then an organisation's admin revokes a device that is offline (lost, handed back).
    func revokeOfflineDevices() async throws {
        guard let perWeek = scenario.deviceRevocationsPerWeek, perWeek > 0 else { return }
        for person in people where person.mayGoOffline {
            for device in person.devices where hour < device.offlineUntilHour && !device.revoked {
                var draw = Draw(seed: scenario.seed, "revoke", device.label, String(hour))
                guard draw.unit() < perWeek / 168 else { continue }
                try await admin.request("DELETE", "/v1/devices/\(device.id)", token: person.organisation.tenant.adminToken)
                device.revoked = true
                devicesRevoked.insert(device.id)
                stats.deviceRevocations += 1
            }
        }
    }

    /// Now and then an organisation deactivates a person while every device of theirs is offline
    /// (they left, their account closed).
    func deactivateOfflineUsers() async throws {
        guard let perWeek = scenario.userDeactivationsPerWeek, perWeek > 0 else { return }
        for person in people where person.mayGoOffline && !person.departed && person.devices.allSatisfy({ hour < $0.offlineUntilHour }) {
            var draw = Draw(seed: scenario.seed, "deactivate", person.label, String(hour))
            guard draw.unit() < perWeek / 168 else { continue }
            try await admin.request("DELETE", "/v1/users/\(person.userID)", token: person.organisation.tenant.adminToken)
            person.departed = true
            usersDeactivated.insert(person.userID)
            stats.userDeactivations += 1
        }
    }

    /// A deactivated person's devices come online: the server must stop each (401
    /// `user_deactivated`), the SDK wipes it and reports what was still queued as rejected. A
    /// successor takes the place: a new account with the same role, new devices from a snapshot.
    func replace(_ person: Person) async throws {
        for device in person.devices {
            let report = try await device.client.sync()
            stats.record(report, day: min(hour / 24, scenario.days - 1))
            // A device revoked before its user left may be told either; it is stopped once, counted once.
            if report.stopped?.code == "user_deactivated" || (device.revoked && report.stopped?.code == "device_revoked") {
                if device.revoked { stats.revokedSyncsRefused += 1 } else { stats.deactivatedSyncsRefused += 1 }
                let held = try await device.client.leads().count
                if held > 0 { faultFindings.append("\(device.label), stopped at hour \(hour), still holds \(held) leads") }
            } else {
                faultFindings.append("\(device.label) synced at hour \(hour) after its user was deactivated")
            }
        }
        person.successors += 1
        let email = person.email.replacingOccurrences(of: "@", with: "+successor\(person.successors)@")
        let (user, token) = try await admin.createUser(in: person.organisation.tenant, email: email, name: person.label, roles: [person.role])
        labels[user] = person.label
        person.userID = user
        person.token = token
        person.departed = false
        person.widened = false
        person.decided = []
        person.due = [:]
        person.changed = []
        person.lookAtAll = true
        for device in person.devices {
            let (id, deviceToken) = try await registerDevice(device.label, token: token)
            device.id = id
            device.token = deviceToken
            device.revoked = false
            device.client = SyncClient(
                store: try deviceStorage.replacing(device.client.store), transport: admin.transport(deviceToken: deviceToken),
                clock: deviceClock(device.clockSkew))
        }
    }

    /// A revoked device comes back online: the server must stop it (401 `device_revoked`), and the
    /// SDK then wipes its data and reports what it still had queued as rejected (never
    /// acknowledged, so nothing acknowledged is lost); its person registers it again, and the new
    /// registration starts from a snapshot.
    func reRegister(_ device: SimulatedDevice, person: Person) async throws {
        let report = try await device.client.sync()
        stats.record(report, day: min(hour / 24, scenario.days - 1))
        if report.stopped?.code == "device_revoked" {
            stats.revokedSyncsRefused += 1
            let held = try await device.client.leads().count
            if held > 0 { faultFindings.append("\(device.label), stopped at hour \(hour), still holds \(held) leads") }
        } else {
            faultFindings.append("\(device.label) synced at hour \(hour) after its organisation revoked it")
        }
        let (id, token) = try await registerDevice(device.label, token: person.token)
        device.id = id
        device.token = token
        device.client = SyncClient(
            store: try deviceStorage.replacing(device.client.store), transport: admin.transport(deviceToken: token),
            clock: deviceClock(device.clockSkew))
        device.revoked = false
        if person.devices.first === device { person.lookAtAll = true }
    }

    /// PostgreSQL crashes: every connection the server holds is cut. While it is down, a device
    /// syncs and an API client reads; both must be refused with 503 and `Retry-After`, and the
    /// device must keep every mutation it had queued. Then PostgreSQL starts again (recovering from
    /// its WAL) and the server must find its way back by itself.
    func crashDatabase() async throws {
        guard let cluster = server.cluster else { return }
        guard let person = hubs.first?.people.first(where: { $0.kind == .moderator }), let device = person.devices.first else { return }
        try cluster.stopImmediately()
        stats.databaseRestarts += 1
        let queued = try await device.client.pending().count
        do {
            _ = try await device.client.sync()
            faultFindings.append("\(device.label) synced at hour \(hour) while the database was down")
        } catch let refusal as SyncServerError where refusal.status == 503 {
            stats.refusedWhileDatabaseDown += 1
        } catch {
            faultFindings.append("\(device.label)'s sync at hour \(hour), database down, was answered with \(error), not 503")
        }
        let kept = try await device.client.pending().count
        if kept != queued { faultFindings.append("\(device.label) had \(queued) mutations queued before a refused sync at hour \(hour), \(kept) after") }
        let token = person.organisation.tenant.adminToken
        let (status, retryAfter) = try await read("/v1/leads?limit=1", token: token)
        if status == 503, retryAfter != nil {
            stats.refusedWhileDatabaseDown += 1
        } else {
            faultFindings.append("an API read at hour \(hour), database down, was answered \(status) \(retryAfter.map { "Retry-After \($0)" } ?? "without Retry-After"), not 503 with Retry-After")
        }
        try cluster.startAgain()
        // The server reconnects on its own: its answers turn to 200 without anything done to it.
        let back = ContinuousClock.now
        while try await read("/v1/leads?limit=1", token: token).status != 200 {
            guard ContinuousClock.now - back < .seconds(60) else {
                faultFindings.append("the server did not answer 200 within 60 s of the database's restart at hour \(hour)")
                return
            }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    /// The virtual clock moves: the simulation's, and the server's when it runs as its own process.
    func setClock(_ date: Date) async throws {
        clock.set(date)
        try await server.moveClock(to: date)
    }

    /// The server process is killed (SIGKILL). While it is gone a device syncs: the request gets no
    /// answer, and the device keeps every mutation it had queued. A new process starts on the same
    /// port and database, its clock set to the hour, and the network carries on.
    func killServer() async throws {
        guard let process = server.process else { return }
        guard let person = hubs.first?.people.first(where: { $0.kind == .moderator }), let device = person.devices.first else { return }
        process.kill()
        stats.serverKills += 1
        let queued = try await device.client.pending().count
        do {
            _ = try await device.client.sync()
            faultFindings.append("\(device.label) synced at hour \(hour) while the server was killed")
        } catch let answer as SyncServerError {
            faultFindings.append("\(device.label)'s sync at hour \(hour), server killed, was answered HTTP \(answer.status)")
        } catch {
            stats.failedWhileServerDown += 1
        }
        let kept = try await device.client.pending().count
        if kept != queued { faultFindings.append("\(device.label) had \(queued) mutations queued before the server was killed at hour \(hour), \(kept) after") }
        try await process.start()
        try await server.moveClock(to: clock.now)
    }

    /// One GET as an API client: the status and `Retry-After`.
    func read(_ path: String, token: String) async throws -> (status: Int, retryAfter: String?) {
        var request = HTTPClientRequest(url: server.baseURL + path)
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        let response = try await server.http.execute(request, timeout: .seconds(30))
        _ = try await response.body.collect(upTo: 1 << 24)
        return (Int(response.status.code), response.headers.first(name: "Retry-After"))
    }
}

/// One device's sync in an hour's device work.
/// What a push may change besides its device's own organisation: another organisation, or one
/// referral (its source's row and the copy it answers for).
enum PushReach: Hashable, Sendable, CustomStringConvertible {
    case organisation(Tenant.ID)
    case referral(Referral.ID)

    var description: String {
        switch self {
        case .organisation(let tenant): "o:\(tenant)"
        case .referral(let referral): "r:\(referral)"
        }
    }
}

struct DeviceStep: Sendable {
    let client: SyncClient
    let tenant: Tenant.ID
}

/// The check that a device holds no record outside its user's view, right after a pull.
struct ViewCheck: Sendable {
    let client: SyncClient
    let label: String
    let user: User.ID
    let tenant: Tenant.ID

    func outsideView(in database: Database, hour: Int) async throws -> [String] {
        let outside = try await Views.outside(try await client.leadIDs(), of: user, tenant: tenant, in: database)
        return outside.sorted(by: { $0.description < $1.description }).map {
            "\(label) held lead \($0) outside its user's view at hour \(hour)"
        }
    }
}
