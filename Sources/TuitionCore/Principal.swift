import Foundation

/// Who a bearer token acts for. The role follows from the entity.
public enum PrincipalEntity: Hashable, Sendable {
    case regulator(DistrictCode)
    case institution(Institution.ID)
    case guardian(Guardian.ID)
    case insurer(Insurer.ID)

    /// The district code or entity id, as the API and CLI show it.
    public var entityId: String {
        switch self {
        case .regulator(let code): code.value
        case .institution(let id): id.description
        case .guardian(let id): id.description
        case .insurer(let id): id.description
        }
    }

    public var role: Role {
        switch self {
        case .regulator: .regulator
        case .institution: .institution
        case .guardian: .guardian
        case .insurer: .insurer
        }
    }
}

public enum Role: String, Sendable, Codable, CaseIterable {
    case regulator, institution, guardian, insurer
}

public struct Principal: Hashable, Sendable {
    public let id: UUID
    public let entity: PrincipalEntity

    public init(id: UUID, entity: PrincipalEntity) {
        self.id = id
        self.entity = entity
    }

    public var role: Role { entity.role }
}

extension PrincipalEntity {
    /// Whom an `Idempotency-Key` belongs to: the entity, not one of its tokens, so two tokens of one institution
    /// sending the same key and body replay rather than move money twice (`role:entity`, as sql/0010 spells it).
    public var idempotencyOwner: String { "\(role.rawValue):\(entityId)" }
}
