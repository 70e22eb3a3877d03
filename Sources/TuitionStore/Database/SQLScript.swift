import Foundation

/// Splits a SQL script into statements at top-level semicolons, leaving semicolons inside quotes,
/// dollar-quoted bodies and comments alone. PostgresNIO's extended protocol takes one statement at a time.
public func splitSQLStatements(_ script: String) -> [String] {
    var statements: [String] = []
    var current = ""
    var characters = Array(script)[...]

    func take(_ count: Int) {
        current.append(contentsOf: characters.prefix(count))
        characters = characters.dropFirst(count)
    }
    func takeThrough(_ terminator: String) {
        let end = Array(terminator)
        while !characters.isEmpty && !characters.starts(with: end) { take(1) }
        take(end.count)
    }

    while let character = characters.first {
        if characters.starts(with: ["-", "-"]) {
            takeThrough("\n")
        } else if characters.starts(with: ["/", "*"]) {
            take(2)
            takeThrough("*/")
        } else if character == "'" || character == "\"" {
            take(1)
            takeThrough(String(character))
        } else if character == "$", let tag = dollarQuoteTag(characters) {
            take(tag.count)
            takeThrough(tag)
        } else if character == ";" {
            characters = characters.dropFirst()
            appendIfStatement(current, to: &statements)
            current = ""
        } else {
            take(1)
        }
    }
    appendIfStatement(current, to: &statements)
    return statements
}

/// `$tag$` or `$$` at the start of `text`, if it opens a dollar-quoted string.
private func dollarQuoteTag(_ text: ArraySlice<Character>) -> String? {
    var tag = "$"
    for character in text.dropFirst() {
        if character == "$" { return tag + "$" }
        guard character.isLetter || character == "_" || (character.isNumber && tag.count > 1) else { return nil }
        tag.append(character)
    }
    return nil
}

private func appendIfStatement(_ text: String, to statements: inout [String]) {
    let meaningful = text.split(separator: "\n").contains { line in
        let trimmed = line.trimmingCharacters(in: .whitespaces)
        return !trimmed.isEmpty && !trimmed.hasPrefix("--")
    }
    if meaningful { statements.append(text.trimmingCharacters(in: .whitespacesAndNewlines)) }
}
