import Foundation

/// A district education bureau's code (GB/T 2260), e.g. `330203` for Haishu, Ningbo.
public struct DistrictCode: Hashable, Sendable, Codable, CustomStringConvertible {
    public let value: String

    public init?(_ value: String) {
        guard value.count == 6, value.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        self.value = value
    }

    public init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let code = DistrictCode(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "expected a six-digit district code"))
        }
        self = code
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(value)
    }

    public var description: String { value }
}

public enum SupervisionMode: String, Sendable, Codable, CaseIterable {
    /// Every prepaid fen sits in the supervised account until its lesson is consumed.
    case escrow
    /// Prepaid tuition goes to operating; a reserve of `reserve_ratio` × unconsumed tuition is kept (or a risk policy held).
    case reserve
}

public enum InstitutionStatus: String, Sendable, Codable, CaseIterable {
    case active, warned, suspended, defunct, blacklisted

    /// Suspended, defunct and blacklisted institutions take no new enrollments, payments or lessons.
    public var isOperating: Bool { self == .active || self == .warned }
}

public enum CourseCategory: String, Sendable, Codable, CaseIterable {
    case academic
    case nonAcademic = "non_academic"
}

public enum Institution { public typealias ID = Identifier<Institution> }
public enum Course { public typealias ID = Identifier<Course> }
public enum Guardian { public typealias ID = Identifier<Guardian> }
public enum Student { public typealias ID = Identifier<Student> }
public enum Enrollment { public typealias ID = Identifier<Enrollment> }
public enum Lesson { public typealias ID = Identifier<Lesson> }
public enum Insurer { public typealias ID = Identifier<Insurer> }
public enum Refund { public typealias ID = Identifier<Refund> }

/// Validates a reserve ratio against the supervision mode: reserve mode needs 1–10,000 basis points, escrow mode none.
public func checkReserveRatio(mode: SupervisionMode, basisPoints: Int) -> Rejection? {
    switch mode {
    case .escrow: return basisPoints == 0 ? nil : .reserveRatioInvalid
    case .reserve: return (1...10_000).contains(basisPoints) ? nil : .reserveRatioInvalid
    }
}
