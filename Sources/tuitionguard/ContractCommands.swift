import ArgumentParser
import ContractKit
import Foundation
import PostgresNIO
import TuitionAPI
import TuitionStore
import TuitionUseCases

#if canImport(Glibc)
    import Glibc
#endif

// MARK: The platform CA

struct CA: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ca", abstract: "The platform CA that certifies contract signers.", subcommands: [KeyGen.self, Init.self])

    struct KeyGen: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "keygen",
            abstract: "Write a new key-encryption key (32 random bytes, base64) to --out; it seals every private key the store keeps.")

        @Option(help: "Where to write it (refuses to overwrite).") var out: String

        func run() throws {
            guard !FileManager.default.fileExists(atPath: out) else {
                throw ValidationError("\(out) exists; not overwriting a key-encryption key (the stored keys would become unreadable)")
            }
            let key = KeyEncryptionKey.generate()
            guard
                FileManager.default.createFile(
                    atPath: out, contents: Data((key.base64 + "\n").utf8), attributes: [.posixPermissions: 0o600])
            else { throw ValidationError("cannot write \(out)") }
        }
    }

    struct Init: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create the platform CA (P-256, 10 years) in the database unless it exists; print its certificate.",
            discussion: "Its private key is stored sealed (AES-256-GCM) under the key-encryption key of TUITIONGUARD_CA_KEK_FILE.")

        @Option(help: "The key-encryption key file (default: TUITIONGUARD_CA_KEK_FILE).") var kekFile: String?
        @Option(help: "The CA's common name.") var commonName: String = "TuitionGuard Platform CA"
        @Option(help: "Also write the CA certificate (PEM) here.") var out: String?

        func run() async throws {
            let configuration = try AppConfiguration.fromEnvironment()
            guard let path = kekFile ?? configuration.caKeyEncryptionKeyPath else {
                throw ConfigurationError.missing("TUITIONGUARD_CA_KEK_FILE")
            }
            let kek = try KeyEncryptionKey.load(file: path)
            let logger = makeLogger("tuitionguard.ca", level: configuration.logLevel)
            let commonName = commonName
            let (certificate, created) = try await withStore(databaseURL: configuration.databaseURL, logger: logger) { store in
                let result = try await Certificates(store: store).initializeAuthority(kek: kek, commonName: commonName)
                return (result.certificate.pemRepresentation, result.created)
            }
            if let out { try certificate.write(toFile: out, atomically: true, encoding: .utf8) }
            FileHandle.standardError.write(Data((created ? "created the platform CA\n" : "the platform CA exists already\n").utf8))
            print(certificate, terminator: "")
        }
    }
}

// MARK: Contracts offline

struct ContractCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "contract", abstract: "Render, sign and verify contracts offline, with files only.",
        subcommands: [Render.self, Sign.self, Verify.self, Bench.self])

    struct Render: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Fill a template's binding points from a JSON object of field paths to strings; validate against its XSD.")

        @Option(help: "A template version's folder, e.g. contract-templates/gf-2021-2604/v2.") var template: String
        @Option(help: "JSON object {\"institution.licenceNumber\": \"…\", …}.") var fields: String
        @Option(help: "Output file (default: standard output).") var out: String?

        func run() throws {
            let template = try ContractTemplate.load(directory: URL(fileURLWithPath: self.template))
            let values = try JSONDecoder().decode([String: String].self, from: try Data(contentsOf: URL(fileURLWithPath: fields)))
            let rendered = try ContractRenderer(template: template).render(values)
            try write(rendered, to: out)
            FileHandle.standardError.write(
                Data("rendered \(template.id) v\(template.version) (template SHA-256 \(template.sha256))\n".utf8))
        }
    }

    struct Sign: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add an enveloped signature (the second one countersigns the first) and check it at once.")

        @Option(help: "The signer's private key (PEM, unencrypted).") var key: String
        @Option(help: "The signer's certificate (PEM), put in KeyInfo.") var certificate: String
        @Option(help: "The time-stamping authority's private key (PEM, unencrypted).") var tsaKey: String
        @Option(help: "The time-stamping authority's certificate (PEM, extended key usage timeStamping).") var tsaCertificate: String
        @Option(help: "Output file (default: standard output).") var out: String?
        @Argument(help: "The contract document.") var document: String

        func run() throws {
            func text(_ path: String) throws -> String { try String(contentsOfFile: path, encoding: .utf8) }
            let authority = try TimeStampAuthority(
                certificate: try Certificate(pemRepresentation: try text(tsaCertificate)),
                privateKey: try PrivateKey(pemRepresentation: try text(tsaKey)))
            let signer = try XMLSigner(
                privateKey: try PrivateKey(pemRepresentation: try text(key)),
                certificate: try Certificate(pemRepresentation: try text(certificate)), timeStampAuthority: authority)
            try write(try signer.sign(try readBytes(document)), to: out)
        }
    }

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Verify every signature against the CA certificate; print the report; exit 1 unless all are valid.")

        @Option(help: "The platform CA certificate (PEM), the only trust anchor.") var ca: String
        @Option(
            help:
                "The CA's revocation list (PEM, from /v1/ca/crl; refused past its next update): revocations are judged at each timestamp's time."
        )
        var crl: String?
        @Flag(help: "Also require both signatures (the institution's and the guardian's).") var complete = false
        @Argument(help: "The contract document.") var document: String

        func run() throws {
            let anchor = try Certificate(pemRepresentation: try String(contentsOfFile: ca, encoding: .utf8))
            let revocations = try crl.map {
                try RevocationList(pemRepresentation: try String(contentsOfFile: $0, encoding: .utf8), issuer: anchor, now: Date())
            }
            let report = try XMLSignatureVerifier(trustAnchor: anchor, revocations: revocations?.revokedAt ?? [:]).verify(
                try readBytes(document))
            for signature in report.signatures {
                print(
                    "signature \(signature.position) (\(signature.position == 0 ? "institution" : "guardian")): "
                        + "\(signature.signerSubject ?? "no certificate"), serial \(signature.signerCertificate?.serialNumber ?? "-"), "
                        + "\(signature.algorithm?.name ?? "-"), timestamp \(signature.signingTime.map(XAdESTime.format) ?? "unknown"); "
                        + "timestamp \(signature.timestamp.rawValue), chain \(signature.chain.rawValue), "
                        + "validity \(signature.validityAtSigningTime.rawValue), digest \(signature.digest.rawValue), "
                        + "signature \(signature.signatureValue.rawValue)")
            }
            if let failure = report.firstFailure {
                print("INVALID: \(failure)")
                throw ExitCode(1)
            }
            if complete && report.signatures.count < 2 {
                print("INCOMPLETE: \(report.signatures.count) signature(s), the contract needs the institution's and the guardian's")
                throw ExitCode(1)
            }
            print("VALID: \(report.signatures.count) signature(s)")
        }
    }

    /// `tools/bench contracts` runs this: the whole issuing pipeline in one thread, per algorithm.
    struct Bench: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Issue contracts in one thread for --seconds: render + XSD + C14N + sign + countersign + verify (+ store).",
            discussion: """
                Prints one RESULT line: contracts per second of wall time and per CPU-second of this process (per core).
                With --store, each contract is written to the table bench_contract_documents of DATABASE_URL in batches.
                """)

        @Option(help: "ecdsa-p256 or rsa-2048.") var algorithm: String
        @Option(help: "How long to run.") var seconds: Double = 5
        @Option(help: "The template folder.") var template: String = "contract-templates/gf-2021-2604/v2"
        @Flag(help: "Write every contract to PostgreSQL (DATABASE_URL).") var store = false
        @Flag(help: "Only the institution signs (issuing); default: both parties sign.") var institutionOnly = false

        func run() async throws {
            guard let algorithm = KeyAlgorithm(rawValue: algorithm) else { throw ValidationError("--algorithm: ecdsa-p256 or rsa-2048") }
            let template = try ContractTemplate.load(directory: URL(fileURLWithPath: self.template))
            let fields = try JSONDecoder().decode(
                [String: String].self,
                from: try Data(contentsOf: URL(fileURLWithPath: self.template).appendingPathComponent("example-fields.json")))
            let bench = try ContractBench(template: template, fields: fields, algorithm: algorithm, countersign: !institutionOnly)
            let (seconds, storeFlag) = (seconds, store)
            if storeFlag {
                let configuration = try AppConfiguration.fromEnvironment()
                let logger = makeLogger("tuitionguard.bench", level: configuration.logLevel)
                try await withStore(databaseURL: configuration.databaseURL, logger: logger) { store in
                    try await store.query("DROP TABLE IF EXISTS bench_contract_documents")
                    // The document column as contracts.document has it (sql/0027: lz4).
                    try await store.query(
                        """
                        CREATE TABLE bench_contract_documents
                            (id bigint PRIMARY KEY, document bytea COMPRESSION lz4 NOT NULL, document_sha256 text NOT NULL)
                        """)
                    // One statement per batch: the contracts' rows go in as three arrays.
                    try await bench.run(seconds: seconds) { batch in
                        let inserted = try await store.query(
                            """
                            INSERT INTO bench_contract_documents (id, document, document_sha256)
                            SELECT * FROM unnest(\(batch.map(\.0)), \(batch.map { ByteBuffer(bytes: $0.1) }), \(batch.map(\.2)))
                            """)
                        for try await _ in inserted {}
                    }
                    try await store.query("DROP TABLE bench_contract_documents")
                }
            } else {
                try await bench.run(seconds: seconds) { _ in }
            }
        }
    }
}

/// The benchmark's loop: everything a contract goes through, in one thread.
struct ContractBench: Sendable {
    let template: ContractTemplate
    let fields: [String: String]
    let algorithm: KeyAlgorithm
    let countersign: Bool
    let ca: CertificateAuthority
    let authority: TimeStampAuthority
    let institution: XMLSigner
    let guardian: XMLSigner

    init(template: ContractTemplate, fields: [String: String], algorithm: KeyAlgorithm, countersign: Bool) throws {
        self.template = template
        self.fields = fields
        self.algorithm = algorithm
        self.countersign = countersign
        let now = Date()
        let ca = try CertificateAuthority.create(
            subject: CertificateSubject(commonName: "Bench CA"), privateKey: try PrivateKey.generate(.ecdsaP256),
            validity: DateInterval(start: now.addingTimeInterval(-3600), duration: 86_400 * 365))
        self.ca = ca
        let validity = DateInterval(start: now.addingTimeInterval(-60), duration: 86_400 * 30)
        let tsaKey = try PrivateKey.generate(.ecdsaP256)
        let authority = try TimeStampAuthority(
            certificate: try ca.issueTimeStampingCertificate(
                subject: CertificateSubject(commonName: "Bench TSA"), publicKey: try tsaKey.publicKey, validity: validity),
            privateKey: tsaKey)
        self.authority = authority
        func signer(_ subject: CertificateSubject) throws -> XMLSigner {
            let key = try PrivateKey.generate(algorithm)
            let certificate = try ca.issueCertificate(subject: subject, publicKey: try key.publicKey, validity: validity)
            return try XMLSigner(privateKey: key, certificate: certificate, timeStampAuthority: authority)
        }
        institution = try signer(
            ContractParties.institutionSubject(
                name: fields["institution.name"] ?? "", licenceNumber: fields["institution.licenceNumber"] ?? ""))
        guardian = try signer(ContractParties.guardianSubject(name: fields["guardian.name"] ?? ""))
    }

    func run(seconds: Double, store: @Sendable ([(Int64, [UInt8], String)]) async throws -> Void) async throws {
        let renderer = try ContractRenderer(template: template)
        let verifier = XMLSignatureVerifier(trustAnchor: ca.certificate)
        var batch: [(Int64, [UInt8], String)] = []
        var count: Int64 = 0
        var values = fields
        let startCPU = cpuSeconds()
        let start = Date()
        let deadline = start.addingTimeInterval(seconds)
        while Date() < deadline {
            count += 1
            values["contract.number"] = "TG-BENCH-\(count)"
            let document = try renderer.renderDocument(values)
            // Verified below with the full verifier (profile, timestamps, chain, digests, values), on the signed tree
            // itself rather than a re-parse of its serialization, as the store does.
            try institution.sign(document, selfCheck: false)
            if countersign { try guardian.sign(document, selfCheck: false) }
            let report = verifier.verify(document)
            guard report.isValid, report.signatures.count == (countersign ? 2 : 1) else {
                throw ValidationError("contract \(count) did not verify: \(String(describing: report.firstFailure))")
            }
            let bytes = document.serialized()
            batch.append((count, bytes, try sha256Hex(bytes)))
            if batch.count == 200 {
                try await store(batch)
                batch.removeAll(keepingCapacity: true)
            }
        }
        if !batch.isEmpty { try await store(batch) }
        let wall = Date().timeIntervalSince(start)
        let cpu = cpuSeconds() - startCPU
        print(
            String(
                format: "RESULT algorithm=%@ signatures_per_contract=%d contracts=%lld wall_s=%.2f cpu_s=%.2f per_s=%.1f per_cpu_s=%.1f",
                algorithm.rawValue, countersign ? 2 : 1, count, wall, cpu, Double(count) / wall, Double(count) / max(cpu, 1e-9)))
    }
}

/// CPU seconds (user + system) this process has used.
func cpuSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6 + Double(usage.ru_stime.tv_sec)
        + Double(usage.ru_stime.tv_usec) / 1e6
}

private func readBytes(_ path: String) throws -> [UInt8] {
    guard let data = FileManager.default.contents(atPath: path) else { throw ValidationError("cannot read \(path)") }
    return [UInt8](data)
}

private func write(_ bytes: [UInt8], to path: String?) throws {
    if let path {
        guard FileManager.default.createFile(atPath: path, contents: Data(bytes)) else { throw ValidationError("cannot write \(path)") }
    } else {
        FileHandle.standardOutput.write(Data(bytes))
    }
}
