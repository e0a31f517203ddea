import Foundation

/// A sales opportunity created from, or linked to, an accepted lead; it follows its own stages,
/// ending Won, Lost or Discontinued (001).
public struct Opportunity: Sendable, Equatable {
    public typealias ID = Identifier<Opportunity>

    public enum Stage: String, Sendable, Codable, CaseIterable {
        case qualification, proposal, negotiation, won, lost, discontinued
        public var isClosed: Bool { self == .won || self == .lost || self == .discontinued }
    }

    public var id: ID
    public var leadID: Lead.ID?
    public var name: String
    public var stage: Stage
    public var amount: Decimal?
    public var createdBy: User.ID
    public var createdAt: Date
    public var closedAt: Date?
    public var version: Int

    public init(
        id: ID, leadID: Lead.ID?, name: String, stage: Stage, amount: Decimal?, createdBy: User.ID, createdAt: Date,
        closedAt: Date?, version: Int
    ) {
        self.id = id
        self.leadID = leadID
        self.name = name
        self.stage = stage
        self.amount = amount
        self.createdBy = createdBy
        self.createdAt = createdAt
        self.closedAt = closedAt
        self.version = version
    }

    /// Moves to `stage`; a closed opportunity stays closed.
    public func moved(to stage: Stage, at now: Date) throws(DomainError) -> Opportunity {
        guard !self.stage.isClosed else {
            throw .conflict("opportunity_closed", "the opportunity is \(self.stage.rawValue) and can no longer move")
        }
        var moved = self
        moved.stage = stage
        moved.closedAt = stage.isClosed ? now : nil
        return moved
    }
}

/// A client of a hub's CRM: an accepted lead (000) with name, email and city.
public struct Client: Sendable, Equatable {
    public typealias ID = Identifier<Client>
    public var id: ID
    public var leadID: Lead.ID
    public var name: String
    public var email: String?
    public var city: String?
    public var createdAt: Date

    public init(id: ID, leadID: Lead.ID, name: String, email: String?, city: String?, createdAt: Date) {
        self.id = id
        self.leadID = leadID
        self.name = name
        self.email = email
        self.city = city
        self.createdAt = createdAt
    }
}

/// An advising session with a client of the hub.
public struct AdvisingSession: Sendable, Equatable {
    public typealias ID = Identifier<AdvisingSession>
    public var id: ID
    public var clientID: Client.ID
    public var advisorID: User.ID
    public var heldAt: Date
    public var durationMinutes: Int
    public var summary: String?

    public init(id: ID, clientID: Client.ID, advisorID: User.ID, heldAt: Date, durationMinutes: Int, summary: String?) {
        self.id = id
        self.clientID = clientID
        self.advisorID = advisorID
        self.heldAt = heldAt
        self.durationMinutes = durationMinutes
        self.summary = summary
    }
}
