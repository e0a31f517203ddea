import Foundation

/// A shared note on a lead; notes are never edited or removed.
public struct LeadNote: Sendable, Equatable {
    public typealias ID = Identifier<LeadNote>
    public var id: ID
    public var leadID: Lead.ID
    public var authorID: User.ID
    public var body: String
    public var createdAt: Date

    public init(id: ID, leadID: Lead.ID, authorID: User.ID, body: String, createdAt: Date) {
        self.id = id
        self.leadID = leadID
        self.authorID = authorID
        self.body = body
        self.createdAt = createdAt
    }
}

/// A scheduled task on a lead (a call, a meeting).
public struct LeadActivity: Sendable, Equatable {
    public typealias ID = Identifier<LeadActivity>
    public enum Kind: String, Sendable, Codable, CaseIterable { case call, meeting, email, task }
    public enum State: String, Sendable, Codable { case open, completed, cancelled }

    public var id: ID
    public var leadID: Lead.ID
    public var kind: Kind
    public var title: String
    public var dueAt: Date?
    public var state: State
    public var createdBy: User.ID
    public var createdAt: Date
    public var closedAt: Date?

    public init(
        id: ID, leadID: Lead.ID, kind: Kind, title: String, dueAt: Date?, state: State, createdBy: User.ID,
        createdAt: Date, closedAt: Date?
    ) {
        self.id = id
        self.leadID = leadID
        self.kind = kind
        self.title = title
        self.dueAt = dueAt
        self.state = state
        self.createdBy = createdBy
        self.createdAt = createdAt
        self.closedAt = closedAt
    }
}
