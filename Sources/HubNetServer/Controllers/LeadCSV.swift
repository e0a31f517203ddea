import Foundation
import HubNetCore
import SwiftCSV

/// Reads an uploaded CSV file into named cells, with header names normalised to the import's
/// column names ("Target Amount" → `target_amount`).
enum LeadCSV {
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
        let rows = csv.rows.map { row in
            Dictionary(row.map { (normalise($0.key), $0.value) }, uniquingKeysWith: { first, _ in first })
        }
        return (header, rows)
    }
}
