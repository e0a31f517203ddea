import Foundation

/// The sync endpoints' answers, as clients decode them. The types only clients decode name their
/// snake_case keys, so they decode without a key strategy (several times faster on Linux).
public struct PushRequest: Sendable, Codable {
    public var mutations: [Mutation]
    public init(mutations: [Mutation]) { self.mutations = mutations }
}

public struct PushResponse: Sendable, Codable {
    public var results: [MutationOutcome]
    public var lastMutationId: Int64
}

public struct PullResponse: Sendable, Decodable {
    public var cursor: String?
    public var reset: SyncResetReason?
    public var hasMore: Bool
    public var lastMutationId: Int64
    public var changes: [SyncChange]

    enum CodingKeys: String, CodingKey {
        case cursor, reset, hasMore = "has_more", lastMutationId = "last_mutation_id", changes
    }
}

public struct SnapshotResponse: Sendable, Decodable {
    public var cursor: String
    public var next: String?
    public var lastMutationId: Int64
    public var changes: [SyncChange]

    enum CodingKeys: String, CodingKey {
        case cursor, next, lastMutationId = "last_mutation_id", changes
    }
}

/// One change of one record, with the record when it is an upsert.
public struct SyncChange: Sendable, Decodable, Equatable {
    public enum Record: Sendable, Equatable {
        case lead(SyncLead)
        case note(SyncNote)
        case activity(SyncActivity)
        case referral(SyncReferral)
    }

    public var entity: SyncEntity
    public var op: SyncOperation
    public var id: UUID
    public var leadId: UUID?
    public var record: Record?

    enum CodingKeys: String, CodingKey { case entity, op, id, leadId = "lead_id", data }

    public init(entity: SyncEntity, op: SyncOperation, id: UUID, leadId: UUID?, record: Record?) {
        self.entity = entity
        self.op = op
        self.id = id
        self.leadId = leadId
        self.record = record
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        entity = try container.decode(SyncEntity.self, forKey: .entity)
        op = try container.decode(SyncOperation.self, forKey: .op)
        id = try container.decode(UUID.self, forKey: .id)
        leadId = try container.decodeIfPresent(UUID.self, forKey: .leadId)
        guard container.contains(.data), try !container.decodeNil(forKey: .data) else {
            record = nil
            return
        }
        switch entity {
        case .lead: record = .lead(try container.decode(SyncLead.self, forKey: .data))
        case .note: record = .note(try container.decode(SyncNote.self, forKey: .data))
        case .activity: record = .activity(try container.decode(SyncActivity.self, forKey: .data))
        case .referral: record = .referral(try container.decode(SyncReferral.self, forKey: .data))
        case .view: record = nil
        }
    }
}
