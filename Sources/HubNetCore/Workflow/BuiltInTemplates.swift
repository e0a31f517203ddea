/// The five workflows of the product documents, one per seed, as built-in templates.
public enum BuiltInTemplates {
    public static let all: [WorkflowTemplate] = [hubModeration, partnerLead, stagedPipeline, lifeCycle, statusPath]

    public static func named(_ key: String) -> WorkflowTemplate? { all.first { $0.key == key } }

    typealias T = WorkflowTemplate

    /// Seed 000: a hub moderator accepts, declines, refers or contacts a lead from a form or a referral.
    public static let hubModeration = WorkflowTemplate(
        key: "hub_moderation", name: "Hub moderation",
        statuses: [
            T.Status(key: "new", name: "New", lifeCycle: .pending),
            T.Status(key: "contacted", name: "Contacted", lifeCycle: .pending),
            T.Status(key: "referred", name: "Referred", lifeCycle: .pending),
            // An accepted lead is a client: it leaves the lead table for the hub CRM.
            T.Status(key: "accepted", name: "Accepted", lifeCycle: .inProgress, inLeadTable: false),
            T.Status(key: "declined", name: "Declined", lifeCycle: .lost),
        ],
        initialStatus: "new",
        actions: [
            T.Action(
                key: "accept", name: "Accept",
                transitions: [T.Transition(from: ["new", "contacted", "referred"], to: .status("accepted"))],
                requirements: [.anyRole([.moderator, .admin])],
                effects: [.recordAcceptance, .addToCRM, .notifyReferralCreator]),
            T.Action(
                key: "decline", name: "Decline",
                transitions: [T.Transition(from: ["new", "contacted"], to: .status("declined"))],
                requirements: [.anyRole([.moderator, .admin])],
                effects: [.recordDecline, .notifyReferralCreator]),
            // Before acceptance a lead can only go out to a listing and its hub.
            T.Action(
                key: "refer_external", name: "Refer to a listing",
                transitions: [T.Transition(from: ["new", "contacted", "referred"], to: .status("referred"))],
                requirements: [.anyRole([.moderator, .admin]), .referralTarget(.listing)],
                effects: [.refer]),
            // After acceptance it can go to an advisor of the hub; the status stays Accepted.
            T.Action(
                key: "refer_internal", name: "Refer to an advisor",
                transitions: [T.Transition(from: ["accepted"], to: .stay)],
                requirements: [.anyRole([.moderator, .admin]), .referralTarget(.advisor)],
                effects: [.refer, .assignToChosenUser, .notifyAssignee]),
            T.Action(
                key: "contact", name: "Contact",
                transitions: [
                    T.Transition(from: ["new", "contacted"], to: .status("contacted")),
                    T.Transition(from: ["referred", "accepted"], to: .stay),
                ],
                requirements: [.anyRole([.moderator, .admin, .advisor])],
                effects: [.notifyReferralCreator]),
        ],
        timers: T.Timers(expectedCompletionDays: 5),
        badgesUntilFirstAction: true)

    /// Seed 001: a partner company accepts or declines a distributed lead, then converts it to an
    /// opportunity or closes it; unanswered leads expire.
    public static let partnerLead = WorkflowTemplate(
        key: "partner_lead", name: "Partner lead",
        statuses: [
            T.Status(key: "pending", name: "Pending", lifeCycle: .pending),
            T.Status(key: "accepted", name: "Accepted", lifeCycle: .inProgress),
            T.Status(key: "declined", name: "Declined", lifeCycle: .lost),
            T.Status(key: "expired", name: "Expired", lifeCycle: .expired),
            T.Status(key: "closed_converted", name: "Closed - Converted", lifeCycle: .won),
            T.Status(key: "closed_not_converted", name: "Closed - Not Converted", lifeCycle: .lost),
        ],
        initialStatus: "pending",
        actions: [
            T.Action(
                key: "accept", name: "Accept",
                transitions: [T.Transition(from: ["pending"], to: .status("accepted"))],
                requirements: [.anyRole([.partnerUser, .admin])],
                effects: [.recordAcceptance, .restartExpiryAfterAcceptance, .notifyReferralCreator]),
            T.Action(
                key: "decline", name: "Decline",
                transitions: [T.Transition(from: ["pending"], to: .status("declined"))],
                requirements: [.anyRole([.partnerUser, .admin]), .reason],
                effects: [.recordDecline, .archive, .notifyReferralCreator]),
            T.Action(
                key: "convert", name: "Convert to Opportunity",
                transitions: [T.Transition(from: ["accepted"], to: .status("closed_converted"))],
                requirements: [.anyRole([.partnerUser, .admin]), .linkedOpportunity],
                effects: [.linkOpportunity, .notifyReferralCreator]),
            T.Action(
                key: "close_not_converted", name: "Close - Not Converted",
                transitions: [T.Transition(from: ["accepted"], to: .status("closed_not_converted"))],
                requirements: [.anyRole([.partnerUser, .admin])],
                effects: [.notifyReferralCreator]),
            T.Action(
                key: "expire", name: "Expire",
                transitions: [T.Transition(from: ["pending", "accepted"], to: .status("expired"))],
                effects: [.notifyReferralCreator], systemOnly: true),
        ],
        timers: T.Timers(expireAfterDaysPending: 7, expireAfterDaysAccepted: 30))

    /// Seed 002: free statuses grouped into ordered, renamable stages; move forward or back;
    /// remind the assignee after days without action in a stage.
    public static let stagedPipeline: WorkflowTemplate = {
        let open: [(String, String, String)] = [
            ("added", "Added", "added"), ("contact_made", "Contact Made", "negotiation"),
            ("proposal_sent", "Proposal Sent", "negotiation"), ("legal_review", "Legal Review", "legal"),
            ("contract_signed", "Contract Signed", "legal"), ("shipped", "Shipped", "execution"),
        ]
        let statuses =
            open.map { T.Status(key: $0.0, name: $0.1, lifeCycle: $0.0 == "added" ? .pending : .inProgress, stage: $0.2) }
            + [
                T.Status(key: "executed", name: "Executed", lifeCycle: .won, stage: "execution"),
                T.Status(key: "dropped", name: "Dropped", lifeCycle: .lost),
            ]
        let openKeys = open.map(\.0)
        return WorkflowTemplate(
            key: "staged_pipeline", name: "Staged pipeline",
            statuses: statuses,
            stages: [
                T.Stage(key: "added", name: "Added", order: 1, reminderDays: 2),
                T.Stage(key: "negotiation", name: "Negotiation", order: 2, reminderDays: 10),
                T.Stage(key: "legal", name: "Legal", order: 3, reminderDays: 10),
                T.Stage(key: "execution", name: "Execution", order: 4, reminderDays: 20),
            ],
            initialStatus: "added",
            actions: [
                T.Action(key: "move_to_next_stage", name: "Move to next stage", transitions: [T.Transition(from: openKeys, to: .nextStage)]),
                T.Action(
                    key: "move_to_previous_stage", name: "Move to previous stage",
                    transitions: [T.Transition(from: openKeys, to: .previousStage)]),
                T.Action(key: "set_status", name: "Change status", transitions: [T.Transition(from: openKeys, to: .chosen(openKeys))]),
                T.Action(key: "execute", name: "Mark executed", transitions: [T.Transition(from: ["shipped", "contract_signed"], to: .status("executed"))]),
                T.Action(key: "drop", name: "Drop", transitions: [T.Transition(from: openKeys, to: .status("dropped"))], requirements: [.reason]),
                T.Action(
                    key: "assign", name: "Assign", transitions: [T.Transition(from: openKeys, to: .stay)],
                    requirements: [.assignee], effects: [.assignToChosenUser, .notifyAssignee]),
            ])
    }()

    /// Seed 003: accept by a unit member, Start Progress, then Win, Lose (with a lost reason) or
    /// Cancel once every activity is closed; only Pending leads may be deleted.
    public static let lifeCycle = WorkflowTemplate(
        key: "life_cycle", name: "Life cycle",
        statuses: [
            T.Status(key: "pending", name: "Pending", lifeCycle: .pending),
            T.Status(key: "in_progress", name: "In Progress", lifeCycle: .inProgress),
            T.Status(key: "won", name: "Won", lifeCycle: .won),
            T.Status(key: "lost", name: "Lost", lifeCycle: .lost),
            T.Status(key: "cancelled", name: "Cancelled", lifeCycle: .cancelled),
        ],
        initialStatus: "pending",
        actions: [
            T.Action(
                key: "accept", name: "Accept", transitions: [T.Transition(from: ["pending"], to: .stay)],
                requirements: [.unassigned, .unitMemberOrAssignee], effects: [.assignToActor]),
            T.Action(
                key: "start_progress", name: "Start Progress", transitions: [T.Transition(from: ["pending"], to: .status("in_progress"))],
                requirements: [.unitMemberOrAssignee]),
            T.Action(
                key: "win", name: "Win Lead", transitions: [T.Transition(from: ["in_progress"], to: .status("won"))],
                requirements: [.unitMemberOrAssignee, .activitiesClosed]),
            T.Action(
                key: "lose", name: "Lose Lead", transitions: [T.Transition(from: ["in_progress"], to: .status("lost"))],
                requirements: [.unitMemberOrAssignee, .activitiesClosed, .reason]),
            T.Action(
                key: "cancel", name: "Cancel Lead", transitions: [T.Transition(from: ["pending", "in_progress"], to: .status("cancelled"))],
                requirements: [.unitMemberOrAssignee, .activitiesClosed]),
        ],
        timers: T.Timers(expectedCompletionDays: 14),
        deletableIn: [.pending])

    /// Seed 004: open statuses including "Waiting for more information", four closing statuses,
    /// a five-day target and a thirty-day maximum.
    public static let statusPath: WorkflowTemplate = {
        let open = ["new", "working", "waiting_for_information"]
        return WorkflowTemplate(
            key: "status_path", name: "Status path",
            statuses: [
                T.Status(key: "new", name: "New", lifeCycle: .pending),
                T.Status(key: "working", name: "Working", lifeCycle: .inProgress),
                T.Status(key: "waiting_for_information", name: "Waiting for more information", lifeCycle: .inProgress),
                T.Status(key: "converted", name: "Converted", lifeCycle: .won),
                T.Status(key: "treated", name: "Treated", lifeCycle: .won),
                T.Status(key: "passed_to_distribution", name: "Passed to Distribution", lifeCycle: .won),
                T.Status(key: "abandoned", name: "Abandoned", lifeCycle: .lost),
            ],
            initialStatus: "new",
            actions: [
                T.Action(key: "start_working", name: "Mark as Working", transitions: [T.Transition(from: ["new", "waiting_for_information"], to: .status("working"))]),
                T.Action(
                    key: "wait_for_information", name: "Waiting for more information",
                    transitions: [T.Transition(from: ["new", "working"], to: .status("waiting_for_information"))]),
                T.Action(key: "close_converted", name: "Close as Converted", transitions: [T.Transition(from: open, to: .status("converted"))]),
                T.Action(key: "close_treated", name: "Close as Treated", transitions: [T.Transition(from: open, to: .status("treated"))]),
                T.Action(
                    key: "close_passed_to_distribution", name: "Close as Passed to Distribution",
                    transitions: [T.Transition(from: open, to: .status("passed_to_distribution"))]),
                T.Action(key: "close_abandoned", name: "Close as Abandoned", transitions: [T.Transition(from: open, to: .status("abandoned"))]),
            ],
            timers: T.Timers(targetCloseDays: 5, maximumOpenDays: 30))
    }()
}
