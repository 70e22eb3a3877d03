import Foundation
import TuitionCore

extension Money {
    /// A SQL sum of fen. PostgreSQL sums `bigint` as `numeric`, exact at any size; the figure leaves SQL as that and
    /// converts here with a check, never with a `::bigint` cast that fails the query or a Swift sum that traps.
    init(summed value: Decimal) throws(Rejection) {
        guard let fen = Int64(value.description) else { throw .amountTooLarge }
        self.init(fen: fen)
    }
}
