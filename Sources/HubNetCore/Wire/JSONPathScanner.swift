/// One pass over a JSON text's bytes with an explicit stack (no recursion, so depth cannot exhaust
/// the stack), tracking where it is: which key of which object, which item of which array. Behind
/// `JSONDuplicateKeys` (the first repeated key) and `JSONNumbers` (every number and its path). Input
/// that is not JSON is left for the decoder to refuse.
struct JSONPathScanner {
    /// One open object or array; its path is built only when asked for (building it for every
    /// container would cost the square of the nesting depth).
    enum Container {
        case object(keys: Set<[UInt8]>, current: String?)
        case array(index: Int)
    }

    let bytes: [UInt8]
    var index = 0
    var stack: [Container] = []
    /// When not `nil`, `run` notes numbers: each one's path, where its literal lies in `bytes`, and
    /// whether it looks like one a decoder may refuse (`JSONNumbers.isSuspicious`); at most
    /// `numberLimit` of each kind, so that a body of many deeply nested numbers builds few paths.
    var numbers: [(path: String, range: Range<Int>, suspicious: Bool)]?
    let numberLimit: Int
    private var noted = (suspicious: 0, plain: 0)

    init(_ bytes: [UInt8], collectingNumbers: Bool = false, numberLimit: Int = .max) {
        self.bytes = bytes
        self.numberLimit = numberLimit
        if collectingNumbers { numbers = [] }
    }

    /// The path of the value the scan is at: the innermost object's current key or array's item.
    func currentPath() -> String {
        var path = ""
        for container in stack {
            switch container {
            case .object(_, let current?): path += path.isEmpty ? current : ".\(current)"
            case .object(_, nil): break
            case .array(let index): path += "[\(index)]"
            }
        }
        return path
    }

    /// The path of the innermost container's current member, and `key` within it.
    func path(adding key: String) -> String {
        var path = ""
        for container in stack.dropLast() {
            switch container {
            case .object(_, let current?): path += path.isEmpty ? current : ".\(current)"
            case .object(_, nil): break
            case .array(let index): path += "[\(index)]"
            }
        }
        return path.isEmpty ? key : "\(path).\(key)"
    }

    mutating func run() -> String? {
        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "{"):
                stack.append(.object(keys: [], current: nil))
                index += 1
                // A key follows (or the object ends).
                if let duplicate = readKeyIfAny() { return duplicate }
            case UInt8(ascii: "["):
                stack.append(.array(index: 0))
                index += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                if !stack.isEmpty { stack.removeLast() }
                index += 1
            case UInt8(ascii: ","):
                index += 1
                switch stack.last {
                case .object:
                    if let duplicate = readKeyIfAny() { return duplicate }
                case .array(let position):
                    stack[stack.count - 1] = .array(index: position + 1)
                case nil: break
                }
            case UInt8(ascii: "\""):
                // A string value: skip it.
                guard readString() != nil else { return nil }
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                // Outside a string, a number (keys are strings).
                let start = index
                while index < bytes.count, Self.numberBytes.contains(bytes[index]) { index += 1 }
                if numbers != nil {
                    let suspicious = JSONNumbers.isSuspicious(bytes[start..<index])
                    if suspicious ? noted.suspicious < numberLimit : noted.plain < numberLimit {
                        if suspicious { noted.suspicious += 1 } else { noted.plain += 1 }
                        let path = currentPath()
                        numbers?.append((path, start..<index, suspicious))
                    }
                }
            default:
                index += 1
            }
        }
        return nil
    }

    /// After `{` or `,` in an object: reads `"key"` and its colon, records the key, and returns
    /// the path when the object already had it.
    mutating func readKeyIfAny() -> String? {
        skipWhitespace()
        guard index < bytes.count, bytes[index] == UInt8(ascii: "\""),
            case .object(var keys, _) = stack.last
        else { return nil }
        guard let key = readString() else { return nil }
        let name = String(decoding: key, as: UTF8.self)
        if !keys.insert(key).inserted { return path(adding: name) }
        stack[stack.count - 1] = .object(keys: keys, current: name)
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: ":") { index += 1 }
        return nil
    }

    /// Four hex digits after `\\u`.
    mutating func readHex() -> UInt16? {
        guard index + 4 <= bytes.count, let unit = UInt16(String(decoding: bytes[index..<index + 4], as: UTF8.self), radix: 16)
        else { return nil }
        index += 4
        return unit
    }

    /// The bytes a JSON number literal is made of.
    static let numberBytes = Set("0123456789+-.eE".utf8)

    mutating func skipWhitespace() {
        while index < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[index]) { index += 1 }
    }

    /// Reads a string starting at its opening quote; returns its bytes with escapes decoded, or
    /// `nil` when the input ends first.
    mutating func readString() -> [UInt8]? {
        index += 1
        var value: [UInt8] = []
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                index += 1
                return value
            }
            if byte == UInt8(ascii: "\\") {
                guard index + 1 < bytes.count else { return nil }
                let escaped = bytes[index + 1]
                index += 2
                switch escaped {
                case UInt8(ascii: "b"): value.append(0x08)
                case UInt8(ascii: "f"): value.append(0x0C)
                case UInt8(ascii: "n"): value.append(0x0A)
                case UInt8(ascii: "r"): value.append(0x0D)
                case UInt8(ascii: "t"): value.append(0x09)
                case UInt8(ascii: "u"):
                    guard let unit = readHex() else { return nil }
                    var units = [unit]
                    // A surrogate pair spelled as two escapes is one character.
                    if (0xD800...0xDBFF).contains(unit), index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"),
                        bytes[index + 1] == UInt8(ascii: "u")
                    {
                        index += 2
                        guard let low = readHex() else { return nil }
                        units.append(low)
                    }
                    value.append(contentsOf: Array(String(decoding: units, as: UTF16.self).utf8))
                default: value.append(escaped)
                }
                continue
            }
            value.append(byte)
            index += 1
        }
        return nil
    }
}
