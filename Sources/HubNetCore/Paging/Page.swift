import Foundation

/// A position in a list ordered by creation time, then id: opaque to clients, stable under inserts.
///
/// Positions are kept in whole microseconds, PostgreSQL's own resolution, because a `Date` carried
/// back to the database can land a microsecond early and repeat a row on the next page.
public struct PageCursor: Sendable, Equatable {
    /// Microseconds since 1970 of the last row's creation.
    public var microseconds: Int64
    public var id: UUID

    public init(createdAt: Date, id: UUID) {
        self.microseconds = createdAt.micros
        self.id = id
    }

    /// The start of every list: no record is older than 1970.
    public static let start = PageCursor(microseconds: 0, id: UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)))

    /// The end of every list, for walking it backwards.
    public static let end = PageCursor(
        microseconds: 253_402_300_799_999_999, id: UUID(uuid: (255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255)))

    init(microseconds: Int64, id: UUID) {
        self.microseconds = microseconds
        self.id = id
    }

    public var createdAt: Date { Date(timeIntervalSince1970: Double(microseconds) / 1_000_000) }

    /// `<microseconds>.<uuid>`: the position after the last row of a page. Any such position is a
    /// valid place to continue from (0 to 17 digits, a UUID), so the format can be described exactly.
    public var token: String { "\(microseconds).\(UUIDText.lowercase(id))" }

    /// The exact form of a token (the OpenAPI document states it as the parameter's pattern).
    public static let pattern = "^[0-9]{1,17}\\.[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"

    /// Parses a token made by `token`; anything else is a validation error on `field`.
    public init(token: String, field: String = "cursor") throws(DomainError) {
        let parts = token.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2, (1...17).contains(parts[0].utf8.count), parts[0].utf8.allSatisfy({ (0x30...0x39).contains($0) }),
            let micros = Int64(parts[0]), parts[1].utf8.count == 36, let id = UUIDText.parse(parts[1].utf8)
        else { throw .invalid(field, "is not a cursor this server issued") }
        self.microseconds = micros
        self.id = id
    }
}

/// Which page of a list to read.
public struct PageRequest: Sendable, Equatable {
    public var limit: Int
    public var after: PageCursor?

    public static let maximumLimit = 200

    public init(limit: Int = 50, after: PageCursor? = nil) throws(DomainError) {
        guard (1...Self.maximumLimit).contains(limit) else {
            throw .invalid("limit", "must be between 1 and \(Self.maximumLimit)")
        }
        self.limit = limit
        self.after = after
    }
}

/// One page of a list and the cursor of the next, `nil` on the last page.
public struct Page<Item: Sendable>: Sendable {
    public var items: [Item]
    public var nextCursor: PageCursor?

    public init(items: [Item], nextCursor: PageCursor?) {
        self.items = items
        self.nextCursor = nextCursor
    }

    /// Builds a page from `limit + 1` rows: the extra row only tells that another page exists.
    public init(rows: [Item], limit: Int, cursor: (Item) -> PageCursor) {
        if rows.count > limit {
            self.items = Array(rows.prefix(limit))
            self.nextCursor = self.items.last.map(cursor)
        } else {
            self.items = rows
            self.nextCursor = nil
        }
    }
}
