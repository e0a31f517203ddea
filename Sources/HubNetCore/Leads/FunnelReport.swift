/// Counts per status and stage of one workflow template, and the conversion between stages.
public struct FunnelReport: Sendable, Equatable, Codable {
    public struct StatusCount: Sendable, Equatable, Codable {
        public var key: String
        public var name: String
        public var lifeCycle: LifeCycle
        public var stage: String?
        public var count: Int
    }

    public struct StageCount: Sendable, Equatable, Codable {
        public var key: String
        public var name: String
        public var order: Int
        /// Leads in this stage now.
        public var current: Int
        /// Leads that ever reached this stage or a later one.
        public var reached: Int
        /// `reached` of this stage over `reached` of the one before; `nil` for the first stage or an empty one before.
        public var conversionFromPrevious: Double?
    }

    public var template: String
    public var total: Int
    public var statuses: [StatusCount]
    public var stages: [StageCount]
    public var lifeCycles: [String: Int]

    /// - Parameters:
    ///   - counts: leads per current status.
    ///   - visited: for each lead, every status it has been in.
    public static func compute(_ template: WorkflowTemplate, counts: [String: Int], visited: [[String]]) -> FunnelReport {
        let stages = template.orderedStages
        let orderOfStage = Dictionary(uniqueKeysWithValues: stages.map { ($0.key, $0.order) })
        let furthest = visited.compactMap { statuses in
            statuses.compactMap { template.status($0)?.stage.flatMap { orderOfStage[$0] } }.max()
        }
        var stageCounts: [StageCount] = []
        for stage in stages {
            let current = template.statuses.filter { $0.stage == stage.key }.reduce(0) { $0 + (counts[$1.key] ?? 0) }
            let reached = furthest.filter { $0 >= stage.order }.count
            let previous = stageCounts.last?.reached
            stageCounts.append(
                StageCount(
                    key: stage.key, name: stage.name, order: stage.order, current: current, reached: reached,
                    conversionFromPrevious: previous.flatMap { $0 > 0 ? Double(reached) / Double($0) : nil }))
        }
        var lifeCycles: [String: Int] = [:]
        for status in template.statuses { lifeCycles[status.lifeCycle.rawValue, default: 0] += counts[status.key] ?? 0 }
        return FunnelReport(
            template: template.key, total: counts.values.reduce(0, +),
            statuses: template.statuses.map {
                StatusCount(key: $0.key, name: $0.name, lifeCycle: $0.lifeCycle, stage: $0.stage, count: counts[$0.key] ?? 0)
            },
            stages: stageCounts, lifeCycles: lifeCycles)
    }
}
