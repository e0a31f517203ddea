import HubNetCore

/// Runs a list of steps at once where that cannot change what happens: steps that touch a key in
/// common — an organisation, or for pushes a referral (`PushReach`) — directly or through a chain
/// of other steps, form one lane and run one after another in their order; lanes run side by side, up to `concurrency`. Results come back
/// in the steps' order, so the caller applies them as if the steps had run one by one.
enum Lanes {
    static func run<Step: Sendable, Result: Sendable, Key: Hashable>(
        _ steps: [Step], touching keys: (Step) -> [Key], concurrency: Int, _ body: @escaping @Sendable (Step) async throws -> Result
    ) async throws -> [Result] {
        let lanes = of(steps.map(keys))
        var results = [Result?](repeating: nil, count: steps.count)
        if concurrency <= 1 || lanes.count <= 1 {
            for (index, step) in steps.enumerated() { results[index] = try await body(step) }
            return results.compactMap { $0 }
        }
        // On NIO's event loops, lanes take the loops in turn (see `EventLoopTaskExecutor`).
        let executors = EventLoopTaskExecutor.forLanes
        try await withThrowingTaskGroup(of: [(Int, Result)].self) { group in
            var next = lanes.makeIterator()
            var started = 0
            func start(_ lane: [Int]) {
                let work = lane.map { ($0, steps[$0]) }
                let operation: @Sendable () async throws -> [(Int, Result)] = {
                    var done: [(Int, Result)] = []
                    for (index, step) in work { done.append((index, try await body(step))) }
                    return done
                }
                if let executors, !executors.isEmpty {
                    group.addTask(executorPreference: executors[started % executors.count], operation: operation)
                } else {
                    group.addTask(operation: operation)
                }
                started += 1
            }
            for _ in 0..<concurrency { if let lane = next.next() { start(lane) } }
            while let finished = try await group.next() {
                for (index, result) in finished { results[index] = result }
                if let lane = next.next() { start(lane) }
            }
        }
        return results.compactMap { $0 }
    }

    /// Groups step indices into lanes: two steps sharing a key are in one lane (transitively);
    /// each lane keeps its steps in order, and lanes are ordered by their first step.
    static func of<Key: Hashable>(_ keys: [[Key]]) -> [[Int]] {
        var parent = Array(keys.indices)
        func root(_ item: Int) -> Int {
            var item = item
            while parent[item] != item {
                parent[item] = parent[parent[item]]
                item = parent[item]
            }
            return item
        }
        var owner: [Key: Int] = [:]
        for (index, tenants) in keys.enumerated() {
            for tenant in tenants {
                if let other = owner[tenant] {
                    let (a, b) = (root(other), root(index))
                    if a != b { parent[max(a, b)] = min(a, b) }
                } else {
                    owner[tenant] = index
                }
            }
        }
        var byRoot: [Int: [Int]] = [:]
        for index in keys.indices { byRoot[root(index), default: []].append(index) }
        return byRoot.values.sorted { $0[0] < $1[0] }
    }
}
