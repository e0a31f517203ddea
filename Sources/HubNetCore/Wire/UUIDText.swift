import Foundation

/// UUIDs as text, written and read with a table instead of Foundation's formatted I/O (which goes
/// through `sprintf` and `sscanf` on Linux and was a tenth of a device's first sync). The forms are
/// the canonical ones: `8-4-4-4-12` hexadecimal digits, written lowercase, read in either case.
public enum UUIDText {
    private static let digits: [UInt8] = Array("0123456789abcdef".utf8)

    /// The lowercase canonical form, as `uuid.uuidString.lowercased()` writes it.
    public static func lowercase(_ uuid: UUID) -> String {
        let bytes = uuid.uuid
        return String(unsafeUninitializedCapacity: 36) { buffer in
            var out = 0
            withUnsafeBytes(of: bytes) { raw in
                for (index, byte) in raw.enumerated() {
                    if index == 4 || index == 6 || index == 8 || index == 10 {
                        buffer[out] = UInt8(ascii: "-")
                        out += 1
                    }
                    buffer[out] = digits[Int(byte >> 4)]
                    buffer[out + 1] = digits[Int(byte & 0x0F)]
                    out += 2
                }
            }
            return out
        }
    }

    /// The UUID written in `text` in the canonical form (either case); `nil` for anything else.
    public static func parse(_ text: String) -> UUID? {
        var text = text
        return text.withUTF8 { parse($0) }
    }

    /// The UUID written in these bytes in the canonical form (either case); `nil` for anything else.
    public static func parse<Bytes: Collection<UInt8>>(_ text: Bytes) -> UUID? {
        guard text.count == 36 else { return nil }
        var value: uuid_t = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        let complete = withUnsafeMutableBytes(of: &value) { out -> Bool in
            var high: UInt8? = nil
            var filled = 0
            for (position, byte) in text.enumerated() {
                if position == 8 || position == 13 || position == 18 || position == 23 {
                    guard byte == UInt8(ascii: "-") else { return false }
                    continue
                }
                let nibble: UInt8
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): nibble = byte &- UInt8(ascii: "0")
                case UInt8(ascii: "a")...UInt8(ascii: "f"): nibble = byte &- UInt8(ascii: "a") &+ 10
                case UInt8(ascii: "A")...UInt8(ascii: "F"): nibble = byte &- UInt8(ascii: "A") &+ 10
                default: return false
                }
                if let first = high {
                    out[filled] = first << 4 | nibble
                    filled += 1
                    high = nil
                } else {
                    high = nibble
                }
            }
            return filled == 16
        }
        return complete ? UUID(uuid: value) : nil
    }
}
