import Foundation
import HubNetCore
import HubNetSync

/// One person at their first device for an hour's decisions, as values: the people of different
/// organisations then decide side by side (`Simulation.workDevices`). Everything a decision reads
/// or changes is here or in the device's own store (a moderator's second opinion is in the same
/// organisation, so in the same lane); what it counts comes back as a `Tally`, added up in the
/// network's order.
struct Desk: Sendable {
    let label: String
    let kind: Person.Kind
    let userID: User.ID
    let tenant: Tenant.ID
    /// The person's first device.
    let client: SyncClient
    /// The advisors of the person's organisation (whom a moderator refers a lead to).
    let advisors: [User.ID]
    /// The first moderator of the person's organisation and their first device, for a second opinion.
    let moderator: (label: String, client: SyncClient)?

    // The person's state, given back changed.
    var decided: Set<String>
    var due: [String: (hour: Int, lead: UUID)]
    var changed: Set<UUID>
    var lookAtAll: Bool

    /// What the hour's decisions read from the network around the desk, the same for every desk.
    struct Surroundings: Sendable {
        let scenario: Scenario
        let hour: Int
        /// Each simulated user's label by id.
        let labels: [User.ID: String]
        /// Each organisation's name by its tenant.
        let organisationNames: [Tenant.ID: String]
        /// The listings of every hub but the one keyed, sorted by name: where a moderator refers a lead on.
        let otherHubsListings: [Tenant.ID: [Listing.ID]]
    }

    /// What the decisions counted, added to the run's statistics in the network's order.
    struct Tally: Sendable {
        var actions = 0
        var byAction: [String: Int] = [:]
        var refusedOnDevice: [String: Int] = [:]
        var edits = 0
        var notes = 0
        var doubleEdits = 0
        var leftToExpire = 0

        func add(to stats: inout SimulationStats, day: Int) {
            if actions > 0 { stats.actions[day, default: 0] += actions }
            for (action, count) in byAction { stats.byAction[action, default: 0] += count }
            for (action, count) in refusedOnDevice { stats.refusedOnDevice[action, default: 0] += count }
            stats.edits += edits
            stats.notes += notes
            stats.doubleEdits += doubleEdits
            stats.leftToExpire += leftToExpire
        }
    }

    init(_ person: Person, device: SimulatedDevice) {
        label = person.label
        kind = person.kind
        userID = person.userID
        tenant = person.organisation.tenant.id
        client = device.client
        advisors = person.organisation.people.filter { $0.kind == .advisor }.map(\.userID)
        moderator = person.organisation.people.first { $0.kind == .moderator }.flatMap { moderator in
            moderator.devices.first.map { (moderator.label, $0.client) }
        }
        decided = person.decided
        due = person.due
        changed = person.changed
        lookAtAll = person.lookAtAll
    }

    /// Gives the person their state back after the hour's decisions.
    func hand(back person: Person) {
        person.decided = decided
        person.due = due
        person.changed = changed
        person.lookAtAll = lookAtAll
    }

    /// The person looks at the leads that changed on their device and those whose decision is due
    /// (all of them after a snapshot): the cost of an hour follows its work, not the store's size.
    mutating func decide(around: Surroundings) async throws -> Tally {
        var tally = Tally()
        let hour = around.hour
        let seed = around.scenario.seed
        let dueNow = due.filter { $0.value.hour <= hour }
        guard lookAtAll || !changed.isEmpty || !dueNow.isEmpty else { return tally }
        var leads: [SyncLead]
        if lookAtAll {
            leads = try await client.leads()
        } else {
            leads = []
            for id in changed.union(dueNow.values.map(\.lead)) {
                if let lead = try await client.lead(Lead.ID(id)) { leads.append(lead) }
            }
        }
        lookAtAll = false
        changed = []
        // Names, not ids, in the key: ids differ from run to run, the draws must not.
        func key(_ lead: SyncLead) -> String {
            let assignee = lead.assignedUserId.map { id in around.labels[id] ?? "someone" } ?? "-"
            return "\(Self.identity(of: lead, around: around))|\(lead.status)|\(assignee)"
        }
        let keys = Dictionary(leads.map { ($0.id, key($0)) }, uniquingKeysWith: { first, _ in first })
        leads.sort { keys[$0.id, default: ""] < keys[$1.id, default: ""] }
        // A decision that came due on a lead that has since moved on (or left) is moot.
        let current = Dictionary(leads.map { ($0.id.rawValue, key($0)) }, uniquingKeysWith: { first, _ in first })
        for (pending, entry) in dueNow where current[entry.lead] != pending { due[pending] = nil }
        for lead in leads {
            let key = key(lead)
            guard !decided.contains(key) else { continue }
            guard let dueHour = due[key]?.hour else {
                var draw = Draw(seed: seed, "response", label, key)
                due[key] = (hour + draw.hours(mean: around.scenario.meanResponseHours), lead.id.rawValue)
                continue
            }
            guard dueHour <= hour else { continue }
            due[key] = nil
            decided.insert(key)
            var draw = Draw(seed: seed, "choice", label, key)
            let choice = draw.unit()
            if try await act(on: lead, choice: choice, draw: &draw, around: around, tally: &tally) {
                tally.actions += 1
                changed.insert(lead.id.rawValue)
            }
        }
        return tally
    }

    /// What tells a lead apart in the simulator's keys: its person's name — or, for a copy that
    /// arrived de-identified (every such copy has the same placeholder name), the organisation it
    /// came from and the virtual time it landed as well. Copies alike in all of these (one source,
    /// one target, one instant) are alike in every figure of the report, so which of them a draw
    /// falls on cannot change it.
    static func identity(of lead: SyncLead, around: Surroundings) -> String {
        guard lead.name == LeadDetails.withheldName else { return lead.name }
        let source = lead.sourceTenantId.flatMap { around.organisationNames[$0] } ?? "-"
        return "\(lead.name)|\(source)|\(lead.createdAt)"
    }

    /// One decision on one lead in one state; whether an action was queued.
    private func act(on lead: SyncLead, choice: Double, draw: inout Draw, around: Surroundings, tally: inout Tally) async throws -> Bool {
        let client = client
        func attempt(_ action: String, _ arguments: ActionArguments = .init()) async -> Bool {
            do {
                try await client.act(action, on: lead.id, arguments)
                tally.byAction[action, default: 0] += 1
                return true
            } catch {
                tally.refusedOnDevice[action, default: 0] += 1
                return false
            }
        }
        let scenario = around.scenario
        // Now and then the person also corrects the lead's region, as they see it on their device.
        var edit = Draw(seed: scenario.seed, "edit", label, lead.name, lead.status)
        if edit.unit() < scenario.editChance, (try? await client.edit(lead.id, [.region: "Region noted by \(label)"])) != nil {
            tally.edits += 1
        }
        let odds = scenario.hubOdds
        switch (lead.templateKey, kind, lead.status) {
        case ("hub_moderation", .moderator, "new"), ("hub_moderation", .moderator, "contacted"), ("hub_moderation", .moderator, "referred"):
            if choice < odds.accept { return await attempt("accept") }
            if choice < odds.accept + odds.decline { return await attempt("decline", .init(reason: "outside our service area")) }
            if choice < odds.accept + odds.decline + odds.referExternal {
                let others = around.otherHubsListings[tenant] ?? []
                guard !others.isEmpty else { return false }
                return await attempt("refer_external", .init(listingId: others[draw.below(others.count)]))
            }
            if choice < odds.accept + odds.decline + odds.referExternal + odds.contact { return await attempt("contact") }
            return false
        case ("hub_moderation", .moderator, "accepted") where lead.assignedUserId == nil:
            guard choice < odds.referInternal, !advisors.isEmpty else { return false }
            return await attempt("refer_internal", .init(advisorId: advisors[draw.below(advisors.count)]))
        case ("hub_moderation", .advisor, _) where lead.assignedUserId == userID:
            _ = try? await client.addNote("Called \(lead.name); first session booked", to: lead.id)
            tally.notes += 1
            try await secondOpinion(on: lead, around: around, tally: &tally)
            return await attempt("contact")
        case ("partner_lead", .partnerUser, "pending"):
            let odds = scenario.partnerOdds
            if choice < odds.accept { return await attempt("accept") }
            if choice < odds.accept + odds.decline { return await attempt("decline", .init(reason: "not our sector")) }
            tally.leftToExpire += 1
            return false
        case ("partner_lead", .partnerUser, "accepted"):
            let odds = scenario.partnerOdds
            if choice < odds.convert { return await attempt("convert", .init(createOpportunity: true)) }
            if choice < odds.convert + odds.notConvert { return await attempt("close_not_converted", .init(reason: "no budget")) }
            return false
        case (_, .moderator, _) where lead.templateKey != "hub_moderation", (_, .sourcingUser, _):
            // The other workflows (002, 003, 004), and a sourcing company's own leads (the status
            // path, whether or not it referred them on): any button the engine offers, at random.
            let actions = try await client.availableActions(on: lead).filter { action in
                !action.requirements.contains { if case .referralTarget = $0 { true } else { false } }
            }
            guard !actions.isEmpty, choice < 0.85, await client.template(of: lead) != nil else { return false }
            let action = actions[draw.below(actions.count)]
            var arguments = ActionArguments(reason: "simulated outcome", assigneeId: userID, createOpportunity: true)
            for transition in action.transitions where transition.from.contains(lead.status) {
                if case .chosen(let allowed) = transition.to {
                    let options = allowed.filter { $0 != lead.status }
                    if !options.isEmpty { arguments.status = options[draw.below(options.count)] }
                }
            }
            return await attempt(action.key, arguments)
        default:
            return false
        }
    }

    /// Now and then the hub's moderator corrects the region of a lead an advisor is working, on
    /// the moderator's own device in the same hour: whichever of the two syncs second loses.
    private func secondOpinion(on lead: SyncLead, around: Surroundings, tally: inout Tally) async throws {
        var draw = Draw(seed: around.scenario.seed, "second-opinion", label, lead.name, lead.status)
        guard draw.unit() < around.scenario.doubleEditChance ?? 0, let moderator, try await moderator.client.lead(lead.id) != nil
        else { return }
        // The advisor's own edit may already be queued (the same value then changes nothing).
        if (try? await client.edit(lead.id, [.region: "Region noted by \(label)"])) != nil { tally.edits += 1 }
        guard (try? await moderator.client.edit(lead.id, [.region: "Region noted by \(moderator.label)"])) != nil else { return }
        tally.edits += 1
        tally.doubleEdits += 1
    }
}
