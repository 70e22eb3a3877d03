import Foundation

/// A UUID that goes out in JSON lower-case, like every typed `Identifier` (Foundation writes UUIDs upper-case): ids
/// compare as strings in clients and in URLs, so one id must have one spelling.
@propertyWrapper
public struct LowercaseUUID: Hashable, Sendable, Codable {
    public var wrappedValue: UUID

    public init(wrappedValue: UUID) { self.wrappedValue = wrappedValue }

    public init(from decoder: Decoder) throws {
        self.wrappedValue = try decoder.singleValueContainer().decode(UUID.self)
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(wrappedValue.uuidString.lowercased())
    }
}
