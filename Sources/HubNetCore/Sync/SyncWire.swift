import Foundation

/// The sync endpoints' bodies and answers, defined once for the server, the SDK and the simulator.
/// They name their snake_case keys, so they decode without a key strategy (several times faster on
/// Linux).
public struct PushRequest: Sendable, Encodable {
    public var mutations: [Mutation]
    public init(mutations: [Mutation]) { self.mutations = mutations }
}

/// A push as the server reads it: the envelope (an object with `mutations`, an array of objects
/// each with an integer `id`) must be well formed or the whole batch is refused; each mutation is
/// then read on its own, and one that cannot be read becomes that mutation's rejection.
public struct PushEnvelope: Sendable, Decodable {
    public struct Item: Sendable {
        public var id: Int64
        /// The mutation, or why it cannot be read (`unsupported`, `invalid_value` naming the field).
        public var mutation: Result<Mutation, DomainError>
        /// What the item says its name and lead are, as far as they can be read, for the device log.
        public var rawName: String?
        public var rawLeadId: UUID?
        public var rawActedAt: Int64?
    }

    public var items: [Item]

    enum CodingKeys: String, CodingKey { case mutations }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        var list = try container.nestedUnkeyedContainer(forKey: .mutations)
        var items: [Item] = []
        while !list.isAtEnd {
            let index = items.count
            let element = try list.superDecoder()
            let object: KeyedDecodingContainer<Mutation.Key>
            let id: Int64
            do {
                object = try element.container(keyedBy: Mutation.Key.self)
                id = try object.decode(Int64.self, forKey: Mutation.Key("id"))
            } catch {
                throw DomainError.invalid("mutations[\(index)].id", "every mutation is an object with a whole-number id")
            }
            let mutation: Result<Mutation, DomainError>
            do {
                mutation = .success(try Mutation(from: element))
            } catch let error as DomainError {
                mutation = .failure(error)
            } catch {
                mutation = .failure(DomainError.invalidValue("mutation", "cannot be read"))
            }
            // A mutation that was read says them already; the raw keys are read again only for one that was not.
            if case .success(let read) = mutation {
                items.append(Item(id: id, mutation: mutation, rawName: read.name.rawValue, rawLeadId: read.leadId.rawValue, rawActedAt: read.actedAt))
                continue
            }
            items.append(
                Item(
                    id: id, mutation: mutation, rawName: (try? object.decode(String.self, forKey: Mutation.Key("name"))).map { String($0.prefix(64)) },
                    rawLeadId: try? object.decode(UUID.self, forKey: Mutation.Key("lead_id")),
                    rawActedAt: try? object.decode(Int64.self, forKey: Mutation.Key("acted_at"))))
        }
        self.items = items
    }
}

public struct PushResponse: Sendable, Codable {
    public var results: [MutationOutcome]
    public var lastMutationId: Int64

    public init(results: [MutationOutcome], lastMutationId: Int64) {
        self.results = results
        self.lastMutationId = lastMutationId
    }

    enum CodingKeys: String, CodingKey { case results, lastMutationId = "last_mutation_id" }
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
