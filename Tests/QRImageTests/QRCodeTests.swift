import Foundation
import QRImage
import Testing
import TuitionTestSupport

@Suite struct QRCodeTests {
    static let pageAddress = "https://tuitionguard.example/public/institutions/%E6%95%99%E6%B0%91133020370001"

    @Test(arguments: [
        pageAddress, "http://127.0.0.1:8080/public/institutions/LIC-1",
        "https://example.org/" + String(repeating: "长", count: 300),
    ])
    func zbarDecodesThePNGBackToTheText(text: String) throws {
        let zbarimg = try requireExecutable("zbarimg", debianPackage: "zbar-tools")
        let png = try QRCode(encoding: text).png()
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("qr-\(UUID().uuidString).png")
        try Data(png).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let decoded = try runExecutable(zbarimg, ["--quiet", "--raw", "-Sbinary", file.path])
        #expect(decoded.status == 0, "zbarimg found no code: \(decoded.errors)")
        #expect(decoded.output.trimmingCharacters(in: .newlines) == text)
    }

    @Test func thePNGIsAGreyscaleImageWithTheQuietZone() throws {
        let code = try QRCode(encoding: Self.pageAddress)
        let png = try code.png(scale: 3, quietZone: 4)
        #expect(Array(png.prefix(8)) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        // IHDR: width and height big-endian at bytes 16–23, bit depth 8, colour type 0 (grey).
        let side = (code.width + 8) * 3
        let width = png[16..<20].reduce(0) { $0 << 8 | Int($1) }
        let height = png[20..<24].reduce(0) { $0 << 8 | Int($1) }
        #expect(width == side && height == side)
        #expect(png[24] == 8 && png[25] == 0)
        // The three finder patterns make the corners dark; version ≥ 1 means at least 21 modules a side.
        #expect(code.width >= 21 && (code.width - 17) % 4 == 0)
        #expect(
            code.isDark(row: 0, column: 0) && code.isDark(row: 0, column: code.width - 1) && code.isDark(row: code.width - 1, column: 0))
    }

    @Test func refusesTextAQRCodeCannotHold() {
        #expect(throws: QRCodeError.cannotEncode(byteCount: 0)) { try QRCode(encoding: "") }
        #expect(throws: QRCodeError.cannotEncode(byteCount: 3_000)) { try QRCode(encoding: String(repeating: "a", count: 3_000)) }
    }
}
