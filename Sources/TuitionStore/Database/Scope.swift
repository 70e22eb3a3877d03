import Foundation
import TuitionCore

/// What a principal may see, as the one id its role acts for; the others are nil and match no row.
/// Queries compare every owner column with these binds, so a foreign row is simply not found.
public struct Scope: Sendable, Hashable {
    public let district: String?
    public let institution: UUID?
    public let guardian: UUID?
    public let insurer: UUID?

    public init(_ principal: Principal) { self.init(principal.entity) }

    /// What `entity` sees, for a use case acting for it.
    public init(_ entity: PrincipalEntity) {
        switch entity {
        case .regulator(let code): self.init(district: code.value)
        case .institution(let id): self.init(institution: id.uuid)
        case .guardian(let id): self.init(guardian: id.uuid)
        case .insurer(let id): self.init(insurer: id.uuid)
        }
    }

    init(district: String? = nil, institution: UUID? = nil, guardian: UUID? = nil, insurer: UUID? = nil) {
        self.district = district
        self.institution = institution
        self.guardian = guardian
        self.insurer = insurer
    }
}
