import Foundation
import HTTPTypes

extension HTTPFields {
    /// The token of `Authorization: Bearer …`; the scheme is case-insensitive (RFC 9110 §11.1), so `bearer` works too.
    var bearerToken: String? {
        guard let authorization = self[.authorization] else { return nil }
        let parts = authorization.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
        let token = parts[1].trimmingCharacters(in: .whitespaces)
        return token.isEmpty ? nil : token
    }
}

/// Compares two secrets in time that depends only on their lengths, not on where they first differ.
func constantTimeEquals(_ lhs: String, _ rhs: String) -> Bool {
    let (left, right) = (Array(lhs.utf8), Array(rhs.utf8))
    guard left.count == right.count else { return false }
    var difference: UInt8 = 0
    for index in left.indices { difference |= left[index] ^ right[index] }
    return difference == 0
}
