import Foundation

public enum Contract { public typealias ID = Identifier<Contract> }

/// A contract's life: the institution signs first, the guardian countersigns; an unsigned or half-signed
/// contract may be voided (replaced by a new rendering), a signed one never changes.
public enum ContractStatus: String, Sendable, Codable, CaseIterable {
    case draft
    case institutionSigned = "institution_signed"
    case signed
    case void
}

/// Who signs a contract, in signing order.
public enum ContractSigner: String, Sendable, Codable, CaseIterable {
    case institution, guardian

    /// The signature's position in the document: the institution's is first, the countersignature second.
    public var position: Int { self == .institution ? 0 : 1 }
    /// The status a contract must have for this party to sign it.
    public var awaits: ContractStatus { self == .institution ? .draft : .institutionSigned }
    /// The status after this party has signed.
    public var result: ContractStatus { self == .institution ? .institutionSigned : .signed }
}

/// Whether `signer` may sign a contract in `status` for an institution in `institution` status.
public func checkSignature(_ signer: ContractSigner, status: ContractStatus, institution: InstitutionStatus) -> Rejection? {
    guard institution.isOperating else { return .institutionNotOperating }
    guard status == signer.awaits else { return status == .signed ? .contractAlreadySigned : .contractNotAwaitingSignature }
    return nil
}

/// Whether a new contract may be generated for an enrollment whose live contract (if any) is in `existing`.
public func checkContractGeneration(existing: ContractStatus?, institution: InstitutionStatus, enrollmentPaid: Bool) -> Rejection? {
    guard institution.isOperating else { return .institutionNotOperating }
    guard existing != .signed, !enrollmentPaid else { return .contractAlreadySigned }
    return nil
}

/// A resident identity number as contracts record it: the first six digits (the issuing region) and the last
/// four kept, the eight in between (the birth date) hidden. Accepts an 18-character number, or one masked
/// already; anything else is nil, so a full number never reaches storage.
public func maskIdentityNumber(_ text: String) -> String? {
    let characters = Array(text.uppercased())
    guard characters.count == 18 else { return nil }
    let head = characters[0..<6]
    let tail = characters[14..<18]
    let middle = characters[6..<14]
    guard head.allSatisfy(\.isASCIIDigit), tail.dropLast().allSatisfy(\.isASCIIDigit), tail.last!.isASCIIDigit || tail.last == "X",
        middle.allSatisfy({ $0.isASCIIDigit || $0 == "*" })
    else { return nil }
    return String(head) + String(repeating: "*", count: 8) + String(tail)
}

extension Character {
    fileprivate var isASCIIDigit: Bool { isASCII && isNumber }
}
