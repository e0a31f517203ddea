import Foundation

/// A position in a list ordered by creation time, then id: opaque to clients, stable under inserts.
public struct PageCursor: Sendable, Equatable {
    public var createdAt: Date
    public var id: UUID

    public init(createdAt: Date, id: UUID) {
        self.createdAt = createdAt
        self.id = id
    }

    /// Base64url of `microseconds:uuid`.
    public var token: String {
        let micros = Int64((createdAt.timeIntervalSince1970 * 1_000_000).rounded())
        return Data("\(micros):\(id.uuidString)".utf8).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// Parses a token made by `token`; anything else is a validation error on `field`.
    public init(token: String, field: String = "cursor") throws(DomainError) {
        var base64 = token.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        guard token.count <= 200, let data = Data(base64Encoded: base64),
            let text = String(data: data, encoding: .utf8)
        else { throw .invalid(field, "is not a cursor this server issued") }
        let parts = text.split(separator: ":", maxSplits: 1)
        guard parts.count == 2, let micros = Int64(parts[0]), let id = UUID(uuidString: String(parts[1])) else {
            throw .invalid(field, "is not a cursor this server issued")
        }
        self.createdAt = Date(timeIntervalSince1970: Double(micros) / 1_000_000)
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
