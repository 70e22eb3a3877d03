/// Every way the evidence log refuses a request or an input, named as a sentence.
public enum EvidenceLogError: Error, Equatable, Sendable {
    /// A tree size below zero was given.
    case treeSizeIsNegative(Int64)
    /// An inclusion proof was asked for a leaf that is not in the tree (`index < 0` or `index >= size`).
    case leafIndexIsOutsideTree(index: Int64, size: Int64)
    /// A consistency proof was asked from a larger tree to a smaller one.
    case consistencySizesAreReversed(from: Int64, to: Int64)
    /// A consistency proof was asked from the empty tree: RFC 9162 defines them only for `0 < from`.
    case consistencyFromEmptyTreeIsMeaningless
    /// The node map handed to an assembly function lacks a node that the computation needs.
    case nodeIsMissing(NodeID)
    /// A hash was built from a number of bytes other than 32.
    case hashIsNot32Bytes(byteCount: Int)
    /// A hash's text was not 64 hexadecimal digits.
    case hexIsMalformed
    /// A hash's or signature's text was not standard padded base64.
    case base64IsMalformed
    /// The private key PEM is not a P-256 key ("PRIVATE KEY" or "EC PRIVATE KEY").
    case privateKeyPEMIsInvalid
    /// The public key PEM is not a P-256 "PUBLIC KEY".
    case publicKeyPEMIsInvalid
    /// A tree head's timestamp was below zero.
    case timestampIsNegative(Int64)
    /// A signature that was just made did not verify with the signer's own public key.
    case signatureDidNotVerifyAfterSigning
}
