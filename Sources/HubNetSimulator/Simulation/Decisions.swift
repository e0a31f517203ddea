import Foundation
import HubNetCore
import HubNetSync

/// People deciding on what their first device shows, the hour's last step: each decision only
/// reads and queues on devices (no request to the server), so the people of different
/// organisations decide side by side (`Lanes`, one lane per organisation: an advisor's decision
/// may queue an edit on their moderator's device). Each person's decisions are made from a
/// `Sendable` copy of what they need (`Input`) and come back as values (`Outcome`), applied to the
/// network in its order, so the run is the same whatever the concurrency.
struct Decider: Sendable {
    let scenario: Scenario
    let hour: Int
    /// Each simulated user's label by id.
    let labels: [User.ID: String]
    /// Each organisation's name by its tenant.
    let organisationNames: [Tenant.ID: String]

    /// What a person's decisions start from.
    struct State: Sendable {
        var decided: Set<String>
        var due: [String: (hour: Int, lead: UUID)]
        var changed: Set<UUID>
        var lookAtAll: Bool
    }

    /// One person, as their decisions need them.
    struct Input: Sendable {
        let label: String
        let kind: Person.Kind
        let userID: User.ID
        let tenant: Tenant.ID
        /// The person's first device: where they look and act.
        let client: SyncClient
        /// Their organisation's advisors, in the network's order.
        let advisors: [User.ID]
        /// The other hubs' listings, by name (a moderator's only: nobody else refers a lead out).
        let otherListings: [(Listing.ID, String)]
        /// Their organisation's first moderator, with that moderator's first device, if any.
        let moderator: (label: String, client: SyncClient?)?
        let state: State
    }

    /// What a person's decisions did: their new state, and the counts they add to the run's.
    struct Outcome: Sendable {
        var state: State
        var stats = SimulationStats()
    }

    /// The person looks at the leads that changed on their device and those whose decision is due
    /// (all of them after a snapshot): the cost of an hour follows its work, not the store's size.
    func decide(_ person: Input) async throws -> Outcome {
        var outcome = Outcome(state: person.state)
        let dueNow = person.state.due.filter { $0.value.hour <= hour }
        guard person.state.lookAtAll || !person.state.changed.isEmpty || !dueNow.isEmpty else { return outcome }
        let client = person.client
        var leads: [SyncLead]
        if person.state.lookAtAll {
            leads = try await client.leads()
        } else {
            leads = []
            for id in person.state.changed.union(dueNow.values.map(\.lead)) {
                if let lead = try await client.lead(Lead.ID(id)) { leads.append(lead) }
            }
        }
        outcome.state.lookAtAll = false
        outcome.state.changed = []
        // Names, not ids, in the key: ids differ from run to run, the draws must not.
        func key(_ lead: SyncLead) -> String {
            let assignee = lead.assignedUserId.map { id in labels[id] ?? "someone" } ?? "-"
            return "\(identity(of: lead))|\(lead.status)|\(assignee)"
        }
        let keys = Dictionary(leads.map { ($0.id, key($0)) }, uniquingKeysWith: { first, _ in first })
        leads.sort { keys[$0.id, default: ""] < keys[$1.id, default: ""] }
        // A decision that came due on a lead that has since moved on (or left) is moot.
        let current = Dictionary(leads.map { ($0.id.rawValue, key($0)) }, uniquingKeysWith: { first, _ in first })
        for (pending, entry) in dueNow where current[entry.lead] != pending { outcome.state.due[pending] = nil }
        for lead in leads {
            let key = key(lead)
            guard !outcome.state.decided.contains(key) else { continue }
            guard let dueHour = outcome.state.due[key]?.hour else {
                var draw = Draw(seed: scenario.seed, "response", person.label, key)
                outcome.state.due[key] = (hour + draw.hours(mean: scenario.meanResponseHours), lead.id.rawValue)
                continue
            }
            guard dueHour <= hour else { continue }
            outcome.state.due[key] = nil
            outcome.state.decided.insert(key)
            var draw = Draw(seed: scenario.seed, "choice", person.label, key)
            let choice = draw.unit()
            let acted = try await act(person, lead: lead, choice: choice, draw: &draw, stats: &outcome.stats)
            if acted {
                outcome.stats.actions[hour / 24, default: 0] += 1
                outcome.state.changed.insert(lead.id.rawValue)
            }
        }
        return outcome
    }

    /// What tells a lead apart in the simulator's keys: its person's name — or, for a copy that
    /// arrived de-identified (every such copy has the same placeholder name), its need (which
    /// carries the person's case number), the organisation it came from and the virtual time it
    /// landed. The name alone is not enough: copies from one source landing in one hour were alike
    /// in the key, so which of them a person acted on followed the order of a `Set` of server-made
    /// ids, and the source's later work on the other lead made runs of one seed differ.
    func identity(of lead: SyncLead) -> String {
        guard lead.name == LeadDetails.withheldName else { return lead.name }
        let source = lead.sourceTenantId.flatMap { organisationNames[$0] } ?? "-"
        return "\(lead.name)|\(lead.request ?? "-")|\(source)|\(lead.createdAt)"
    }

    /// One person's decision on one lead in one state; whether an action was queued.
    func act(_ person: Input, lead: SyncLead, choice: Double, draw: inout Draw, stats: inout SimulationStats) async throws -> Bool {
        let client = person.client
        func attempt(_ action: String, _ arguments: ActionArguments = .init(), stats: inout SimulationStats) async -> Bool {
            do {
                try await client.act(action, on: lead.id, arguments)
                stats.byAction[action, default: 0] += 1
                return true
            } catch {
                stats.refusedOnDevice[action, default: 0] += 1
                return false
            }
        }
        // Now and then the person also corrects the lead's region, as they see it on their device.
        var edit = Draw(seed: scenario.seed, "edit", person.label, identity(of: lead), lead.status)
        if edit.unit() < scenario.editChance, (try? await client.edit(lead.id, [.region: "Region noted by \(person.label)"])) != nil {
            stats.edits += 1
        }
        let odds = scenario.hubOdds
        switch (lead.templateKey, person.kind, lead.status) {
        case ("hub_moderation", .moderator, "new"), ("hub_moderation", .moderator, "contacted"), ("hub_moderation", .moderator, "referred"):
            if choice < odds.accept { return await attempt("accept", stats: &stats) }
            if choice < odds.accept + odds.decline { return await attempt("decline", .init(reason: "outside our service area"), stats: &stats) }
            if choice < odds.accept + odds.decline + odds.referExternal {
                let others = person.otherListings
                guard !others.isEmpty else { return false }
                return await attempt("refer_external", .init(listingId: others[draw.below(others.count)].0), stats: &stats)
            }
            if choice < odds.accept + odds.decline + odds.referExternal + odds.contact { return await attempt("contact", stats: &stats) }
            return false
        case ("hub_moderation", .moderator, "accepted") where lead.assignedUserId == nil:
            let advisors = person.advisors
            guard choice < odds.referInternal, !advisors.isEmpty else { return false }
            return await attempt("refer_internal", .init(advisorId: advisors[draw.below(advisors.count)]), stats: &stats)
        case ("hub_moderation", .advisor, _) where lead.assignedUserId == person.userID:
            _ = try? await client.addNote("Called \(lead.name); first session booked", to: lead.id)
            stats.notes += 1
            try await secondOpinion(on: lead, advisor: person, stats: &stats)
            return await attempt("contact", stats: &stats)
        case ("partner_lead", .partnerUser, "pending"):
            let odds = scenario.partnerOdds
            if choice < odds.accept { return await attempt("accept", stats: &stats) }
            if choice < odds.accept + odds.decline { return await attempt("decline", .init(reason: "not our sector"), stats: &stats) }
            stats.leftToExpire += 1
            return false
        case ("partner_lead", .partnerUser, "accepted"):
            let odds = scenario.partnerOdds
            if choice < odds.convert { return await attempt("convert", .init(createOpportunity: true), stats: &stats) }
            if choice < odds.convert + odds.notConvert {
                return await attempt("close_not_converted", .init(reason: "no budget"), stats: &stats)
            }
            return false
        case (_, .moderator, _) where lead.templateKey != "hub_moderation", (_, .sourcingUser, _):
            // The other workflows (002, 003, 004), and a sourcing company's own leads (the status
            // path, whether or not it referred them on): any button the engine offers, at random.
            let actions = try await client.availableActions(on: lead).filter { action in
                !action.requirements.contains { if case .referralTarget = $0 { true } else { false } }
            }
            guard !actions.isEmpty, choice < 0.85, await client.template(of: lead) != nil else { return false }
            let action = actions[draw.below(actions.count)]
            var arguments = ActionArguments(reason: "simulated outcome", assigneeId: person.userID, createOpportunity: true)
            for transition in action.transitions where transition.from.contains(lead.status) {
                if case .chosen(let allowed) = transition.to {
                    let options = allowed.filter { $0 != lead.status }
                    if !options.isEmpty { arguments.status = options[draw.below(options.count)] }
                }
            }
            return await attempt(action.key, arguments, stats: &stats)
        default:
            return false
        }
    }

    /// Now and then the hub's moderator corrects the region of a lead an advisor is working, on
    /// the moderator's own device in the same hour: whichever of the two syncs second loses.
    func secondOpinion(on lead: SyncLead, advisor: Input, stats: inout SimulationStats) async throws {
        var draw = Draw(seed: scenario.seed, "second-opinion", advisor.label, identity(of: lead), lead.status)
        guard draw.unit() < scenario.doubleEditChance ?? 0,
            let moderator = advisor.moderator, let device = moderator.client, try await device.lead(lead.id) != nil
        else { return }
        // The advisor's own edit may already be queued (the same value then changes nothing).
        if (try? await advisor.client.edit(lead.id, [.region: "Region noted by \(advisor.label)"])) != nil { stats.edits += 1 }
        guard (try? await device.edit(lead.id, [.region: "Region noted by \(moderator.label)"])) != nil else { return }
        stats.edits += 1
        stats.doubleEdits += 1
    }
}

extension SimulationStats {
    /// Adds what people's decisions counted (`Decider.Outcome`).
    mutating func add(decisions: SimulationStats) {
        for (day, count) in decisions.actions { actions[day, default: 0] += count }
        for (action, count) in decisions.byAction { byAction[action, default: 0] += count }
        for (action, count) in decisions.refusedOnDevice { refusedOnDevice[action, default: 0] += count }
        notes += decisions.notes
        edits += decisions.edits
        doubleEdits += decisions.doubleEdits
        leftToExpire += decisions.leftToExpire
    }
}
