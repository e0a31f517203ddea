extension WorkflowTemplate {
    /// The template if it is consistent; otherwise the first inconsistency, naming the field.
    /// An edited template must still be one the engine can run without surprises.
    public func validated() throws(DomainError) -> WorkflowTemplate {
        _ = try Validate.text(name, field: "name", max: 200)
        guard !statuses.isEmpty else { throw .invalid("statuses", "must have at least one status") }
        var statusKeys = Set<String>()
        for (index, status) in statuses.enumerated() {
            guard statusKeys.insert(status.key).inserted else {
                throw .invalid("statuses[\(index)].key", "'\(status.key)' is used twice")
            }
            _ = try Validate.text(status.name, field: "statuses[\(index)].name", max: 100)
            if let stage = status.stage, !stages.contains(where: { $0.key == stage }) {
                throw .invalid("statuses[\(index)].stage", "names no stage '\(stage)'")
            }
        }
        guard let initial = status(initialStatus) else {
            throw .invalid("initial_status", "names no status '\(initialStatus)'")
        }
        guard !initial.lifeCycle.isClosed else { throw .invalid("initial_status", "must be an open status") }
        var stageKeys = Set<String>()
        var orders = Set<Int>()
        for (index, stage) in stages.enumerated() {
            guard stageKeys.insert(stage.key).inserted else { throw .invalid("stages[\(index)].key", "'\(stage.key)' is used twice") }
            guard orders.insert(stage.order).inserted else { throw .invalid("stages[\(index)].order", "\(stage.order) is used twice") }
            _ = try Validate.text(stage.name, field: "stages[\(index)].name", max: 100)
            if let days = stage.reminderDays, !(1...3650).contains(days) {
                throw .invalid("stages[\(index)].reminder_days", "must be between 1 and 3650 days")
            }
            if !statuses.contains(where: { $0.stage == stage.key }) {
                throw .invalid("stages[\(index)]", "stage '\(stage.key)' has no status")
            }
        }
        var actionKeys = Set<String>()
        for (index, action) in actions.enumerated() {
            guard actionKeys.insert(action.key).inserted else { throw .invalid("actions[\(index)].key", "'\(action.key)' is used twice") }
            guard !action.transitions.isEmpty else { throw .invalid("actions[\(index)].transitions", "must not be empty") }
            for (position, transition) in action.transitions.enumerated() {
                let field = "actions[\(index)].transitions[\(position)]"
                for from in transition.from where status(from) == nil {
                    throw .invalid("\(field).from", "names no status '\(from)'")
                }
                switch transition.to {
                case .status(let key) where status(key) == nil: throw .invalid("\(field).to", "names no status '\(key)'")
                case .chosen(let keys):
                    if let unknown = keys.first(where: { status($0) == nil }) {
                        throw .invalid("\(field).to", "names no status '\(unknown)'")
                    }
                case .nextStage, .previousStage:
                    if stages.isEmpty { throw .invalid("\(field).to", "moves between stages, but the template has none") }
                default: break
                }
            }
        }
        for (field, days) in [
            ("timers.expire_after_days_pending", timers.expireAfterDaysPending),
            ("timers.expire_after_days_accepted", timers.expireAfterDaysAccepted),
            ("timers.target_close_days", timers.targetCloseDays), ("timers.maximum_open_days", timers.maximumOpenDays),
            ("timers.expected_completion_days", timers.expectedCompletionDays),
        ] {
            if let days, !(1...3650).contains(days) { throw .invalid(field, "must be between 1 and 3650 days") }
        }
        if let target = timers.targetCloseDays, let maximum = timers.maximumOpenDays, target > maximum {
            throw .invalid("timers.target_close_days", "must not be after the maximum open days")
        }
        return self
    }
}
