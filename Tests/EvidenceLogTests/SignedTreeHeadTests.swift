import EvidenceLog
import Foundation
import Testing

// A test-only key pair made with OpenSSL 3 (`openssl ecparam -name prime256v1 -genkey`, then
// `openssl pkcs8 -topk8 -nocrypt`), and a signature OpenSSL made over the documented encoding:
//   openssl dgst -sha256 -sign key.pem -out sig.der head.bin
// where head.bin is `goldenEncodingHex` below. This key signs nothing outside these tests.
private let goldenPrivateKeyPKCS8 = """
    -----BEGIN PRIVATE KEY-----
    MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg9gsWGUcc9YAitSHn
    a71lWNbfMNRGCrnprsGqLa0roSWhRANCAAT23s9EpOXczMkyCeGqTajCOqwvZfv7
    ikB+OPcNyStPFNBY8CQQ67JsisYTKoGSuPETrt40TUGdn6eTShgBEs2j
    -----END PRIVATE KEY-----
    """
private let goldenPrivateKeySEC1 = """
    -----BEGIN EC PRIVATE KEY-----
    MHcCAQEEIPYLFhlHHPWAIrUh52u9ZVjW3zDURgq56a7Bqi2tK6EloAoGCCqGSM49
    AwEHoUQDQgAE9t7PRKTl3MzJMgnhqk2owjqsL2X7+4pAfjj3DckrTxTQWPAkEOuy
    bIrGEyqBkrjxE67eNE1BnZ+nk0oYARLNow==
    -----END EC PRIVATE KEY-----
    """
private let goldenPublicKey = """
    -----BEGIN PUBLIC KEY-----
    MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE9t7PRKTl3MzJMgnhqk2owjqsL2X7
    +4pAfjj3DckrTxTQWPAkEOuybIrGEyqBkrjxE67eNE1BnZ+nk0oYARLNow==
    -----END PUBLIC KEY-----
    """
/// `openssl pkey -pubin -in pub.pem -outform DER | sha256sum`.
private let goldenKeyID = "c139d83941ea93e6dd138f58deda43dda425b0e169f5d583cd986327265fc883"
/// The reference tree's size-8 root, signed at 2023-11-14T22:13:20Z.
private let goldenHead = TreeHead(
    size: 8, rootHash: hash("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"),
    timestampMilliseconds: 1_700_000_000_000)
private let goldenEncodingHex =
    "54756974696f6e47756172642d5354482d76310a" + "0000000000000008" + "0000018bcfe56800"
    + "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"
private let goldenSignatureBase64 =
    "MEUCIQCD9vk97l4s0Fw1rCnVBHCsO8s3fhDC9HAtPaRzS4NeNwIgc7xI8AT3/TZzdKdK76rbdkEJSKNWFYrI0JFLISLx1ew="

@Suite struct SignedTreeHeadTests {
    @Test func encodingIsTheDocumentedLayout() {
        #expect(goldenHead.signedBytes == bytes(hex: goldenEncodingHex))
        #expect(goldenHead.signedBytes.count == TreeHead.encodedByteCount)
        #expect(TreeHead.encodedByteCount == 68)
        #expect(Array(goldenHead.signedBytes.prefix(20)) == Array("TuitionGuard-STH-v1\n".utf8))
    }

    @Test func signatureMadeByOpenSSLVerifies() throws {
        let verifier = try LogVerifier(publicKeyPEM: goldenPublicKey)
        let signature = Array(Data(base64Encoded: goldenSignatureBase64)!)
        #expect(verifier.verify(SignedTreeHead(head: goldenHead, signature: signature)))
        #expect(verifier.keyID.hex == goldenKeyID)
    }

    @Test func privateKeyLoadsFromPKCS8AndSEC1PEM() throws {
        let fromPKCS8 = try LogSigner(privateKeyPEM: goldenPrivateKeyPKCS8)
        let fromSEC1 = try LogSigner(privateKeyPEM: goldenPrivateKeySEC1)
        #expect(fromPKCS8.verifier.keyID.hex == goldenKeyID)
        #expect(fromSEC1.verifier.keyID.hex == goldenKeyID)
        let published = try LogVerifier(publicKeyPEM: goldenPublicKey)
        #expect(published.verify(try fromSEC1.sign(goldenHead)))
    }

    @Test func signerAndVerifierRoundTripThroughPEM() throws {
        let signer = LogSigner()
        let reloaded = try LogSigner(privateKeyPEM: signer.privateKeyPEM)
        let verifier = try LogVerifier(publicKeyPEM: signer.publicKeyPEM)
        #expect(signer.publicKeyPEM.hasPrefix("-----BEGIN PUBLIC KEY-----"))
        #expect(signer.privateKeyPEM.hasPrefix("-----BEGIN PRIVATE KEY-----"))
        #expect(reloaded.publicKeyPEM == signer.publicKeyPEM)
        #expect(verifier.keyID == signer.verifier.keyID)
        #expect(verifier.verify(try signer.sign(goldenHead)))
        #expect(verifier.verify(try reloaded.sign(goldenHead)))
        #expect(!(try LogVerifier(publicKeyPEM: goldenPublicKey)).verify(try signer.sign(goldenHead)))
    }

    @Test func tamperedTreeHeadFailsTheSignatureCheck() throws {
        let signer = try LogSigner(privateKeyPEM: goldenPrivateKeyPKCS8)
        let verifier = try LogVerifier(publicKeyPEM: goldenPublicKey)
        let signed = try signer.sign(goldenHead)
        #expect(verifier.verify(signed))

        let tamperedHeads = [
            TreeHead(size: 9, rootHash: goldenHead.rootHash, timestampMilliseconds: goldenHead.timestampMilliseconds),
            TreeHead(size: 7, rootHash: goldenHead.rootHash, timestampMilliseconds: goldenHead.timestampMilliseconds),
            TreeHead(size: 8, rootHash: flipping(goldenHead.rootHash, byte: 31), timestampMilliseconds: goldenHead.timestampMilliseconds),
            TreeHead(size: 8, rootHash: goldenHead.rootHash, timestampMilliseconds: goldenHead.timestampMilliseconds + 1),
            TreeHead(size: 8, rootHash: goldenHead.rootHash, timestampMilliseconds: 0),
        ]
        for head in tamperedHeads {
            #expect(!verifier.verify(SignedTreeHead(head: head, signature: signed.signature)), "\(head)")
        }
        for position in signed.signature.indices {
            var signature = signed.signature
            signature[position] ^= 0x01
            #expect(!verifier.verify(SignedTreeHead(head: goldenHead, signature: signature)), "signature byte \(position)")
        }
        #expect(!verifier.verify(SignedTreeHead(head: goldenHead, signature: [])))
        #expect(!verifier.verify(SignedTreeHead(head: goldenHead, signature: Array(signed.signature.dropLast()))))
    }

    @Test func headsWithNegativeFieldsAreNeitherSignedNorAccepted() throws {
        let signer = LogSigner()
        let negativeSize = TreeHead(size: -1, rootHash: MerkleHasher.emptyRoot, timestampMilliseconds: 5)
        let negativeTime = TreeHead(size: 0, rootHash: MerkleHasher.emptyRoot, timestampMilliseconds: -5)
        #expect(throws: EvidenceLogError.treeSizeIsNegative(-1)) { try signer.sign(negativeSize) }
        #expect(throws: EvidenceLogError.timestampIsNegative(-5)) { try signer.sign(negativeTime) }
        // A negative field encodes like a huge unsigned one; such a signature must still be refused.
        let huge = TreeHead(size: 0, rootHash: MerkleHasher.emptyRoot, timestampMilliseconds: 5)
        let signed = try signer.sign(huge)
        #expect(!signer.verifier.verify(SignedTreeHead(head: negativeSize, signature: signed.signature)))
    }

    @Test func invalidKeysAreRefused() {
        #expect(throws: EvidenceLogError.privateKeyPEMIsInvalid) { try LogSigner(privateKeyPEM: goldenPublicKey) }
        #expect(throws: EvidenceLogError.privateKeyPEMIsInvalid) { try LogSigner(privateKeyPEM: "not a key") }
        #expect(throws: EvidenceLogError.publicKeyPEMIsInvalid) { try LogVerifier(publicKeyPEM: goldenPrivateKeyPKCS8) }
        #expect(throws: EvidenceLogError.publicKeyPEMIsInvalid) { try LogVerifier(publicKeyPEM: "") }
    }

    @Test func jsonFormIsTheDocumentedOne() throws {
        let signed = SignedTreeHead(head: goldenHead, signature: Array(Data(base64Encoded: goldenSignatureBase64)!))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let json = String(decoding: try encoder.encode(signed), as: UTF8.self)
        #expect(
            json == """
                {"head":{"rootHash":"XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=","size":8,"timestampMilliseconds":1700000000000},\
                "signature":"\(goldenSignatureBase64)"}
                """)
        let decoded = try JSONDecoder().decode(SignedTreeHead.self, from: Data(json.utf8))
        #expect(decoded == signed)
        #expect(try LogVerifier(publicKeyPEM: goldenPublicKey).verify(decoded))
    }

    @Test func malformedJSONIsRefused() {
        let badSignature =
            #"{"head":{"rootHash":"XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=","size":8,"timestampMilliseconds":1},"signature":"%%%"}"#
        let shortRoot = #"{"head":{"rootHash":"AAAA","size":8,"timestampMilliseconds":1},"signature":""}"#
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(SignedTreeHead.self, from: Data(badSignature.utf8)) }
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(SignedTreeHead.self, from: Data(shortRoot.utf8)) }
    }
}
