import Foundation

/// A pull or snapshot answer read without decoding its records: each change's envelope (entity,
/// operation, ids, the record's version) is read, and the record itself is kept as the JSON bytes
/// the server sent, for a device to store as they are and decode when it shows them.
///
/// Any valid JSON of the documented shape is read (keys in any order, any whitespace, escapes);
/// anything else is a `RawSyncPage.Malformed` naming where, never a crash.
public struct RawSyncPage: Sendable, Equatable {
    public var cursor: String?
    public var next: String?
    public var reset: SyncResetReason?
    public var hasMore: Bool
    public var lastMutationId: Int64?
    public var changes: [RawSyncChange]

    public struct Malformed: Error, Sendable, Equatable, CustomStringConvertible {
        public var offset: Int
        public var reason: String
        public var description: String { "sync page: \(reason) at byte \(offset)" }
    }

    public static func parse(_ bytes: [UInt8]) throws(Malformed) -> RawSyncPage {
        try bytes.withUnsafeBufferPointer { buffer in Result { () throws(Malformed) in try parse(buffer) } }.get()
    }

    /// The page in a response body, read in place.
    public static func parse(_ data: Data) throws(Malformed) -> RawSyncPage {
        try data.withUnsafeBytes { raw in Result { () throws(Malformed) in try parse(raw.bindMemory(to: UInt8.self)) } }.get()
    }

    /// What decides the request after a page, read from the keys before its changes: a reader
    /// sends that request while it reads and stores the page's changes (`header(_:)`).
    public struct Header: Sendable, Equatable {
        public var cursor: String?
        public var next: String?
        public var reset: SyncResetReason?
        /// `nil` when the page names no `has_more` before its changes.
        public var hasMore: Bool?
    }

    /// The keys of a page that come before its `changes`, read without reading the changes: the
    /// server writes them first. Keys after the changes are not read; the page itself
    /// (`parse(_:)`) is what a reader acts on, and what it read early only starts the next request.
    public static func header(_ data: Data) throws(Malformed) -> Header {
        try data.withUnsafeBytes { raw in Result { () throws(Malformed) in try header(raw.bindMemory(to: UInt8.self)) } }.get()
    }

    static func header(_ bytes: UnsafeBufferPointer<UInt8>) throws(Malformed) -> Header {
        var scanner = JSONScanner(bytes: bytes)
        var header = Header()
        try scanner.object(until: "changes") { (key, scanner) throws(Malformed) in
            switch key {
            case "cursor": header.cursor = try scanner.optionalString()
            case "next": header.next = try scanner.optionalString()
            case "reset":
                if let text = try scanner.optionalString() {
                    guard let reason = SyncResetReason(rawValue: text) else { throw scanner.malformed("unknown reset reason") }
                    header.reset = reason
                }
            case "has_more": header.hasMore = try scanner.bool()
            default: try scanner.skipValue()
            }
        }
        return header
    }

    /// Reads the bytes in place; what it keeps (strings, records) is copied out of them.
    static func parse(_ bytes: UnsafeBufferPointer<UInt8>) throws(Malformed) -> RawSyncPage {
        var scanner = JSONScanner(bytes: bytes)
        var page = RawSyncPage(cursor: nil, next: nil, reset: nil, hasMore: false, lastMutationId: nil, changes: [])
        try scanner.object { (key, scanner) throws(Malformed) in
            switch key {
            case "cursor": page.cursor = try scanner.optionalString()
            case "next": page.next = try scanner.optionalString()
            case "reset":
                if let text = try scanner.optionalString() {
                    guard let reason = SyncResetReason(rawValue: text) else { throw scanner.malformed("unknown reset reason") }
                    page.reset = reason
                }
            case "has_more": page.hasMore = try scanner.bool()
            case "last_mutation_id": page.lastMutationId = try scanner.integer()
            case "changes":
                try scanner.array { (scanner) throws(Malformed) in page.changes.append(try RawSyncChange.parse(&scanner)) }
            default: try scanner.skipValue()
            }
        }
        try scanner.end()
        return page
    }
}

public struct RawSyncChange: Sendable, Equatable {
    public var entity: SyncEntity
    public var op: SyncOperation
    public var id: UUID
    public var leadId: UUID?
    /// The record as JSON, exactly as sent; `nil` for a drop, a delete or a reset.
    public var data: [UInt8]?
    /// The record's `version` (0 when it has none).
    public var version: Int

    static func parse(_ scanner: inout JSONScanner) throws(RawSyncPage.Malformed) -> RawSyncChange {
        var entity: SyncEntity?
        var op: SyncOperation?
        var id: UUID?
        var leadId: UUID?
        var data: [UInt8]?
        var version = 0
        try scanner.object { (key, scanner) throws(RawSyncPage.Malformed) in
            switch key {
            case "entity":
                guard let value = SyncEntity(rawValue: try scanner.string()) else { throw scanner.malformed("unknown entity") }
                entity = value
            case "op":
                guard let value = SyncOperation(rawValue: try scanner.string()) else { throw scanner.malformed("unknown op") }
                op = value
            case "id":
                guard let value = try scanner.uuid() else { throw scanner.malformed("id is not a UUID") }
                id = value
            case "lead_id":
                if scanner.peekNull() {
                    try scanner.skipValue()
                } else {
                    guard let value = try scanner.uuid() else { throw scanner.malformed("lead_id is not a UUID") }
                    leadId = value
                }
            case "data":
                if scanner.peekNull() {
                    try scanner.skipValue()
                } else {
                    let start = scanner.offset
                    try scanner.object(reading: "version") { (scanner) throws(RawSyncPage.Malformed) in
                        guard let value = Int(exactly: try scanner.integer()) else { throw scanner.malformed("version out of range") }
                        version = value
                    }
                    data = scanner.slice(from: start)
                }
            default: try scanner.skipValue()
            }
        }
        guard let entity, let op, let id else { throw scanner.malformed("a change needs entity, op and id") }
        return RawSyncChange(entity: entity, op: op, id: id, leadId: leadId, data: data, version: version)
    }
}

/// A minimal, strict JSON reader over bytes: values are read or skipped in place, with a bound on
/// nesting, so hostile input costs linear time and never a deep recursion.
struct JSONScanner {
    /// Valid only while the scan runs (see `RawSyncPage.parse`): nothing keeps a reference to it.
    let bytes: UnsafeBufferPointer<UInt8>
    private(set) var offset = 0
    static let maximumDepth = 64

    init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    func malformed(_ reason: String) -> RawSyncPage.Malformed { RawSyncPage.Malformed(offset: offset, reason: reason) }

    func slice(from start: Int) -> [UInt8] { Array(bytes[start..<offset]) }

    mutating func skipWhitespace() {
        while offset < bytes.count, bytes[offset] == 0x20 || bytes[offset] == 0x0A || bytes[offset] == 0x0D || bytes[offset] == 0x09 {
            offset += 1
        }
    }

    mutating func expect(_ byte: UInt8) throws(RawSyncPage.Malformed) {
        skipWhitespace()
        guard offset < bytes.count, bytes[offset] == byte else { throw malformed("expected '\(Character(UnicodeScalar(byte)))'") }
        offset += 1
    }

    mutating func peek() -> UInt8? {
        skipWhitespace()
        return offset < bytes.count ? bytes[offset] : nil
    }

    mutating func peekNull() -> Bool { peek() == UInt8(ascii: "n") }

    mutating func end() throws(RawSyncPage.Malformed) {
        skipWhitespace()
        guard offset == bytes.count else { throw malformed("trailing bytes") }
    }

    /// Reads an object, calling `field` with each key; `field` must read or skip the value.
    mutating func object(_ field: (String, inout JSONScanner) throws(RawSyncPage.Malformed) -> Void) throws(RawSyncPage.Malformed) {
        try expect(UInt8(ascii: "{"))
        if peek() == UInt8(ascii: "}") {
            offset += 1
            return
        }
        while true {
            let key = try string()
            try expect(UInt8(ascii: ":"))
            try field(key, &self)
            switch peek() {
            case UInt8(ascii: ","): offset += 1
            case UInt8(ascii: "}"):
                offset += 1
                return
            default: throw malformed("expected ',' or '}'")
            }
        }
    }

    /// Reads an object's members up to the key `stop` (not its value), calling `field` with each
    /// key before it; the whole object when it has no such key.
    mutating func object(until stop: String, _ field: (String, inout JSONScanner) throws(RawSyncPage.Malformed) -> Void)
        throws(RawSyncPage.Malformed)
    {
        try expect(UInt8(ascii: "{"))
        if peek() == UInt8(ascii: "}") {
            offset += 1
            return
        }
        while true {
            let key = try string()
            if key == stop { return }
            try expect(UInt8(ascii: ":"))
            try field(key, &self)
            switch peek() {
            case UInt8(ascii: ","): offset += 1
            case UInt8(ascii: "}"):
                offset += 1
                return
            default: throw malformed("expected ',' or '}'")
            }
        }
    }

    /// Reads an object, calling `value` for the value of `key` and skipping every other; keys
    /// without escapes are compared as bytes, never built.
    mutating func object(reading key: StaticString, _ value: (inout JSONScanner) throws(RawSyncPage.Malformed) -> Void)
        throws(RawSyncPage.Malformed)
    {
        try expect(UInt8(ascii: "{"))
        if peek() == UInt8(ascii: "}") {
            offset += 1
            return
        }
        while true {
            skipWhitespace()
            let keyStart = offset
            let matches: Bool
            if let plain = try readString() {
                matches = key.withUTF8Buffer { expected in bytes[plain].elementsEqual(expected) }
            } else {
                offset = keyStart
                matches = try string() == key.description
            }
            try expect(UInt8(ascii: ":"))
            if matches { try value(&self) } else { try skipValue() }
            switch peek() {
            case UInt8(ascii: ","): offset += 1
            case UInt8(ascii: "}"):
                offset += 1
                return
            default: throw malformed("expected ',' or '}'")
            }
        }
    }

    /// A JSON string holding a UUID (`8-4-4-4-12`, either case), read from its bytes; `nil` when it
    /// is a string but not a UUID.
    mutating func uuid() throws(RawSyncPage.Malformed) -> UUID? {
        skipWhitespace()
        let start = offset
        if let plain = try readString() { return UUIDText.parse(bytes[plain]) }
        offset = start
        return UUIDText.parse(try string())
    }

    mutating func array(_ element: (inout JSONScanner) throws(RawSyncPage.Malformed) -> Void) throws(RawSyncPage.Malformed) {
        try expect(UInt8(ascii: "["))
        if peek() == UInt8(ascii: "]") {
            offset += 1
            return
        }
        while true {
            try element(&self)
            switch peek() {
            case UInt8(ascii: ","): offset += 1
            case UInt8(ascii: "]"):
                offset += 1
                return
            default: throw malformed("expected ',' or ']'")
            }
        }
    }

    mutating func optionalString() throws(RawSyncPage.Malformed) -> String? {
        if peekNull() {
            try literal("null")
            return nil
        }
        return try string()
    }

    /// A JSON string, unescaped.
    mutating func string() throws(RawSyncPage.Malformed) -> String {
        var text = ""
        if let plain = try readString(build: true, into: &text) { return String(decoding: bytes[plain], as: UTF8.self) }
        return text
    }

    /// Reads past a JSON string, checked as `string()` checks it, building nothing; returns the
    /// range of its bytes when it has no escapes.
    mutating func readString() throws(RawSyncPage.Malformed) -> Range<Int>? {
        var unused = ""
        return try readString(build: false, into: &unused)
    }

    /// Reads past a JSON string. Without escapes: returns the range of its bytes. With escapes:
    /// returns `nil`, and when `build` is set, `text` holds the string unescaped.
    /// Moves past the bytes that need no attention inside a string (not a quote, a backslash or a
    /// control character), sixteen at a time: most of a page is such bytes.
    private mutating func skipPlainRun() {
        guard let base = UnsafeRawPointer(bytes.baseAddress) else { return }
        let quote = SIMD16<UInt8>(repeating: UInt8(ascii: "\""))
        let backslash = SIMD16<UInt8>(repeating: UInt8(ascii: "\\"))
        let space = SIMD16<UInt8>(repeating: 0x20)
        while offset + 16 <= bytes.count {
            let chunk = base.loadUnaligned(fromByteOffset: offset, as: SIMD16<UInt8>.self)
            if any((chunk .== quote) .| (chunk .== backslash) .| (chunk .< space)) { return }
            offset += 16
        }
    }

    private mutating func readString(build: Bool, into text: inout String) throws(RawSyncPage.Malformed) -> Range<Int>? {
        try expect(UInt8(ascii: "\""))
        var scalars = String.UnicodeScalarView()
        var plainStart = offset
        var plain = true
        while true {
            skipPlainRun()
            guard offset < bytes.count else { throw malformed("unterminated string") }
            let byte = bytes[offset]
            if byte == UInt8(ascii: "\"") {
                if plain {
                    let range = plainStart..<offset
                    offset += 1
                    return range
                }
                if build {
                    scalars.append(contentsOf: String(decoding: bytes[plainStart..<offset], as: UTF8.self).unicodeScalars)
                    text = String(scalars)
                }
                offset += 1
                return nil
            }
            if byte < 0x20 { throw malformed("control character in a string") }
            if byte == UInt8(ascii: "\\") {
                plain = false
                if build { scalars.append(contentsOf: String(decoding: bytes[plainStart..<offset], as: UTF8.self).unicodeScalars) }
                offset += 1
                guard offset < bytes.count else { throw malformed("unterminated escape") }
                let escaped = bytes[offset]
                offset += 1
                switch escaped {
                case UInt8(ascii: "\""): scalars.append("\"")
                case UInt8(ascii: "\\"): scalars.append("\\")
                case UInt8(ascii: "/"): scalars.append("/")
                case UInt8(ascii: "b"): scalars.append("\u{08}")
                case UInt8(ascii: "f"): scalars.append("\u{0C}")
                case UInt8(ascii: "n"): scalars.append("\n")
                case UInt8(ascii: "r"): scalars.append("\r")
                case UInt8(ascii: "t"): scalars.append("\t")
                case UInt8(ascii: "u"):
                    var code = try hex4()
                    if (0xD800...0xDBFF).contains(code), offset + 1 < bytes.count, bytes[offset] == UInt8(ascii: "\\"),
                        bytes[offset + 1] == UInt8(ascii: "u")
                    {
                        offset += 2
                        let low = try hex4()
                        guard (0xDC00...0xDFFF).contains(low) else { throw malformed("unpaired surrogate") }
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    }
                    guard let scalar = UnicodeScalar(code) else { throw malformed("unpaired surrogate") }
                    scalars.append(scalar)
                default: throw malformed("unknown escape")
                }
                plainStart = offset
                continue
            }
            offset += 1
        }
    }

    private mutating func hex4() throws(RawSyncPage.Malformed) -> UInt32 {
        guard offset + 4 <= bytes.count else { throw malformed("short \\u escape") }
        var value: UInt32 = 0
        for byte in bytes[offset..<offset + 4] {
            let digit: UInt32
            switch byte {
            case 0x30...0x39: digit = UInt32(byte - 0x30)
            case 0x41...0x46: digit = UInt32(byte - 0x41 + 10)
            case 0x61...0x66: digit = UInt32(byte - 0x61 + 10)
            default: throw malformed("bad \\u escape")
            }
            value = value << 4 | digit
        }
        offset += 4
        return value
    }

    mutating func bool() throws(RawSyncPage.Malformed) -> Bool {
        if peek() == UInt8(ascii: "t") {
            try literal("true")
            return true
        }
        try literal("false")
        return false
    }

    /// A JSON number that is a whole number fitting in 64 bits.
    mutating func integer() throws(RawSyncPage.Malformed) -> Int64 {
        skipWhitespace()
        let start = offset
        try skipNumber()
        guard let value = Int64(String(decoding: bytes[start..<offset], as: UTF8.self)) else {
            throw malformed("not a whole number in range")
        }
        return value
    }

    private mutating func literal(_ word: StaticString) throws(RawSyncPage.Malformed) {
        skipWhitespace()
        let count = word.utf8CodeUnitCount
        guard offset + count <= bytes.count else { throw malformed("unexpected end") }
        let matches = word.withUTF8Buffer { expected in bytes[offset..<offset + count].elementsEqual(expected) }
        guard matches else { throw malformed("unexpected value") }
        offset += count
    }

    private mutating func skipNumber() throws(RawSyncPage.Malformed) {
        if offset < bytes.count, bytes[offset] == UInt8(ascii: "-") { offset += 1 }
        let digits = offset
        while offset < bytes.count, (0x30...0x39).contains(bytes[offset]) { offset += 1 }
        guard offset > digits else { throw malformed("expected a number") }
        if offset < bytes.count, bytes[offset] == UInt8(ascii: ".") {
            offset += 1
            let fraction = offset
            while offset < bytes.count, (0x30...0x39).contains(bytes[offset]) { offset += 1 }
            guard offset > fraction else { throw malformed("expected digits after '.'") }
        }
        if offset < bytes.count, bytes[offset] == UInt8(ascii: "e") || bytes[offset] == UInt8(ascii: "E") {
            offset += 1
            if offset < bytes.count, bytes[offset] == UInt8(ascii: "+") || bytes[offset] == UInt8(ascii: "-") { offset += 1 }
            let exponent = offset
            while offset < bytes.count, (0x30...0x39).contains(bytes[offset]) { offset += 1 }
            guard offset > exponent else { throw malformed("expected digits in the exponent") }
        }
    }

    /// Skips any JSON value, nesting bounded by `maximumDepth`, without recursion.
    mutating func skipValue() throws(RawSyncPage.Malformed) {
        var open: [UInt8] = []
        while true {
            guard let byte = peek() else { throw malformed("unexpected end") }
            switch byte {
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                offset += 1
                let close = byte == UInt8(ascii: "{") ? UInt8(ascii: "}") : UInt8(ascii: "]")
                if peek() == close {
                    offset += 1
                } else {
                    open.append(byte)
                    guard open.count <= Self.maximumDepth else { throw malformed("nested too deep") }
                    if byte == UInt8(ascii: "{") {
                        _ = try readString()
                        try expect(UInt8(ascii: ":"))
                    }
                    continue
                }
            case UInt8(ascii: "\""): _ = try readString()
            case UInt8(ascii: "t"): try literal("true")
            case UInt8(ascii: "f"): try literal("false")
            case UInt8(ascii: "n"): try literal("null")
            default: try skipNumber()
            }
            // A value is complete: close what closes here, or go on to the next element.
            while true {
                guard let container = open.last else { return }
                guard let next = peek() else { throw malformed("unexpected end") }
                if next == UInt8(ascii: ",") {
                    offset += 1
                    if container == UInt8(ascii: "{") {
                        _ = try readString()
                        try expect(UInt8(ascii: ":"))
                    }
                    break
                }
                let close = container == UInt8(ascii: "{") ? UInt8(ascii: "}") : UInt8(ascii: "]")
                guard next == close else { throw malformed("expected ',' or a closing bracket") }
                offset += 1
                open.removeLast()
            }
        }
    }
}
