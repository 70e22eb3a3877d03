import ContractKit
import Foundation
import TuitionCore
import TuitionStore
import TuitionUseCases
import TuitionWire

/// Contracts for tests: the real templates, one key-encryption key per test process, and a helper that has both
/// parties sign an enrollment's contract, so payments in tests go through the same rule as in production.
public enum TestContracts {
    public static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    public static let keyEncryptionKey = KeyEncryptionKey.generate()
    public static let templates: TemplateLibrary = {
        do {
            return try TemplateLibrary.load(root: repositoryRoot.appendingPathComponent("contract-templates"))
        } catch {
            fatalError("contract templates: \(error)")
        }
    }()
    public static var setup: ContractSetup { ContractSetup(templates: templates, keyEncryptionKey: keyEncryptionKey) }

    /// A contract repository on `store`, whose platform CA exists (made on first use).
    public static func repository(_ store: Store) async throws -> Contracts {
        _ = try await Certificates(store: store).initializeAuthority(kek: keyEncryptionKey)
        return Contracts(store: store, setup: setup)
    }

    /// Generates the enrollment's contract; the institution signs, the guardian countersigns.
    @discardableResult
    public static func sign(_ store: Store, _ enrollment: EnrollmentRecord, algorithm: KeyAlgorithm = .ecdsaP256) async throws
        -> ContractRecord
    {
        let contracts = try await repository(store)
        let draft = try await contracts.generate(for: enrollment.id, institution: enrollment.institutionId)
        _ = try await contracts.signAsInstitution(draft.id, institution: enrollment.institutionId, algorithm: algorithm)
        return try await contracts.countersign(draft.id, guardian: enrollment.guardianId, algorithm: algorithm)
    }
}
