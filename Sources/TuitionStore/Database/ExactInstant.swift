import Foundation
import NIOCore
import PostgresNIO
import TuitionCore

/// An instant bound as PostgreSQL keeps it, in whole microseconds, the nearest to the `Date`. PostgresNIO encodes a
/// `Date` by truncating a `Double`, which stores about a quarter of whole-millisecond instants (a regulator's
/// `…00.021Z`) one microsecond early; bound this way, the instant a person gave is the instant kept.
struct ExactInstant: PostgresNonThrowingEncodable {
    static var psqlType: PostgresDataType { .timestamptz }
    static var psqlFormat: PostgresFormat { .binary }

    /// PostgreSQL's epoch, 2000-01-01T00:00:00Z, in microseconds since 1970.
    private static let postgresEpochMicroseconds: Int64 = 946_684_800_000_000

    let microsecondsSince1970: Int64

    init(_ date: Date) { microsecondsSince1970 = wholeMicroseconds(since1970: date) }

    func encode<JSONEncoder: PostgresJSONEncoder>(into byteBuffer: inout ByteBuffer, context: PostgresEncodingContext<JSONEncoder>) {
        byteBuffer.writeInteger(microsecondsSince1970 - Self.postgresEpochMicroseconds)
    }
}
