import Foundation
import NIOCore
import HubNetCore
import SwiftCSV

/// Reads an uploaded CSV file into named cells, with header names normalised to the import's
/// column names ("Target Amount" → `target_amount`).
enum LeadCSV {
    /// Parses the uploaded bytes, which must be UTF-8: a file in another encoding is refused rather
    /// than imported with replacement characters in its names.
    static func parse(_ bytes: ByteBuffer) throws -> (header: [String], rows: [[String: String]]) {
        let data = Array(bytes.readableBytesView)
        guard let text = String(validating: data, as: UTF8.self) else {
            // The line of the first byte that is not UTF-8, found in one pass.
            var parser = Unicode.UTF8.ForwardParser()
            var iterator = data.makeIterator()
            var line = 1
            scan: while true {
                switch parser.parseScalar(from: &iterator) {
                case .valid(let scalar): if scalar.count == 1 && scalar.first == 0x0A { line += 1 }
                case .error, .emptyInput: break scan
                }
            }
            throw DomainError(
                kind: .invalid, code: "invalid_encoding", message: "file: line \(line) is not valid UTF-8; save the file as UTF-8",
                field: "file")
        }
        return try parse(text)
    }

    static func parse(_ text: String) throws -> (header: [String], rows: [[String: String]]) {
        guard !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw DomainError.invalid("file", "the file is empty")
        }
        let csv: CSV<Named>
        do {
            csv = try CSV<Named>(string: text, delimiter: .comma)
        } catch {
            throw DomainError.invalid("file", "the file is not valid CSV (check the quotes)")
        }
        func normalise(_ name: String) -> String {
            name.trimmingCharacters(in: .whitespaces).lowercased().replacingOccurrences(of: " ", with: "_")
        }
        let header = csv.header.map(normalise)
        var seen = Set<String>()
        if let repeated = header.first(where: { !seen.insert($0).inserted }) {
            throw DomainError.invalid("file", "the column \(repeated) appears twice in the header")
        }
        let rows = csv.rows.map { row in
            Dictionary(row.map { (normalise($0.key), $0.value) }, uniquingKeysWith: { first, _ in first })
        }
        return (header, rows)
    }
}
