/// An exact amount of renminbi in fen (1 yuan = 100 fen). Money never touches floating point.
public struct Money: Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    public let fen: Int64

    public init(fen: Int64) { self.fen = fen }

    public static func yuan(_ yuan: Int64) -> Money { Money(fen: yuan * 100) }
    public static let zero = Money(fen: 0)

    public init(from decoder: Decoder) throws {
        self.fen = try decoder.singleValueContainer().decode(Int64.self)
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(fen)
    }

    public static func < (lhs: Money, rhs: Money) -> Bool { lhs.fen < rhs.fen }

    public var isPositive: Bool { fen > 0 }

    /// `nil` when the sum would not fit in 64 bits.
    public func adding(_ other: Money) -> Money? {
        let (sum, overflow) = fen.addingReportingOverflow(other.fen)
        return overflow ? nil : Money(fen: sum)
    }

    public func subtracting(_ other: Money) -> Money? {
        let (difference, overflow) = fen.subtractingReportingOverflow(other.fen)
        return overflow ? nil : Money(fen: difference)
    }

    /// `nil` when the product would not fit in 64 bits.
    public func times(_ count: Int) -> Money? {
        let (product, overflow) = fen.multipliedReportingOverflow(by: Int64(count))
        return overflow ? nil : Money(fen: product)
    }

    /// The sum, or `amountTooLarge` when it would not fit in 64 bits: a sum of values from a request or the database
    /// never traps.
    public func plus(_ other: Money) throws(Rejection) -> Money {
        guard let sum = adding(other) else { throw .amountTooLarge }
        return sum
    }

    public func minus(_ other: Money) throws(Rejection) -> Money {
        guard let difference = subtracting(other) else { throw .amountTooLarge }
        return difference
    }

    /// `self` × `count`, or `amountTooLarge` when the product would not fit in 64 bits.
    public func multiplied(by count: Int) throws(Rejection) -> Money {
        guard let product = times(count) else { throw .amountTooLarge }
        return product
    }

    /// The sum of `parts`, or `amountTooLarge` on overflow.
    public static func sum(_ parts: some Sequence<Money>) throws(Rejection) -> Money {
        var total = Money.zero
        for part in parts { total = try total.plus(part) }
        return total
    }

    /// "¥1,234.56"-style text for people; APIs carry `fen`.
    public var description: String {
        let sign = fen < 0 ? "-" : ""
        let magnitude = fen.magnitude
        let cents = magnitude % 100
        return "\(sign)¥\(magnitude / 100).\(cents < 10 ? "0" : "")\(cents)"
    }
}

extension Money {
    /// Splits `self` into parts proportional to `weights` with the largest-remainder method,
    /// so the parts always add up to exactly `self`. Zero total weight gives all-zero parts.
    public func allocated(proportionalTo weights: [Int64]) -> [Money] {
        precondition(fen >= 0 && weights.allSatisfy { $0 >= 0 }, "allocation needs non-negative amounts")
        let totalWeight = weights.reduce(into: Int64(0)) { $0 += $1 }
        guard totalWeight > 0 else { return weights.map { _ in .zero } }
        var parts: [Int64] = []
        var remainders: [(index: Int, remainder: Int64)] = []
        for (index, weight) in weights.enumerated() {
            // 128-bit intermediate: fen × weight can exceed Int64 for large ledgers.
            let product = fen.multipliedFullWidth(by: weight)
            let (quotient, remainder) = totalWeight.dividingFullWidth(product)
            parts.append(quotient)
            remainders.append((index, remainder))
        }
        var leftover = fen - parts.reduce(0, +)
        for entry in remainders.sorted(by: { ($0.remainder, -$0.index) > ($1.remainder, -$1.index) }) where leftover > 0 {
            parts[entry.index] += 1
            leftover -= 1
        }
        return parts.map(Money.init(fen:))
    }
}
