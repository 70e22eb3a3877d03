import ContractKit
import Foundation
import Testing

/// A platform CA with an institution and a guardian certificate for each key algorithm, made once per
/// test process (RSA key generation is slow) and shared read-only.
struct Parties: Sendable {
    let ca: CertificateAuthority
    /// The platform TSA (clock: the real time).
    let timeStampAuthority: TimeStampAuthority
    let institution: [KeyAlgorithm: XMLSigner]
    let guardian: [KeyAlgorithm: XMLSigner]
    /// A second, unrelated CA with a signer of its own.
    let foreignCA: CertificateAuthority
    let foreignSigner: XMLSigner

    static let shared: Parties = {
        do { return try Parties() } catch { fatalError("test parties: \(error)") }
    }()

    static let now = Date()
    static let validity = DateInterval(start: now.addingTimeInterval(-3600), duration: 365 * 86_400)

    private init() throws {
        let caValidity = DateInterval(start: Self.now.addingTimeInterval(-86_400), duration: 10 * 365 * 86_400)
        ca = try CertificateAuthority.create(
            subject: CertificateSubject(commonName: "TuitionGuard Test CA", organization: "TuitionGuard"),
            privateKey: try PrivateKey.generate(.ecdsaP256),
            validity: caValidity
        )
        let tsaKey = try PrivateKey.generate(.ecdsaP256)
        timeStampAuthority = try TimeStampAuthority(
            certificate: try ca.issueTimeStampingCertificate(
                subject: CertificateSubject(commonName: "TuitionGuard Test TSA"), publicKey: try tsaKey.publicKey,
                validity: DateInterval(start: Self.now.addingTimeInterval(-86_400), duration: 9 * 365 * 86_400)),
            privateKey: tsaKey)
        let authority = timeStampAuthority
        func signer(_ ca: CertificateAuthority, _ algorithm: KeyAlgorithm, _ subject: CertificateSubject) throws
            -> XMLSigner
        {
            let key = try PrivateKey.generate(algorithm)
            let certificate = try ca.issueCertificate(subject: subject, publicKey: try key.publicKey, validity: Self.validity)
            return try XMLSigner(privateKey: key, certificate: certificate, timeStampAuthority: authority)
        }
        var institution: [KeyAlgorithm: XMLSigner] = [:]
        var guardian: [KeyAlgorithm: XMLSigner] = [:]
        for algorithm in KeyAlgorithm.allCases {
            institution[algorithm] = try signer(
                ca, algorithm, ContractParties.institutionSubject(name: Self.institutionName, licenceNumber: Self.licenceNumber))
            guardian[algorithm] = try signer(ca, algorithm, ContractParties.guardianSubject(name: Self.guardianName))
        }
        self.institution = institution
        self.guardian = guardian
        foreignCA = try CertificateAuthority.create(
            subject: CertificateSubject(commonName: "Foreign CA"),
            privateKey: try PrivateKey.generate(.ecdsaP256),
            validity: caValidity
        )
        foreignSigner = try signer(
            foreignCA, .ecdsaP256, ContractParties.institutionSubject(name: Self.institutionName, licenceNumber: Self.licenceNumber))
    }

    /// The parties of both the sample contract and the template's example fields.
    static let institutionName = "宁波市海曙区星火教育培训学校"
    static let licenceNumber = "教民133020370001"
    static let guardianName = "张三"

    /// The same signer with the TSA's clock at `time`.
    func signer(_ signer: XMLSigner, at time: Date) throws -> XMLSigner {
        try XMLSigner(
            privateKey: signer.privateKey, certificate: signer.certificate,
            timeStampAuthority: try TimeStampAuthority(
                certificate: timeStampAuthority.certificate, privateKey: timeStampAuthority.privateKey, clock: { time }))
    }
}

let sampleContract = Array(
    """
    <?xml version="1.0" encoding="UTF-8"?>
    <tg:contract xmlns:tg="urn:tuitionguard:contract:1" templateId="GF-2021-2604" templateVersion="1">
      <tg:partyA>
        <tg:name>宁波市海曙区星火教育培训学校</tg:name>
        <tg:licenceNumber>教民133020370001</tg:licenceNumber>
      </tg:partyA>
      <tg:partyB><tg:guardianName>张三</tg:guardianName><tg:relationship>父亲</tg:relationship></tg:partyB>
      <tg:fees totalFen="480000" lessons="48" pricePerLessonFen="10000"/>
      <tg:clause n="1">第一条 培训服务：线下 · 学科类 &amp; 课程 &lt;数学&gt;</tg:clause>
    </tg:contract>
    """.utf8
)

let sampleSchema = Array(
    """
    <?xml version="1.0" encoding="UTF-8"?>
    <xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:tuitionguard:contract:1"
        xmlns:tg="urn:tuitionguard:contract:1" elementFormDefault="qualified">
      <xs:element name="contract">
        <xs:complexType>
          <xs:sequence>
            <xs:element name="partyA">
              <xs:complexType><xs:sequence>
                <xs:element name="name" type="xs:string"/>
                <xs:element name="licenceNumber" type="xs:string"/>
              </xs:sequence></xs:complexType>
            </xs:element>
            <xs:element name="partyB">
              <xs:complexType><xs:sequence>
                <xs:element name="guardianName" type="xs:string"/>
                <xs:element name="relationship" type="xs:string"/>
              </xs:sequence></xs:complexType>
            </xs:element>
            <xs:element name="fees">
              <xs:complexType>
                <xs:attribute name="totalFen" type="xs:positiveInteger" use="required"/>
                <xs:attribute name="lessons" type="xs:positiveInteger" use="required"/>
                <xs:attribute name="pricePerLessonFen" type="xs:positiveInteger" use="required"/>
              </xs:complexType>
            </xs:element>
            <xs:element name="clause" maxOccurs="unbounded">
              <xs:complexType><xs:simpleContent><xs:extension base="xs:string">
                <xs:attribute name="n" type="xs:positiveInteger" use="required"/>
              </xs:extension></xs:simpleContent></xs:complexType>
            </xs:element>
            <xs:any namespace="http://www.w3.org/2000/09/xmldsig#" processContents="lax" minOccurs="0"/>
          </xs:sequence>
          <xs:attribute name="templateId" type="xs:string" use="required"/>
          <xs:attribute name="templateVersion" type="xs:positiveInteger" use="required"/>
        </xs:complexType>
      </xs:element>
    </xs:schema>
    """.utf8
)

/// The sample contract signed by the institution and, if `countersigned`, by the guardian.
func signedContract(institution: KeyAlgorithm, guardian: KeyAlgorithm?) throws -> [UInt8] {
    let parties = Parties.shared
    var bytes = try parties.institution[institution]!.sign(sampleContract)
    if let guardian { bytes = try parties.guardian[guardian]!.sign(bytes) }
    return bytes
}

/// A fresh directory under the temporary directory, removed by the caller.
func makeTemporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("contractkit-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}
