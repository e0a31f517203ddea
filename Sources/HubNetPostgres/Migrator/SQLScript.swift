import Foundation

/// Splits a SQL script into single statements, because the extended query protocol runs one at a time.
///
/// Understands what can hide a `;`: single-quoted strings, quoted identifiers, dollar-quoted bodies
/// (`$$ … $$`, `$tag$ … $tag$`), line comments and nested block comments.
public enum SQLScript {
    public static func statements(in script: String) -> [String] {
        let chars = Array(script.unicodeScalars)
        var statements: [String] = []
        var current = String.UnicodeScalarView()
        var index = 0

        func flush() {
            let statement = String(current).trimmingCharacters(in: .whitespacesAndNewlines)
            if !statement.isEmpty && !isOnlyComments(statement) { statements.append(statement) }
            current = String.UnicodeScalarView()
        }

        while index < chars.count {
            let char = chars[index]
            let next: Unicode.Scalar? = index + 1 < chars.count ? chars[index + 1] : nil
            switch char {
            case "'", "\"":
                // Quoted text ends at the next unpaired quote; a doubled quote is an escaped one.
                var end = index + 1
                while end < chars.count {
                    if chars[end] == char {
                        if end + 1 < chars.count && chars[end + 1] == char { end += 2; continue }
                        break
                    }
                    end += 1
                }
                current.append(contentsOf: chars[index...min(end, chars.count - 1)])
                index = end + 1
            case "-" where next == "-":
                var end = index
                while end < chars.count && chars[end] != "\n" { end += 1 }
                current.append(contentsOf: chars[index..<end])
                index = end
            case "/" where next == "*":
                var depth = 0
                var end = index
                repeat {
                    if end + 1 < chars.count && chars[end] == "/" && chars[end + 1] == "*" { depth += 1; end += 2 }
                    else if end + 1 < chars.count && chars[end] == "*" && chars[end + 1] == "/" { depth -= 1; end += 2 }
                    else { end += 1 }
                } while depth > 0 && end < chars.count
                current.append(contentsOf: chars[index..<min(end, chars.count)])
                index = end
            case "$":
                if let tagEnd = dollarTagEnd(chars, from: index) {
                    let tag = Array(chars[index...tagEnd])
                    var end = tagEnd + 1
                    while end < chars.count {
                        if chars[end] == "$" && end + tag.count <= chars.count
                            && Array(chars[end..<end + tag.count]) == tag
                        { break }
                        end += 1
                    }
                    let close = min(end + tag.count, chars.count)
                    current.append(contentsOf: chars[index..<close])
                    index = close
                } else {
                    current.append(char)
                    index += 1
                }
            case ";":
                flush()
                index += 1
            default:
                current.append(char)
                index += 1
            }
        }
        flush()
        return statements
    }

    /// The index of the closing `$` of a dollar-quote tag starting at `start`, or `nil` when `$` is
    /// a positional parameter or part of an identifier.
    private static func dollarTagEnd(_ chars: [Unicode.Scalar], from start: Int) -> Int? {
        var end = start + 1
        while end < chars.count {
            let char = chars[end]
            if char == "$" { return end }
            let isTagChar = char == "_" || char.properties.isAlphabetic || (end > start + 1 && ("0"..."9").contains(char))
            if !isTagChar { return nil }
            end += 1
        }
        return nil
    }

    private static func isOnlyComments(_ statement: String) -> Bool {
        statement.split(separator: "\n").allSatisfy {
            let line = $0.trimmingCharacters(in: .whitespaces)
            return line.isEmpty || line.hasPrefix("--")
        }
    }
}
