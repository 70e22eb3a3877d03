import NIOCore
import PostgresNIO
import Testing
import TuitionTestSupport

@testable import TuitionStore

/// `PostgresBinaryArray` reads the arrays a proof's one row carries: what PostgreSQL sends it reads exactly, and bytes
/// that are not an array of the expected type are an error, never a trap or a huge allocation.
@Suite struct PostgresBinaryArrayTests {
    struct Failed: Error {}

    @Test func itReadsWhatPostgreSQLSendsNullElementsAndEmptyAndNullArraysIncluded() async throws {
        try await TestDatabase.withStore("binaryarray") { store in
            let rows = try await store.query(
                "SELECT ARRAY['\\x01'::bytea, NULL, '\\x0203'], '{}'::bytea[], NULL::bytea[], ARRAY[-1, 0, 9223372036854775807]::bigint[]")
            var read = false
            for try await row in rows {
                let cells = row.makeRandomAccess()
                let hashes = try PostgresBinaryArray(cells[0], elementType: .bytea, orThrow: Failed()).bytes()
                #expect(hashes == [[1], nil, [2, 3]])
                #expect(try PostgresBinaryArray(cells[1], elementType: .bytea, orThrow: Failed()).bytes().isEmpty)
                #expect(try PostgresBinaryArray(cells[2], elementType: .bytea, orThrow: Failed()).bytes().isEmpty)
                let integers = try PostgresBinaryArray(cells[3], elementType: .int8, orThrow: Failed()).integers(orThrow: Failed())
                #expect(integers == [-1, 0, .max])
                // The right bytes read as the wrong element type are refused.
                #expect(throws: Failed.self) { try PostgresBinaryArray(cells[3], elementType: .bytea, orThrow: Failed()) }
                #expect(throws: Failed.self) {
                    try PostgresBinaryArray(cells[0], elementType: .bytea, orThrow: Failed()).integers(orThrow: Failed())
                }
                read = true
            }
            #expect(read)
        }
    }

    @Test func malformedBytesAreRefused() throws {
        func array(_ build: (inout ByteBuffer) -> Void) throws -> PostgresBinaryArray {
            var buffer = ByteBuffer()
            build(&buffer)
            let cell = PostgresCell(bytes: buffer, dataType: .byteaArray, format: .binary, columnName: "a", columnIndex: 0)
            return try PostgresBinaryArray(cell, elementType: .bytea, orThrow: Failed())
        }
        func header(_ buffer: inout ByteBuffer, dimensions: Int32 = 1, count: Int32) {
            buffer.writeInteger(dimensions)
            buffer.writeInteger(Int32(1))
            buffer.writeInteger(PostgresDataType.bytea.rawValue)
            if dimensions > 0 {
                buffer.writeInteger(count)
                buffer.writeInteger(Int32(1))
            }
        }
        // Well formed: two elements, one NULL.
        let good = try array {
            header(&$0, count: 2)
            $0.writeInteger(Int32(1))
            $0.writeInteger(UInt8(7))
            $0.writeInteger(Int32(-1))
        }
        #expect(good.bytes() == [[7], nil])
        // A count no buffer could hold: refused before anything is reserved.
        #expect(throws: Failed.self) { try array { header(&$0, count: .max) } }
        // Negative counts and lengths, truncation, trailing bytes, two dimensions, an empty buffer.
        #expect(throws: Failed.self) { try array { header(&$0, count: -1) } }
        #expect(throws: Failed.self) {
            try array {
                header(&$0, count: 1)
                $0.writeInteger(Int32(-2))
            }
        }
        #expect(throws: Failed.self) {
            try array {
                header(&$0, count: 1)
                $0.writeInteger(Int32(32))
                $0.writeInteger(UInt8(1))
            }
        }
        #expect(throws: Failed.self) {
            try array {
                header(&$0, count: 1)
                $0.writeInteger(Int32(0))
                $0.writeInteger(UInt8(1))
            }
        }
        #expect(throws: Failed.self) { try array { header(&$0, dimensions: 2, count: 1) } }
        #expect(throws: Failed.self) { try array { _ in } }
    }
}
