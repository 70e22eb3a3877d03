import ContractKit
import Foundation
import Testing

@Suite struct SchemaTests {
    @Test func acceptsTheSampleContractSignedOrNot() throws {
        let schema = try XMLSchema(bytes: sampleSchema)
        try schema.validate(try XMLDocument.parse(sampleContract))
        try schema.validate(try XMLDocument.parse(try signedContract(institution: .ecdsaP256, guardian: .ecdsaP256)))
        try XMLDocument.parse(sampleContract).validate(againstSchema: sampleSchema)
    }

    @Test func refusesAMissingElementAndAnIllTypedAttributeNamingThem() throws {
        let schema = try XMLSchema(bytes: sampleSchema)
        let text = String(decoding: sampleContract, as: UTF8.self)
        let missing = text.replacingOccurrences(of: "<tg:relationship>父亲</tg:relationship>", with: "")
        #expect {
            try schema.validate(try XMLDocument.parse(Array(missing.utf8)))
        } throws: { error in
            guard case .documentDoesNotMatchSchema(let diagnostics) = error as? XMLSchemaError else { return false }
            return diagnostics.contains { $0.message.contains("relationship") && $0.line == 7 }
        }
        let illTyped = text.replacingOccurrences(of: "totalFen=\"480000\"", with: "totalFen=\"-5\"")
        #expect {
            try schema.validate(try XMLDocument.parse(Array(illTyped.utf8)))
        } throws: { error in
            guard case .documentDoesNotMatchSchema(let diagnostics) = error as? XMLSchemaError else { return false }
            return diagnostics.contains { $0.message.contains("totalFen") }
        }
    }

    @Test func refusesAnElementOutsideTheSchema() throws {
        let text = String(decoding: sampleContract, as: UTF8.self)
            .replacingOccurrences(of: "</tg:contract>", with: "<tg:loan amount=\"1\"/></tg:contract>")
        #expect(throws: XMLSchemaError.self) {
            try XMLDocument.parse(Array(text.utf8)).validate(againstSchema: sampleSchema)
        }
    }

    @Test func refusesAnInvalidSchema() {
        let broken = Array("<xs:schema xmlns:xs=\"http://www.w3.org/2001/XMLSchema\"><xs:element/></xs:schema>".utf8)
        #expect {
            _ = try XMLSchema(bytes: broken)
        } throws: { error in
            guard case .schemaIsInvalid(let diagnostics) = error as? XMLSchemaError else { return false }
            return !diagnostics.isEmpty
        }
        #expect(throws: XMLSchemaError.self) { _ = try XMLSchema(bytes: Array("not a schema".utf8)) }
    }
}
