/// What an institution's registration must carry so that every contract it later signs renders and validates:
/// the same rules as the contract template's XSD (`contract-templates/gf-2021-2604/v1/contract.xsd`), checked when the
/// regulator registers it rather than when a guardian is waiting for a contract.
public enum InstitutionRegistrationRule {
    /// `tg:text`: 1–200 characters on one line, no surrounding space.
    public static let textMaxScalars = 200

    /// 统一社会信用代码 (GB 32100-2015) as `tg:creditCode` types it: 18 characters, two of `[0-9A-HJ-NPQRTUWXY]`,
    /// six digits, ten of `[0-9A-HJ-NPQRTUWXY]` (no I, O, S, V, Z).
    public static func isValidCreditCode(_ code: String) -> Bool {
        let scalars = Array(code.unicodeScalars)
        guard scalars.count == 18 else { return false }
        return scalars.enumerated().allSatisfy { index, scalar in
            (2..<8).contains(index) ? isDigit(scalar) : isCodeCharacter(scalar)
        }
    }

    static func isDigit(_ scalar: Unicode.Scalar) -> Bool { ("0"..."9").contains(scalar) }

    static func isCodeCharacter(_ scalar: Unicode.Scalar) -> Bool {
        isDigit(scalar) || (("A"..."Y").contains(scalar) && !"IOSV".unicodeScalars.contains(scalar))
    }

    /// The registration's text fields, trimmed and checked in order (first failure wins): each is one line, and every
    /// field a contract prints fits `tg:text`.
    public static func validText(
        licenceNumber: String, name: String, address: String?, creditCode: String?, supervisedBank: String?,
        supervisedAccountNumber: String?
    ) throws(Rejection) -> InstitutionText {
        InstitutionText(
            licenceNumber: try TuitionCore.validText(licenceNumber, maxScalars: 64),
            name: try TuitionCore.validText(name, maxScalars: textMaxScalars),
            address: try validOptionalLine(address, maxScalars: textMaxScalars),
            creditCode: try validOptionalLine(creditCode, maxScalars: 64),
            supervisedBank: try validOptionalLine(supervisedBank, maxScalars: textMaxScalars),
            supervisedAccountNumber: try validOptionalLine(supervisedAccountNumber, maxScalars: 64))
    }

    /// The contract's party A needs an address, a credit code and the licence's validity; the first one missing or
    /// malformed, in that order. Text has already been trimmed and checked by `validText`.
    public static func check(address: String, creditCode: String, licenceValidUntil: BusinessDate?) -> Rejection? {
        guard !address.isEmpty, !creditCode.isEmpty, licenceValidUntil != nil else { return .institutionDetailsMissing }
        guard isValidCreditCode(creditCode) else { return .creditCodeInvalid }
        return nil
    }
}

/// An institution's registration text, trimmed and checked.
public struct InstitutionText: Sendable, Hashable {
    public var licenceNumber: String
    public var name: String
    public var address: String
    public var creditCode: String
    public var supervisedBank: String
    public var supervisedAccountNumber: String
}
