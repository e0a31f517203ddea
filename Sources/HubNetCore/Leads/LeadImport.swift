import Foundation

/// Turns the rows of a lead import (a CSV file, already split into named cells) into validated
/// leads, or a list of every row's errors: an import is all or nothing.
public enum LeadImport {
    /// The contact's columns, every descriptive field's (`LeadTextField.all`), and the figures and dates.
    public static let columns = Set(
        ["name", "email", "phone", "city", "region"] + LeadTextField.all.map(\.key)
            + ["probability", "target_amount", "expected_completion_at", "expires_at"])
    public static let maximumRows = 10_000

    public struct Row: Sendable, Equatable {
        public var details: LeadDetails
        public var expectedCompletionAt: Date?
        public var expiresAt: Date?
    }

    /// One problem, located as a spreadsheet shows it: the header is row 1, data starts at row 2.
    public struct RowError: Sendable, Equatable, Codable {
        public var row: Int
        public var field: String
        public var message: String
    }

    public static func validate(header: [String], rows: [[String: String]]) -> Result<[Row], ImportErrors> {
        if let unknown = header.first(where: { !columns.contains($0) }) {
            return .failure(ImportErrors(errors: [RowError(row: 1, field: unknown, message: "unknown column; expected some of \(columns.sorted().joined(separator: ", "))")]))
        }
        guard header.contains("name") else {
            return .failure(ImportErrors(errors: [RowError(row: 1, field: "name", message: "the name column is required")]))
        }
        guard rows.count <= maximumRows else {
            return .failure(ImportErrors(errors: [RowError(row: maximumRows + 2, field: "", message: "at most \(maximumRows) rows per import")]))
        }
        var valid: [Row] = []
        var errors: [RowError] = []
        for (index, cells) in rows.enumerated() {
            let rowNumber = index + 2
            func text(_ column: String) -> String? {
                guard let value = cells[column]?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return nil }
                return value
            }
            func date(_ column: String) -> Date?? {
                guard let value = text(column) else { return .some(nil) }
                guard let date = Timestamp.parseISO8601(value) else {
                    errors.append(RowError(row: rowNumber, field: column, message: "must be an ISO 8601 date-time"))
                    return nil
                }
                return .some(date)
            }
            var probability: Int?
            if let value = text("probability") {
                guard let number = Int(value) else {
                    errors.append(RowError(row: rowNumber, field: "probability", message: "must be a whole number"))
                    continue
                }
                probability = number
            }
            var amount: Decimal?
            if let value = text("target_amount") {
                guard let number = Decimal(string: value, locale: Locale(identifier: "en_US_POSIX")) else {
                    errors.append(RowError(row: rowNumber, field: "target_amount", message: "must be a number"))
                    continue
                }
                amount = number
            }
            guard let expected = date("expected_completion_at"), let expires = date("expires_at") else { continue }
            var details = LeadDetails(
                name: text("name") ?? "", email: text("email"), phone: text("phone"), city: text("city"),
                region: text("region"), probability: probability, targetAmount: amount)
            for field in LeadTextField.all { details.texts[field] = text(field.key) }
            do {
                valid.append(Row(details: try details.validated(), expectedCompletionAt: expected, expiresAt: expires))
            } catch {
                errors.append(RowError(row: rowNumber, field: error.field ?? "", message: error.message))
            }
        }
        return errors.isEmpty ? .success(valid) : .failure(ImportErrors(errors: errors))
    }

    public struct ImportErrors: Error, Sendable, Equatable {
        public var errors: [RowError]
    }
}
