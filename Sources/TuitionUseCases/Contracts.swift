import ContractKit
import Foundation
import TuitionCore
import TuitionStore
import TuitionWire

/// The contract use cases: issuing an enrollment's contract from a template (`IssueContract.swift`), the two
/// signatures (`SignContract.swift`) and public verification (`VerifyContract.swift`). Each opens its transaction,
/// reads through the store, calls ContractKit, and writes through the store; reading is the store's.
public struct Contracts: Sendable {
    let store: Store
    let setup: ContractSetup?
    var rows: ContractRepository { ContractRepository(store: store) }
    var certificates: Certificates { Certificates(store: store, opened: opened) }
    let verifiers = AnchorVerifiers()
    /// The signers' and the TSA's keys, opened once for the life of this value (one key-encryption key: the setup's).
    let opened = OpenedKeys()

    /// Without a setup, reading works and generating or signing throws `ContractsNotConfigured`.
    public init(store: Store, setup: ContractSetup?) {
        self.store = store
        self.setup = setup
    }

    func requireSetup() throws -> ContractSetup {
        guard let setup else { throw ContractsNotConfigured() }
        return setup
    }

    // MARK: Reading

    public func contract(_ id: Contract.ID, scope: Scope) async throws -> ContractRecord? {
        try await rows.contract(id, scope: scope)
    }

    /// The enrollment's live contract (the latest if all are void).
    public func contract(ofEnrollment id: Enrollment.ID, scope: Scope) async throws -> ContractRecord? {
        try await rows.contract(ofEnrollment: id, scope: scope)
    }

    /// The contract's XML document as stored (signed as far as it is).
    public func document(_ id: Contract.ID, scope: Scope) async throws -> [UInt8]? {
        try await rows.document(id, scope: scope)
    }
}
