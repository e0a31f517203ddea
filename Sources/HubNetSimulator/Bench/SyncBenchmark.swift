import Foundation
import HubNetCore
import HubNetPostgres
import HubNetSync
import PostgresNIO

/// `hubnet bench sync`: the sync protocol's throughput next to plain SQL on the same database, in
/// the same run. Push: devices sending note and field-edit mutations in batches. Pull: a device
/// reading the whole change log. First sync: a new device's snapshot of every lead.
public struct SyncBenchmark: Sendable {
    public struct Options: Sendable {
        public var leads = 20_000
        public var devices = 4
        public var mutationsPerDevice = 2_500
        public var batch = 100
        /// Pushes measured in turn, HubNet's then the floor's, each round on its own: the push row
        /// shows the medians (this machine's figures spread by ±10 % from one push to the next).
        public var rounds = 1
        /// The `hubnet` binary to run a device's first sync in a process of its own, for the
        /// memory figure; `nil` leaves that figure out.
        public var deviceBinary: String? = ServerProcess.currentExecutable
        public init() {}
    }

    public struct Figure: Sendable, Codable {
        public var name: String
        public var unit: String
        public var hubnet: Double
        /// The same work by hand in SQL, a statement per row.
        public var plainSQL: Double
        public var target: String
        /// hubnet ÷ plain SQL for rates; plain SQL ÷ hubnet for times and memory (so 1 is parity,
        /// lower is slower or larger).
        public var ratio: Double
        /// The same work by hand in SQL, a statement per kind of row (the floor); push only.
        public var setBased: Double? = nil
        /// hubnet ÷ set-based.
        public var setBasedRatio: Double? = nil
        /// Push only, with more than one round: each round's figures, in order.
        public var rounds: [PushRound]? = nil
    }

    /// One round of pushes: HubNet's rate, then the set-based floor's, and their ratio.
    public struct PushRound: Sendable, Codable {
        public var hubnet: Double
        public var setBased: Double
        public var ratio: Double
    }

    public let options: Options
    public init(options: Options) { self.options = options }

    public func run(on server: LocalServer, progress: @Sendable (String) -> Void) async throws -> [Figure] {
        let admin = NetworkAdmin(server: server)
        let hub = try await admin.createTenant(.hub, name: "Bench Hub", slug: "bench-\(UUID().uuidString.prefix(8).lowercased())")
        var tokens: [String] = []
        var users: [User.ID] = []
        for index in 0..<options.devices {
            let (user, token) = try await admin.createUser(in: hub, email: "m\(index)@bench.test", name: "Moderator \(index)", roles: [.moderator])
            users.append(user)
            tokens.append(try await admin.registerDevice(token: token, name: "bench device \(index)"))
            // Devices for the same pushes by hand in SQL, one per way.
            for way in ["rows", "set"] { _ = try await admin.registerDevice(token: token, name: "plain \(way) \(index)") }
        }
        let plainDevices = try await server.database.withTenant(hub.id) { transaction in
            var byName: [String: Device.ID] = [:]
            for (id, name) in try await transaction.connection.rows(
                "SELECT id, name FROM devices WHERE tenant_id = \(hub.id) AND name LIKE 'plain %'", logger: server.database.logger
            ).decode((Device.ID, String).self) { byName[name] = id }
            return byName
        }
        progress("creating \(options.leads) leads")
        let leads = try await Self.createLeads(on: server, tenant: hub.id, by: users[0], count: options.leads)

        // Push: every device at once, batches of `batch`; by rounds, HubNet's pushes then the
        // floor's, so both meet the machine in the same state.
        let total = options.devices * options.mutationsPerDevice
        let rounds = max(1, options.rounds)
        progress("push: \(options.devices) devices × \(options.mutationsPerDevice) mutations in batches of \(options.batch)"
            + (rounds > 1 ? ", \(rounds) rounds" : ""))
        // Each device's request bodies are encoded before the clock starts, as a device's queue
        // holds them, so the figure is the server's, not this process's JSON encoder's. Mutation
        // ids run on from round to round.
        let bodies = try tokens.indices.map { index in
            var generator = SplitMix64(seed: UInt64(index + 1))
            return try (0..<rounds).map { round in
                let last = Int64(round + 1) * Int64(options.mutationsPerDevice)
                var next = Int64(round) * Int64(options.mutationsPerDevice) + 1
                var bodies: [Data] = []
                while next <= last {
                    let size = min(options.batch, Int(last - next + 1))
                    let mutations = (0..<size).map { offset -> Mutation in
                        let id = next + Int64(offset)
                        let lead = leads[Int(generator.next() % UInt64(leads.count))]
                        return id % 5 == 0
                            ? Mutation(
                                id: id, leadId: lead, intent: .update(LeadUpdate(changes: [.init(field: .region, from: nil, to: "R\(index)")])))
                            : Mutation(id: id, leadId: lead, intent: .addNote(id: LeadNote.ID(), body: "bench note \(id)"))
                    }
                    bodies.append(try SyncBenchmark.encoder.encode(PushRequest(mutations: mutations)))
                    next += Int64(size)
                }
                return bodies
            }
        }
        let plain = PlainPush(
            tenant: hub.id, leads: leads, database: server.database, mutationsPerDevice: options.mutationsPerDevice, batch: options.batch)
        func devices(_ way: String) throws -> [(device: Device.ID, user: User.ID)] {
            try users.indices.map { index in
                guard let device = plainDevices["plain \(way) \(index)"] else { throw SyncServerError.make(500, Data()) }
                return (device, users[index])
            }
        }
        // A mutation whose id is a multiple of 5 is an edit, the others notes: what a round of one
        // way stores, for every device.
        func notes(inRound round: Int) -> Int {
            let (first, last) = (round * options.mutationsPerDevice + 1, (round + 1) * options.mutationsPerDevice)
            return options.devices * (options.mutationsPerDevice - (last / 5 - (first - 1) / 5))
        }
        var measured: [PushRound] = []
        for round in 0..<rounds {
            let pushStart = ContinuousClock.now
            let machineBefore = MachineCPU.now()
            let processBefore = ProcessCPU.seconds()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (index, token) in tokens.enumerated() {
                    let transport = admin.transport(deviceToken: token)
                    let deviceBodies = bodies[index][round]
                    group.addTask {
                        for body in deviceBodies {
                            let (status, data) = try await transport.send("POST", "/v1/sync/push", body: body)
                            guard status == 200 else { throw SyncServerError.make(status, data) }
                        }
                    }
                }
                try await group.waitForAll()
            }
            let pushSeconds = (ContinuousClock.now - pushStart).seconds
            // How much of the two cores the push left unused: work waiting on one step after another.
            let machine = machineBefore.flatMap { before in MachineCPU.now()?.since(before) }
            let idle = machine?.idleShare.map { String(format: " (the machine's cores %.0f%% idle)", 100 * $0) } ?? ""
            // Where the CPU went, per mutation: this process (the server, and the devices sending
            // ready-made bodies) and the rest of the machine (PostgreSQL). A steadier figure than a
            // rate when the machine's speed varies from run to run.
            let process = ProcessCPU.seconds() - processBefore
            let split = machine.map { machine in
                String(
                    format: "; CPU per mutation: this process %.0f µs, the rest of the machine %.0f µs", 1e6 * process / Double(total),
                    1e6 * max(0, machine.busySeconds - process) / Double(total))
            } ?? ""
            // A push answers 200 whatever became of its mutations: the notes they added are counted.
            // HubNet's rounds so far and the floor's before this one: both ways add notes to the tenant.
            let earlier = (0..<round).map { notes(inRound: $0) }.reduce(0, +)
            let notesSent = 2 * earlier + notes(inRound: round)
            let notesStored = try await server.database.withTenant(hub.id) { transaction in
                try await transaction.connection.rows(
                    "SELECT count(*) FROM lead_notes WHERE tenant_id = \(hub.id)", logger: server.database.logger
                ).decode(Int.self).reduce(0, +)
            }
            guard notesStored == notesSent else {
                throw BenchmarkFailure(
                    description: "push stored \(notesStored - 2 * earlier) of the \(notes(inRound: round)) notes it was sent")
            }
            progress("push: \(total) mutations in \(format(pushSeconds)) s\(idle)\(split); by hand in SQL, a statement per kind of row")
            let setBasedSeconds = try await plain.run(
                devices: try devices("set"), rowByRow: false, seed: 200 + UInt64(round) * 10,
                firstID: Int64(round) * Int64(options.mutationsPerDevice) + 1)
            let (rate, floor) = (Double(total) / pushSeconds, Double(total) / setBasedSeconds)
            measured.append(PushRound(hubnet: rate, setBased: floor, ratio: rate / floor))
            progress("push round \(round + 1): HubNet \(format(rate))/s, set-based \(format(floor))/s (ratio \(String(format: "%.2f", rate / floor)))")
        }
        progress("push by hand in SQL, a statement per row")
        let plainPushSeconds = try await plain.run(devices: try devices("rows"), rowByRow: true, seed: 100, firstID: 1)
        let pushRate = Self.median(measured.map(\.hubnet))

        // Pull: a fresh device reads the whole log from its start.
        let reader = try await admin.registerDevice(token: hub.adminToken, name: "bench reader")
        let readerTransport = admin.transport(deviceToken: reader)
        let (firstStatus, firstPage) = try await readerTransport.send("GET", "/v1/sync/snapshot?limit=1", body: nil)
        guard firstStatus == 200 else { throw SyncServerError.make(firstStatus, firstPage) }
        let epochCursor = try SyncBenchmark.decoder.decode(SnapshotResponse.self, from: firstPage).cursor
        guard var cursor = SyncCursor(epochCursor).map({ SyncCursor(epoch: $0.epoch, seq: 0).description }) else {
            throw SyncServerError.make(500, Data())
        }
        progress("pull: reading the whole change log")
        var pulled = 0
        let pullStart = ContinuousClock.now
        // Read as the SDK reads it: the next page asked for once this one's cursor is in, while
        // this one's envelopes are decoded (records kept as JSON for the store).
        func page(after cursor: String) -> Task<Data, any Error> {
            Task {
                let (status, data) = try await readerTransport.send("GET", "/v1/sync/pull?cursor=\(cursor)&limit=10000", body: nil)
                guard status == 200 else { throw SyncServerError.make(status, data) }
                return data
            }
        }
        var ahead: (cursor: String, body: Task<Data, any Error>)? = nil
        while true {
            let body: Task<Data, any Error>
            if let next = ahead, next.cursor == cursor { body = next.body } else { body = page(after: cursor) }
            ahead = nil
            let data = try await body.value
            if let early = try? RawSyncPage.header(data), early.hasMore == true, let next = early.cursor {
                ahead = (next, page(after: next))
            }
            let page = try RawSyncPage.parse(data)
            pulled += page.changes.count
            cursor = page.cursor ?? cursor
            if !page.hasMore { break }
        }
        ahead?.body.cancel()
        let pullSeconds = (ContinuousClock.now - pullStart).seconds
        let plainPullStart = ContinuousClock.now
        var plainPulled = 0
        var after: Int64 = 0
        while true {
            let page = try await server.database.withTenant(hub.id) { transaction in
                var rows: [(Int64, String)] = []
                for (seq, payload) in try await transaction.connection.rows(
                    """
                    SELECT seq, COALESCE(payload, '') FROM sync_changes
                    WHERE tenant_id = \(hub.id) AND seq > \(after) ORDER BY seq LIMIT 10000
                    """, logger: server.database.logger
                ).decode((Int64, String).self) { rows.append((seq, payload)) }
                return rows
            }
            plainPulled += page.count
            guard let last = page.last else { break }
            after = last.0
        }
        let plainPullSeconds = (ContinuousClock.now - plainPullStart).seconds
        progress("pull: \(pulled) changes in \(format(pullSeconds)) s")

        // First sync: a new device through the SDK, into an in-memory SQLite store.
        progress("first sync: a new device takes all \(options.leads) leads")
        let fresh = try await admin.registerDevice(token: hub.adminToken, name: "bench first sync")
        let client = SyncClient(store: try LocalStore(path: nil), transport: admin.transport(deviceToken: fresh), pageSize: 10_000)
        try await client.prepare()
        let syncStart = ContinuousClock.now
        _ = try await client.sync()
        let syncSeconds = (ContinuousClock.now - syncStart).seconds
        let held = try await client.leads().count
        let plainSyncStart = ContinuousClock.now
        let plainLeads = try await server.database.withTenant(hub.id) { transaction in
            var count = 0
            for _ in try await transaction.connection.rows(
                "SELECT l.sync_payload FROM leads l WHERE tenant_id = \(hub.id) AND l.withdrawn_at IS NULL", logger: server.database.logger
            ).decode(String.self) { count += 1 }
            return count
        }
        let plainSyncSeconds = (ContinuousClock.now - plainSyncStart).seconds
        progress("first sync: \(held) leads in \(format(syncSeconds)) s (plain SQL read \(plainLeads))")
        let memory = try await deviceMemory(admin: admin, hub: hub, server: server, progress: progress)

        return [
            Figure(
                name: "push", unit: "mutations/s", hubnet: pushRate, plainSQL: Double(total) / plainPushSeconds,
                target: "≥ 10,000 and ≥ 0.3 × set-based", ratio: pushRate / (Double(total) / plainPushSeconds),
                setBased: Self.median(measured.map(\.setBased)), setBasedRatio: Self.median(measured.map(\.ratio)),
                rounds: rounds > 1 ? measured : nil),
            Figure(
                name: "pull", unit: "changes/s", hubnet: Double(pulled) / pullSeconds, plainSQL: Double(plainPulled) / plainPullSeconds,
                target: "≥ 100,000", ratio: (Double(pulled) / pullSeconds) / (Double(plainPulled) / plainPullSeconds)),
            Figure(
                name: "first sync of \(options.leads) leads", unit: "s", hubnet: syncSeconds, plainSQL: plainSyncSeconds,
                target: "≤ 3 s for 100,000", ratio: plainSyncSeconds / syncSeconds),
        ] + (memory.map { [$0] } ?? [])
    }

    /// The first sync's memory: a new device syncs all the leads in a process of its own (the SDK
    /// into a durable SQLite file, as on a device), which reports its peak resident memory. Beside
    /// it, the JSON of the records it takes, read by SQL in the same run: what a device that held
    /// them all at once would need at least.
    private func deviceMemory(admin: NetworkAdmin, hub: NetworkAdmin.ProvisionedTenant, server: LocalServer, progress: @Sendable (String) -> Void)
        async throws -> Figure?
    {
        guard let binary = options.deviceBinary else { return nil }
        progress("first sync in a device process: its peak memory")
        let token = try await admin.registerDevice(token: hub.adminToken, name: "bench first sync, own process")
        let device = try await DeviceFirstSync.measure(binary: binary, baseURL: server.baseURL, token: token, pageSize: 10_000)
        guard device.leads == options.leads else {
            throw BenchmarkFailure(description: "the device process holds \(device.leads) leads of \(options.leads) after its first sync")
        }
        let recordBytes = try await server.database.withTenant(hub.id) { transaction in
            try await transaction.connection.rows(
                "SELECT COALESCE(sum(octet_length(l.sync_payload)), 0)::BIGINT FROM leads l WHERE tenant_id = \(hub.id) AND l.withdrawn_at IS NULL",
                logger: server.database.logger
            ).decode(Int64.self).reduce(0, +)
        }
        let peak = Double(device.peakKiB) / 1024
        let records = Double(recordBytes) / (1024 * 1024)
        progress(
            "first sync in a device process: \(device.leads) leads in \(format(device.seconds)) s, peak memory \(format(peak)) MB "
                + "(\(format(Double(device.peakBeforeKiB) / 1024)) MB before the sync; the records' JSON \(format(records)) MB)")
        return Figure(
            name: "first sync peak memory", unit: "MB", hubnet: peak, plainSQL: records,
            target: "≤ 150 MB for 100,000", ratio: records / peak)
    }

    /// The figures as a table.
    public static func table(_ figures: [Figure]) -> String {
        var lines = ["                                   HubNet        plain SQL     ratio   set-based     ratio   target"]
        for figure in figures {
            let name = "\(figure.name) (\(figure.unit))"
            lines.append(
                name.padding(toLength: 34, withPad: " ", startingAt: 0) + " " + pad(format(figure.hubnet), 13) + " "
                    + pad(format(figure.plainSQL), 13) + " " + pad(String(format: "%.2f", figure.ratio), 7) + " "
                    + pad(figure.setBased.map(format) ?? "–", 11) + " " + pad(figure.setBasedRatio.map { String(format: "%.2f", $0) } ?? "–", 7)
                    + "   " + figure.target)
        }
        for figure in figures {
            guard let rounds = figure.rounds else { continue }
            func list(_ values: [String]) -> String { values.joined(separator: " / ") }
            lines.append(
                "\(figure.name) by round (the row shows medians): HubNet \(list(rounds.map { format($0.hubnet) })); set-based "
                    + "\(list(rounds.map { format($0.setBased) })); ratio \(list(rounds.map { String(format: "%.2f", $0.ratio) }))")
        }
        return lines.joined(separator: "\n")
    }

    /// The middle value (the mean of the two middle ones for an even count).
    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        guard !sorted.isEmpty else { return .nan }
        let middle = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
    }

    static func pad(_ text: String, _ width: Int) -> String {
        String(repeating: " ", count: max(0, width - text.count)) + text
    }

    /// Bulk leads through the server role, then fresh planner statistics, as after any bulk load
    /// (autovacuum would take its time, and the first measurements would run on a table the
    /// planner believes empty).
    static func createLeads(on server: LocalServer, tenant: Tenant.ID, by user: User.ID, count: Int) async throws -> [Lead.ID] {
        let ids = try await createLeads(tenant: tenant, by: user, count: count, database: server.database)
        if let owner = server.ownerURL {
            try await withPostgresClient(owner, logger: server.database.logger, maximumConnections: 1) { client in
                try await client.rows("ANALYZE", logger: server.database.logger)
            }
        } else {
            // On DATABASE_URL: what the server does after a large import.
            try await PostgresLeadRepository(logger: server.database.logger).refreshStatistics(database: server.database)
        }
        return ids
    }

    /// Bulk leads through the server role, in the tenant's transactions (the triggers log them).
    static func createLeads(tenant: Tenant.ID, by user: User.ID, count: Int, database: Database) async throws -> [Lead.ID] {
        var ids: [Lead.ID] = []
        var made = 0
        while made < count {
            let size = min(10_000, count - made)
            let chunk = (0..<size).map { _ in UUID() }
            let from = made
            try await database.withTenant(tenant) { transaction in
                try await transaction.connection.rows(
                    """
                    INSERT INTO leads (tenant_id, id, template_key, status, source, contact_name, contact_email, city, created_by,
                        created_at, expected_completion_at)
                    SELECT \(tenant), id, 'hub_moderation', 'new', 'import', 'Lead ' || (\(from) + n), 'lead' || (\(from) + n) || '@bench.test',
                        'Oakland', \(user), now(), now() + INTERVAL '5 days'
                    FROM unnest(\(chunk)::UUID[]) WITH ORDINALITY AS t(id, n)
                    """, logger: database.logger)
            }
            ids += chunk.map(Lead.ID.init)
            made += size
        }
        return ids
    }

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        return encoder
    }()
    /// Pull and snapshot answers name their snake_case keys.
    static let decoder = JSONDecoder()
}

func format(_ value: Double) -> String {
    if value >= 100 {
        let formatter = NumberFormatter()
        formatter.numberStyle = .decimal
        formatter.maximumFractionDigits = 0
        return formatter.string(from: NSNumber(value: value)) ?? String(Int(value))
    }
    return String(format: "%.2f", value)
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

extension SyncServerError {
    static func make(_ status: Int, _ body: Data) -> SyncServerError { SyncServerError(status: status, body: body) }
}

/// A small, fast, seedable generator: the same seed gives the same sequence on every platform.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// A benchmark whose work did not happen as asked: its figures would mean nothing.
struct BenchmarkFailure: Error, CustomStringConvertible {
    var description: String
}
