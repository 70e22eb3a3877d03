import CLibPNG
import CQREncode

/// Why a QR code could not be made.
public enum QRCodeError: Error, Equatable, CustomStringConvertible {
    /// The text is empty or longer than a QR code can hold at the chosen error-correction level.
    case cannotEncode(byteCount: Int)
    /// libpng refused the image; its message.
    case pngFailed(String)

    public var description: String {
        switch self {
        case .cannotEncode(let count): "\(count) bytes cannot be encoded as a QR code"
        case .pngFailed(let message): "PNG encoding failed: \(message)"
        }
    }
}

/// A QR code symbol made by libqrencode: a square of dark and light modules.
public struct QRCode: Sendable, Equatable {
    /// Modules per side, without the quiet zone.
    public let width: Int
    /// Row-major, `true` for a dark module.
    public let modules: [Bool]

    /// Encodes `text`'s UTF-8 bytes in 8-bit mode at error-correction level M (15 % of the symbol may be damaged),
    /// in the smallest version that holds them.
    public init(encoding text: String) throws {
        let bytes = Array(text.utf8)
        // A version-40 symbol at level M holds 2,331 bytes; libqrencode returns NULL beyond that.
        guard !bytes.isEmpty, bytes.count <= 2_331 else { throw QRCodeError.cannotEncode(byteCount: bytes.count) }
        guard let symbol = bytes.withUnsafeBufferPointer({ QRcode_encodeData(Int32($0.count), $0.baseAddress, 0, QR_ECLEVEL_M) }) else {
            throw QRCodeError.cannotEncode(byteCount: bytes.count)
        }
        defer { QRcode_free(symbol) }
        let width = Int(symbol.pointee.width)
        // Bit 0 of each byte is the module's colour; the other bits describe what the module is for.
        self.width = width
        self.modules = (0..<(width * width)).map { symbol.pointee.data[$0] & 1 == 1 }
    }

    public func isDark(row: Int, column: Int) -> Bool { modules[row * width + column] }

    /// An 8-bit greyscale PNG: each module `scale` × `scale` pixels, with the four-module quiet zone the standard
    /// asks for, so a phone camera finds the symbol on any background.
    public func png(scale: Int = 8, quietZone: Int = 4) throws -> [UInt8] {
        precondition(scale >= 1 && quietZone >= 0)
        let side = (width + 2 * quietZone) * scale
        var pixels = [UInt8](repeating: 0xFF, count: side * side)
        for row in 0..<width {
            for column in 0..<width where isDark(row: row, column: column) {
                let top = (row + quietZone) * scale
                let left = (column + quietZone) * scale
                for y in top..<(top + scale) {
                    let start = y * side + left
                    pixels.replaceSubrange(start..<(start + scale), with: repeatElement(0, count: scale))
                }
            }
        }
        return try PNG.grey(pixels: pixels, width: side, height: side)
    }
}

/// libpng's simplified write API: the whole image in memory, errors as return values.
enum PNG {
    static func grey(pixels: [UInt8], width: Int, height: Int) throws -> [UInt8] {
        precondition(pixels.count == width * height)
        var image = png_image()
        image.version = png_uint_32(PNG_IMAGE_VERSION)
        image.width = png_uint_32(width)
        image.height = png_uint_32(height)
        image.format = png_uint_32(PNG_FORMAT_GRAY)
        defer { png_image_free(&image) }
        return try pixels.withUnsafeBytes { buffer in
            // First call with no memory asks for the size; the second writes.
            var size: png_alloc_size_t = 0
            guard png_image_write_to_memory(&image, nil, &size, 0, buffer.baseAddress, png_int_32(width), nil) != 0 else {
                throw QRCodeError.pngFailed(message(of: &image))
            }
            var output = [UInt8](repeating: 0, count: Int(size))
            let written = output.withUnsafeMutableBytes { memory in
                png_image_write_to_memory(&image, memory.baseAddress, &size, 0, buffer.baseAddress, png_int_32(width), nil)
            }
            guard written != 0 else { throw QRCodeError.pngFailed(message(of: &image)) }
            return Array(output.prefix(Int(size)))
        }
    }

    private static func message(of image: inout png_image) -> String {
        withUnsafeBytes(of: &image.message) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }
}
