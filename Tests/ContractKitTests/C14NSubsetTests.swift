import Foundation
import Testing

@testable import ContractKit

/// The signer and the verifier canonicalize a Signature's parts, and the document minus a Signature, by relinking the
/// tree for the call (so libxml2 walks only what is canonicalized) instead of a visibility callback over every node.
/// Both forms must give the same bytes, and the tree must be exactly as before afterwards.
@Suite struct C14NSubsetTests {
    @Test(arguments: KeyAlgorithm.allCases)
    func relinkedSubsetsAreTheCallbacksByteForByte(algorithm: KeyAlgorithm) throws {
        let parties = Parties.shared
        let document = try XMLDocument.parse(try signedContract(institution: algorithm, guardian: algorithm))
        let before = document.serialized()
        let root = try #require(document.rootElement)
        let signatures = XMLTree.descendants(of: root, named: "Signature", in: XMLDSig.namespace)
        #expect(signatures.count == 2)
        for (position, element) in signatures.enumerated() {
            let profile = try ProfileSignature(element, position: position)
            for part in [profile.signedInfo, profile.signatureValueElement, profile.signedProperties, element] {
                let relinked = try ExclusiveC14N.canonicalize(document.pointer, selection: .onlySubtree(part))
                #expect(relinked == (try ExclusiveC14N.canonicalize(document.pointer, selection: .onlySubtreeByCallback(part))))
                #expect(!relinked.isEmpty)
            }
            let without = try ExclusiveC14N.canonicalize(document.pointer, selection: .excludingSubtree(element))
            #expect(without == (try ExclusiveC14N.canonicalize(document.pointer, selection: .excludingSubtreeByCallback(element))))
        }
        #expect(document.serialized() == before)
        #expect(XMLSignatureVerifier(trustAnchor: parties.ca.certificate).verify(document).isFullySigned)
    }

    /// Taking a subtree out is the same as hiding it whatever it holds: first, last and only children, text on either
    /// side, elements without a namespace, a default namespace, xml:lang.
    @Test func excludingASubtreeMatchesTheCallbackAnywhere() throws {
        let source = Array(
            """
            <r xmlns="urn:a" xmlns:p="urn:p" xml:lang="zh">text<a/>between<p:b q="1"><c xmlns=""><d/></c></p:b>after<e><f/></e></r>
            """.utf8)
        let document = try XMLDocument.parse(source)
        let before = document.serialized()
        // Every element below the root, breadth first: a, p:b, e, c, f, d.
        var nodes = XMLTree.elementChildren(of: try #require(document.rootElement))
        var index = 0
        while index < nodes.count {
            nodes += XMLTree.elementChildren(of: nodes[index])
            index += 1
        }
        #expect(nodes.count == 6)
        for node in nodes {
            let relinked = try ExclusiveC14N.canonicalize(document.pointer, selection: .excludingSubtree(node))
            #expect(relinked == (try ExclusiveC14N.canonicalize(document.pointer, selection: .excludingSubtreeByCallback(node))))
            #expect(document.serialized() == before)
        }
        // A subtree whose elements all have a namespace, alone.
        let namespaced = nodes[2]
        #expect(
            (try ExclusiveC14N.canonicalize(document.pointer, selection: .onlySubtree(namespaced)))
                == (try ExclusiveC14N.canonicalize(document.pointer, selection: .onlySubtreeByCallback(namespaced))))
        #expect(document.serialized() == before)
    }
}
