import Foundation

/// What text from outside may hold. NUL breaks PostgreSQL and libxml2, other control characters and bidirectional
/// overrides forge what people read (a name that displays reversed, a hidden line); free text keeps line feed and tab.
public enum TextRule: Sendable {
    /// Names, numbers, codes: one line.
    case singleLine
    /// Reasons, notes, answers: line feeds and tabs allowed.
    case freeText

    /// The first scalar `text` may not hold under this rule, if any.
    public func forbiddenScalar(in text: some StringProtocol) -> Unicode.Scalar? {
        text.unicodeScalars.first { !allows($0) }
    }

    public func allows(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x09, 0x0A: return self == .freeText
        case 0x00...0x1F, 0x7F...0x9F: return false  // C0 and C1 controls, DEL
        case 0x202A...0x202E, 0x2066...0x2069: return false  // bidirectional embeddings, overrides and isolates
        case 0x2028, 0x2029: return false  // line and paragraph separators
        default: return true
        }
    }
}

/// Trims `text` and checks it holds 1…`maxScalars` Unicode scalars (what PostgreSQL's `length` counts) on one line.
public func validText(_ text: String, maxScalars: Int) throws(Rejection) -> String {
    let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
    guard !trimmed.isEmpty, trimmed.unicodeScalars.count <= maxScalars else { throw .textFieldInvalid }
    guard TextRule.singleLine.forbiddenScalar(in: trimmed) == nil else { throw .textHasForbiddenCharacters }
    return trimmed
}

/// Optional free text: empty is fine, too long is not; line feeds and tabs are kept.
public func validOptionalText(_ text: String?, maxScalars: Int = 500) throws(Rejection) -> String {
    let trimmed = (text ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
    guard trimmed.unicodeScalars.count <= maxScalars else { throw .textFieldInvalid }
    guard TextRule.freeText.forbiddenScalar(in: trimmed) == nil else { throw .textHasForbiddenCharacters }
    return trimmed
}

/// Required free text (a dispute's or a rejection's reason): 1…`maxScalars` scalars, line feeds and tabs kept.
public func validFreeText(_ text: String, maxScalars: Int) throws(Rejection) -> String {
    let trimmed = try validOptionalText(text, maxScalars: maxScalars)
    guard !trimmed.isEmpty else { throw .textFieldInvalid }
    return trimmed
}

/// Optional one-line text (an address, a phone number, a school): empty is fine; no line breaks or tabs.
public func validOptionalLine(_ text: String?, maxScalars: Int) throws(Rejection) -> String {
    let trimmed = try validOptionalText(text, maxScalars: maxScalars)
    guard TextRule.singleLine.forbiddenScalar(in: trimmed) == nil else { throw .textHasForbiddenCharacters }
    return trimmed
}

extension StringProtocol {
    /// Only the ASCII digits 0–9 (and not empty): what a date part, an index or a size from outside may be. `Int` and
    /// `Int64` alone also take a sign (`+5`, `-0`), which the database or a cursor reads otherwise.
    public var isASCIIDigits: Bool {
        !isEmpty && utf8.allSatisfy { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }
    }
}
