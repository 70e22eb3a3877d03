import Foundation

/// Trims `text` and checks it holds 1…`maxScalars` Unicode scalars (what PostgreSQL's `length` counts).
public func validText(_ text: String, maxScalars: Int) throws(Rejection) -> String {
    let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
    guard !trimmed.isEmpty, trimmed.unicodeScalars.count <= maxScalars else { throw .textFieldInvalid }
    return trimmed
}

/// Optional free text: empty is fine, too long is not.
public func validOptionalText(_ text: String?, maxScalars: Int = 500) throws(Rejection) -> String {
    let trimmed = (text ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
    guard trimmed.unicodeScalars.count <= maxScalars else { throw .textFieldInvalid }
    return trimmed
}
