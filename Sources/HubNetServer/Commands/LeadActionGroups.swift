import Foundation
import HubNetCore
import HubNetPostgres
import Logging

/// Lead actions that people of one tenant take over HTTP at the same moment, stored together: one
/// transaction locks and reads their leads, decides each action in memory by its own caller's
/// rights (`LeadBatch`, the rules a push decides by), writes every accepted one set-based and reads
/// the leads back. This is group commit: while a group is being stored the actions arriving queue,
/// and the next group takes them all, so one action alone waits for nothing and fifty at once pay
/// for a handful of statements and one commit instead of fifty of each.
///
/// What each caller gets is what it would get alone:
/// - a refusal by the rules (not visible, not available, a missing reason) is that action's answer
///   and leaves no effect; the others of its group are stored;
/// - an action the batch does not decide in memory (it names a listing or an existing
///   opportunity, or needs the store) is taken on its own after its group, as before;
/// - when the group's transaction fails (a constraint, a shared pool's claim, a lost connection),
///   nothing of it stays and each of its actions is taken again on its own, so only the action at
///   fault fails;
/// - two actions on one lead never share a group: the later one waits for the earlier one's group
///   and sees its result, in the order they arrived.
///
/// Each tenant runs at most `maximumRunning` groups at once, of at most `maximumGroup` actions.
actor LeadActionGroups {
    /// An action stored, with the template of its lead and the moment it was taken at.
    struct Acted: Sendable {
        var lead: Lead
        var template: WorkflowTemplate
        var now: Date
    }

    /// What a queued action learns from the queue: its answer, or that its caller leads a group.
    fileprivate enum Turn: Sendable {
        case answered(Result<Acted, any Error>)
        case lead([Queued])
    }

    fileprivate struct Queued: Sendable {
        var action: LeadAction
        var lead: Lead.ID
        var caller: AuthenticatedUser
        var turn: CheckedContinuation<Turn, Never>
        /// The counter of the request that queued it (the group's statements are reported to each).
        var statements: StatementCount?
    }

    private struct Queue {
        var waiting: [Queued] = []
        var running = 0
        /// Leads whose action is in a running group.
        var busy: Set<Lead.ID> = []
    }

    private let runner: Runner
    nonisolated let maximumGroup: Int
    nonisolated let maximumRunning: Int
    private var queues: [Tenant.ID: Queue] = [:]

    init(commands: LeadCommands, database: Database, now: @escaping @Sendable () -> Date, maximumGroup: Int = 64, maximumRunning: Int = 2) {
        self.runner = Runner(commands: commands, database: database, now: now)
        self.maximumGroup = max(1, maximumGroup)
        self.maximumRunning = max(1, maximumRunning)
    }

    /// Takes `action` on the lead for `caller`, in a group with whatever else its tenant's people
    /// are doing at that moment.
    nonisolated func act(_ action: LeadAction, on lead: Lead.ID, caller: AuthenticatedUser) async throws -> Acted {
        // Groups of one: every action on its own, at once, as before groups.
        if maximumGroup == 1 { return try await runner.alone(action, on: lead, caller: caller).get() }
        switch await queue(action, on: lead, caller: caller) {
        case .answered(let result):
            return try result.get()
        case .lead(let group):
            // This request's task runs the group in a task of its own, so that its client going
            // away does not cancel the others' actions.
            let runner = runner
            let result = await Task.detached { await runner.run(group) }.value
            await finished(group, tenant: caller.tenantID)
            return try result.get()
        }
    }

    /// Actions of the tenant waiting for a group, and its groups being stored (for tests).
    func waiting(in tenant: Tenant.ID) -> Int { queues[tenant]?.waiting.count ?? 0 }
    func running(in tenant: Tenant.ID) -> Int { queues[tenant]?.running ?? 0 }

    private func queue(_ action: LeadAction, on lead: Lead.ID, caller: AuthenticatedUser) async -> Turn {
        await withCheckedContinuation { turn in
            queues[caller.tenantID, default: Queue()].waiting.append(
                Queued(action: action, lead: lead, caller: caller, turn: turn, statements: StatementCount.current))
            startGroups(caller.tenantID)
        }
    }

    private func finished(_ group: [Queued], tenant: Tenant.ID) {
        queues[tenant]?.running -= 1
        queues[tenant]?.busy.subtract(group.map(\.lead))
        startGroups(tenant)
    }

    /// Starts groups while the tenant has room for one and actions waiting whose leads are free:
    /// the oldest action on each free lead, in the order they arrived. The first of a group leads it.
    private func startGroups(_ tenant: Tenant.ID) {
        guard var queue = queues[tenant] else { return }
        defer { queues[tenant] = queue.waiting.isEmpty && queue.running == 0 ? nil : queue }
        while queue.running < maximumRunning, !queue.waiting.isEmpty {
            var group: [Queued] = []
            var rest: [Queued] = []
            for queued in queue.waiting {
                if group.count < maximumGroup, !queue.busy.contains(queued.lead) {
                    group.append(queued)
                    queue.busy.insert(queued.lead)
                } else {
                    rest.append(queued)
                }
            }
            guard let leader = group.first else { return }
            queue.waiting = rest
            queue.running += 1
            leader.turn.resume(returning: .lead(group))
        }
    }

    /// Stores a group and answers its members but the first (whose answer it returns).
    private struct Runner: Sendable {
        let commands: LeadCommands
        let database: Database
        let now: @Sendable () -> Date

        func run(_ group: [Queued]) async -> Result<Acted, any Error> {
            let counted = StatementCount()
            var answers = await StatementCount.$current.withValue(counted) { await together(group) }
            for member in group { member.statements?.add(counted) }
            // Taken on its own, side by side (their leads differ): an action the batch left to the
            // store, or all of a failed group's, each waiting only for its own lead.
            await withTaskGroup(of: (Int, Result<Acted, any Error>).self) { alone in
                for index in group.indices where answers[index] == nil {
                    let member = group[index]
                    alone.addTask {
                        let counted = StatementCount()
                        let result = await StatementCount.$current.withValue(counted) {
                            await self.alone(member.action, on: member.lead, caller: member.caller)
                        }
                        member.statements?.add(counted)
                        return (index, result)
                    }
                }
                for await (index, result) in alone { answers[index] = result }
            }
            let results = answers.map { $0 ?? .failure(DomainError.notFound("lead")) }
            for (member, result) in zip(group, results).dropFirst() { member.turn.resume(returning: .answered(result)) }
            return results[0]
        }

        /// The group in one transaction: each member's answer, or `nil` for those to take on their own.
        private func together(_ group: [Queued]) async -> [Result<Acted, any Error>?] {
            guard group.count > 1 else { return [nil] }
            let tenant = group[0].caller.tenantID
            let now = now()
            do {
                // A lead another transaction holds fails the group within a second (55P03) rather
                // than holding up the tenant's actions behind it; each action then waits on its own.
                return try await database.withTenant(tenant, lockTimeout: Self.lockTimeout, genericPlans: true) { transaction in
                    try await decideAndStore(group, now: now, in: transaction)
                }
            } catch {
                database.logger.debug(
                    "a group of lead actions failed; each is taken on its own",
                    metadata: ["tenant_id": "\(tenant)", "actions": "\(group.count)", "error": "\(String(reflecting: error))"])
                return Array(repeating: nil, count: group.count)
            }
        }

        private func decideAndStore(_ group: [Queued], now: Date, in transaction: TenantTransaction) async throws
            -> [Result<Acted, any Error>?]
        {
            let ids = group.map(\.lead)
            // The locks (in one order) and the tenant's templates in one statement, then the leads
            // with their last history entries, read under the locks.
            let templates = try await commands.templates.all(lockingLeads: ids, in: transaction)
            let (locked, lastEntries) = try await commands.leads.readLocked(ids, in: transaction)
            let leads = Dictionary(locked.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
            let templatesByKey = Dictionary(templates.map { ($0.key, $0) }, uniquingKeysWith: { first, _ in first })
            // The people actions name or notify, read once for the group, as one action reads its own.
            let readers = group.filter { member in
                guard let lead = leads[member.lead] else { return false }
                let notifies =
                    templatesByKey[lead.templateKey]?.action(member.action.action)?.effects.contains(.notifyAssignee) ?? false
                return !ActionDecision.named(by: member.action).isEmpty || notifies
            }
            var wanted: Set<User.ID> = []
            for member in readers {
                wanted.formUnion(
                    LeadBatch.peopleToRead([.act(member.action)], leads: leads[member.lead].map { [$0] } ?? [], caller: member.caller))
            }
            let people = wanted.isEmpty ? [] : try await commands.users.many(wanted.sorted { $0.description < $1.description }, in: transaction)

            var answers: [Result<Acted, any Error>?] = Array(repeating: nil, count: group.count)
            var pending: [LeadBatch.PendingAction] = []
            var stored: [Int] = []
            for (index, member) in group.enumerated() {
                var batch = LeadBatch(
                    caller: member.caller, leads: leads[member.lead].map { [$0] } ?? [], templates: templates,
                    lastEntries: lastEntries[member.lead].map { [member.lead: $0] } ?? [:], people: people, grace: 0, now: now)
                switch batch.decide(.act(member.action), on: member.lead, position: index) {
                case .refused(let refusal):
                    answers[index] = .failure(refusal)
                case .accepted:
                    pending.append(contentsOf: batch.pendingActions)
                    stored.append(index)
                case .needsStore:
                    break
                }
            }
            try await commands.store(pending, now: now, in: transaction)
            let (after, _) = try await commands.leads.readLocked(stored.map { group[$0].lead }, historyOf: [], in: transaction)
            let afterByID = Dictionary(after.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
            for index in stored {
                // Stored: never taken again. Gone since (not possible under the lock) answers as one action would.
                guard let lead = afterByID[group[index].lead], let template = templatesByKey[lead.templateKey] else {
                    answers[index] = .failure(DomainError.notFound("lead"))
                    continue
                }
                answers[index] = .success(Acted(lead: lead, template: template, now: now))
            }
            return answers
        }

        static let lockTimeout: Duration = .seconds(1)

        /// One action in a transaction of its own (`LeadCommands.act`), as before groups.
        func alone(_ action: LeadAction, on lead: Lead.ID, caller: AuthenticatedUser) async -> Result<Acted, any Error> {
            let now = now()
            do {
                let (lead, template) = try await database.withTenant(caller.tenantID, genericPlans: true) { transaction in
                    try await commands.act(action, on: lead, caller: caller, now: now, in: transaction)
                }
                return .success(Acted(lead: lead, template: template, now: now))
            } catch {
                return .failure(error)
            }
        }
    }
}
