internal import CLibXML2

/// Who must sign a TuitionGuard contract: signature 0 is the institution of 甲方 (its certificate's O is the
/// licence number in `tg:partyA/tg:licenceNumber`, OU `institution`), signature 1 the guardian of 乙方 (OU
/// `guardian`, full name equal to `tg:partyB/tg:guardianName`).
public enum ContractParties {
    public static let namespace = "urn:tuitionguard:contract:1"
    public static let institutionRole = "institution"
    public static let guardianRole = "guardian"

    /// The certificate subject an institution signs with. CN and the full name follow `CertificateSubject`.
    public static func institutionSubject(name: String, licenceNumber: String) -> CertificateSubject {
        CertificateSubject(commonName: name, organization: licenceNumber, role: institutionRole)
    }

    public static func guardianSubject(name: String) -> CertificateSubject {
        CertificateSubject(commonName: name, role: guardianRole)
    }

    /// 甲方's licence number and 乙方's guardian as the document names them, or nil when it is not a TuitionGuard
    /// contract naming both.
    static func named(in document: XMLDocument) -> (licence: String, guardian: String)? {
        guard let root = document.rootElement, XMLTree.isElement(root, "contract", in: namespace),
            let licence = text(root, "partyA", "licenceNumber"), let guardian = text(root, "partyB", "guardianName")
        else {
            return nil
        }
        return (licence, guardian)
    }

    /// The party failures of signatures already reported (empty when every present signature is its party's).
    static func check(_ parties: (licence: String, guardian: String), _ reports: [SignatureReport]) -> [VerificationReport.Failure] {
        var failures: [VerificationReport.Failure] = []
        if let first = reports.first?.signerCertificate?.subject,
            first.role != institutionRole || first.organization != parties.licence
        {
            failures.append(.firstSignatureIsNotPartyA)
        }
        if reports.count > 1, let second = reports[1].signerCertificate?.subject,
            second.role != guardianRole || second.commonName != parties.guardian
        {
            failures.append(.countersignatureIsNotPartyB)
        }
        return failures
    }

    /// The text of the single `tg:<section>/tg:<field>` under the root, or nil when absent or repeated.
    private static func text(_ root: xmlNodePtr, _ section: String, _ field: String) -> String? {
        let sections = XMLTree.elementChildren(of: root).filter { XMLTree.isElement($0, section, in: namespace) }
        guard sections.count == 1 else { return nil }
        let fields = XMLTree.elementChildren(of: sections[0]).filter { XMLTree.isElement($0, field, in: namespace) }
        guard fields.count == 1 else { return nil }
        return XMLTree.textContent(fields[0])
    }
}
