/// Trimming for the hot paths (every field of every mutation, every bearer header), done on the
/// string's Unicode scalars in Swift instead of through Foundation's `CharacterSet`, which
/// profiling showed as the largest cost of deciding a push's edits. Each answers exactly what
/// Foundation's `trimmingCharacters(in:)` answers for its set; `WhitespaceTests` checks the sets
/// for every scalar and the results for generated strings.
extension String {
    /// `trimmingCharacters(in: .whitespacesAndNewlines)`.
    public func trimmingWhitespaceAndNewlines() -> String { trimming(where: Unicode.Scalar.inWhitespacesAndNewlines) }

    /// `trimmingCharacters(in: .whitespaces)`.
    public func trimmingWhitespace() -> String { trimming(where: Unicode.Scalar.inWhitespaces) }

    private func trimming(where isTrimmed: (Unicode.Scalar) -> Bool) -> String {
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { !isTrimmed($0) }), let last = scalars.lastIndex(where: { !isTrimmed($0) })
        else { return "" }
        return String(scalars[first...last])
    }
}

extension Substring {
    public func trimmingWhitespaceAndNewlines() -> String { String(self).trimmingWhitespaceAndNewlines() }
    public func trimmingWhitespace() -> String { String(self).trimmingWhitespace() }
}

extension Unicode.Scalar {
    /// In Foundation's `CharacterSet.whitespacesAndNewlines`: Unicode's White_Space property, and
    /// the zero-width space (U+200B), which Foundation counts as a space though Unicode does not.
    public static func inWhitespacesAndNewlines(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value == 0x20 || (scalar.value >= 0x09 && scalar.value <= 0x0D)
            || (scalar.value >= 0x80 && (scalar.value == 0x200B || scalar.properties.isWhitespace))
    }

    /// In Foundation's `CharacterSet.whitespaces`: the space separators, the tab and the
    /// zero-width space.
    public static func inWhitespaces(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value == 0x20 || scalar.value == 0x09
            || (scalar.value >= 0x80 && (scalar.value == 0x200B || scalar.properties.generalCategory == .spaceSeparator))
    }
}
