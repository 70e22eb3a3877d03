import ArgumentParser
import ContractKit
import Foundation
import Testing
import TuitionStore
import TuitionTestSupport

@testable import tuitionguard

@Suite struct ContractCommandTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let template = root.appendingPathComponent("contract-templates/gf-2021-2604/v2")

    /// Renders, signs twice and verifies with files only, as someone without the service would.
    @Test func rendersSignsAndVerifiesOfflineAndRefusesATamperedFile() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tg-contract-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

        let now = Date()
        let ca = try CertificateAuthority.create(
            subject: CertificateSubject(commonName: "Offline CA"), privateKey: try PrivateKey.generate(.ecdsaP256),
            validity: DateInterval(start: now.addingTimeInterval(-3600), duration: 86_400 * 365))
        try ca.certificate.pemRepresentation.write(toFile: path("ca.pem"), atomically: true, encoding: .utf8)
        let fields = try JSONDecoder().decode(
            [String: String].self, from: try Data(contentsOf: Self.template.appendingPathComponent("example-fields.json")))
        let subjects = [
            "institution": ContractParties.institutionSubject(
                name: fields["institution.name"] ?? "", licenceNumber: fields["institution.licenceNumber"] ?? ""),
            "guardian": ContractParties.guardianSubject(name: fields["guardian.name"] ?? ""),
        ]
        let tsaKey = try PrivateKey.generate(.ecdsaP256)
        let tsa = try ca.issueTimeStampingCertificate(
            subject: CertificateSubject(commonName: "Offline TSA"), publicKey: try tsaKey.publicKey,
            validity: DateInterval(start: now.addingTimeInterval(-60), duration: 86_400))
        try tsaKey.pemRepresentation.write(toFile: path("tsa.key"), atomically: true, encoding: .utf8)
        try tsa.pemRepresentation.write(toFile: path("tsa.pem"), atomically: true, encoding: .utf8)
        let stamping = ["--tsa-key", path("tsa.key"), "--tsa-certificate", path("tsa.pem")]
        for (name, algorithm) in [("institution", KeyAlgorithm.rsa2048), ("guardian", .ecdsaP256)] {
            let key = try PrivateKey.generate(algorithm)
            let certificate = try ca.issueCertificate(
                subject: subjects[name]!, publicKey: try key.publicKey,
                validity: DateInterval(start: now.addingTimeInterval(-60), duration: 86_400))
            try key.pemRepresentation.write(toFile: path("\(name).key"), atomically: true, encoding: .utf8)
            try certificate.pemRepresentation.write(toFile: path("\(name).pem"), atomically: true, encoding: .utf8)
        }

        try ContractCommand.Render.parse([
            "--template", Self.template.path, "--fields", Self.template.appendingPathComponent("example-fields.json").path, "--out",
            path("draft.xml"),
        ]).run()
        try ContractCommand.Sign.parse(
            [
                "--key", path("institution.key"), "--certificate", path("institution.pem"), "--out", path("half.xml"), path("draft.xml"),
            ] + stamping
        ).run()
        // Half-signed: valid, but not complete.
        try ContractCommand.Verify.parse(["--ca", path("ca.pem"), path("half.xml")]).run()
        #expect(throws: ExitCode.self) { try ContractCommand.Verify.parse(["--ca", path("ca.pem"), "--complete", path("half.xml")]).run() }
        try ContractCommand.Sign.parse(
            [
                "--key", path("guardian.key"), "--certificate", path("guardian.pem"), "--out", path("signed.xml"), path("half.xml"),
            ] + stamping
        ).run()
        try ContractCommand.Verify.parse(["--ca", path("ca.pem"), "--complete", path("signed.xml")]).run()

        let text = try String(contentsOfFile: path("signed.xml"), encoding: .utf8)
        try text.replacingOccurrences(of: "<tg:totalFen>320000", with: "<tg:totalFen>320001").write(
            toFile: path("tampered.xml"), atomically: true, encoding: .utf8)
        #expect(throws: ExitCode.self) { try ContractCommand.Verify.parse(["--ca", path("ca.pem"), path("tampered.xml")]).run() }
        // Issue 12's tampering corpus: every copy is refused.
        for tampered in TamperingCorpus.cases(from: Array(text.utf8)) {
            try Data(tampered.bytes).write(to: URL(fileURLWithPath: path("corpus.xml")))
            #expect(throws: (any Error).self, "\(tampered.name)") {
                try ContractCommand.Verify.parse(["--ca", path("ca.pem"), path("corpus.xml")]).run()
            }
        }
        // A CRL revoking the institution's certificate before the timestamp fails it; one revoking it after does not.
        let institution = try Certificate(pemRepresentation: try String(contentsOfFile: path("institution.pem"), encoding: .utf8))
        for (revokedAt, valid) in [(now.addingTimeInterval(-30), false), (now.addingTimeInterval(3600), true)] {
            let crl = try ca.revocationList(
                [CertificateAuthority.Revocation(serialNumber: institution.serialNumber, revokedAt: revokedAt)], now: now,
                nextUpdate: now.addingTimeInterval(86_400))
            try crl.write(toFile: path("ca.crl"), atomically: true, encoding: .utf8)
            let verify = try ContractCommand.Verify.parse(["--ca", path("ca.pem"), "--crl", path("ca.crl"), path("signed.xml")])
            if valid { try verify.run() } else { #expect(throws: ExitCode.self) { try verify.run() } }
        }
        // A CRL past its next update (it may lack later revocations) or issued in the future is refused, not used.
        // (X.509 times are whole seconds.)
        func second(_ offset: TimeInterval) -> Date { Date(timeIntervalSince1970: (now.timeIntervalSince1970 + offset).rounded(.down)) }
        let outOfDate = RevocationListError.revocationListIsOutOfDate(nextUpdate: second(-86_400))
        let notYetValid = RevocationListError.revocationListIsNotYetValid(thisUpdate: second(3600))
        let stale = [(second(-2 * 86_400), second(-86_400), outOfDate), (second(3600), second(86_400), notYetValid)]
        for (thisUpdate, nextUpdate, expected) in stale {
            let crl = try ca.revocationList([], now: thisUpdate, nextUpdate: nextUpdate)
            try crl.write(toFile: path("ca.crl"), atomically: true, encoding: .utf8)
            #expect(throws: expected) {
                try ContractCommand.Verify.parse(["--ca", path("ca.pem"), "--crl", path("ca.crl"), path("signed.xml")]).run()
            }
        }
        // Missing fields are named.
        try #"{"institution.name":"只有名称"}"#.write(toFile: path("partial.json"), atomically: true, encoding: .utf8)
        #expect(throws: ContractRenderError.fieldMissing("contract.number")) {
            try ContractCommand.Render.parse(["--template", Self.template.path, "--fields", path("partial.json")]).run()
        }
    }

    @Test func keyEncryptionKeysAreMadeOnceAndNeverOverwritten() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("tg-kek-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: file) }
        try CA.KeyGen.parse(["--out", file]).run()
        let key = try KeyEncryptionKey.load(file: file)
        #expect(throws: (any Error).self) { try CA.KeyGen.parse(["--out", file]).run() }
        #expect(try KeyEncryptionKey.load(file: file).base64 == key.base64)
        let sealed = try key.seal(Array("secret".utf8), context: "a")
        #expect(try key.open(sealed, context: "a") == Array("secret".utf8))
        #expect(throws: KeyEncryptionKeyError.self) { try key.open(sealed, context: "b") }
        #expect(throws: KeyEncryptionKeyError.self) { try KeyEncryptionKey.generate().open(sealed, context: "a") }
    }

    @Test func parsesTheContractAndCACommands() throws {
        #expect(try TuitionGuardCommand.parseAsRoot(["ca", "init", "--kek-file", "k"]) is CA.Init)
        let bench = try #require(
            try TuitionGuardCommand.parseAsRoot(["contract", "bench", "--algorithm", "rsa-2048", "--store"]) as? ContractCommand.Bench)
        #expect(bench.algorithm == "rsa-2048" && bench.store)
    }
}
