// Shim for OpenSSL 3: deprecated APIs fail to compile, and function-like macros get static inline
// wrappers so Swift can call them.
#ifndef TUITIONGUARD_COPENSSL_SHIM_H
#define TUITIONGUARD_COPENSSL_SHIM_H

#define OPENSSL_API_COMPAT 30000
#define OPENSSL_NO_DEPRECATED 1

#include <string.h>
#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/ts.h>
#include <openssl/ess.h>
#include <openssl/pkcs7.h>
#include <openssl/provider.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

static inline EVP_PKEY *cx_EVP_EC_gen(const char *curve) { return EVP_EC_gen(curve); }
static inline EVP_PKEY *cx_EVP_RSA_gen(unsigned int bits) { return EVP_RSA_gen(bits); }
static inline long cx_BIO_get_mem_data(BIO *bio, char **data) { return BIO_get_mem_data(bio, data); }
static inline void cx_OPENSSL_free(void *pointer) { OPENSSL_free(pointer); }
static inline void cx_X509V3_set_ctx_nodb(X509V3_CTX *ctx) { X509V3_set_ctx_nodb(ctx); }

// RFC 2253 names, but with UTF-8 left as UTF-8 (institution names are Chinese) instead of \XX escapes.
static inline unsigned long cx_nameFlagsRFC2253UTF8(void) { return XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB; }

// A PEM password callback that refuses: an encrypted PEM must never make OpenSSL prompt on a terminal.
static inline int cx_no_password(char *buf, int size, int rwflag, void *userdata) {
    (void)buf; (void)size; (void)rwflag; (void)userdata;
    return -1;
}


// RFC 3161 time-stamping (OpenSSL TS API). The TS API takes ownership of some buffers and calls back for the
// time and the serial, which is easier to get right in C than across the Swift boundary.

typedef struct { long sec; long usec; } cx_ts_clock;

static int cx_ts_time_cb(TS_RESP_CTX *ctx, void *data, long *sec, long *usec) {
    (void)ctx;
    const cx_ts_clock *clock = (const cx_ts_clock *)data;
    *sec = clock->sec;
    *usec = clock->usec;
    return 1;
}

// 63 random bits: serials must be unique per TSA, and OpenSSL's default serial callback always answers 1.
static ASN1_INTEGER *cx_ts_serial_cb(TS_RESP_CTX *ctx, void *data) {
    (void)ctx; (void)data;
    unsigned char bytes[8];
    if (RAND_bytes(bytes, sizeof bytes) != 1) return NULL;
    bytes[0] &= 0x7f;
    bytes[0] |= 0x40;
    BIGNUM *bn = BN_bin2bn(bytes, sizeof bytes, NULL);
    if (bn == NULL) return NULL;
    ASN1_INTEGER *serial = BN_to_ASN1_INTEGER(bn, NULL);
    BN_free(bn);
    return serial;
}

/// Issues a time-stamp token (DER ContentInfo) over a SHA-256 imprint at the given time (millisecond
/// precision). Returns the DER length and sets *out (free with OPENSSL_free), or -1 with OpenSSL's error queue.
static inline int cx_ts_stamp(X509 *tsa_cert, EVP_PKEY *tsa_key, const char *policy_oid,
                              const unsigned char *imprint, int imprint_len, long sec, long usec,
                              unsigned char **out) {
    int result = -1;
    TS_REQ *req = NULL; TS_MSG_IMPRINT *mi = NULL; X509_ALGOR *algo = NULL; BIO *req_bio = NULL;
    TS_RESP_CTX *ctx = NULL; TS_RESP *resp = NULL; ASN1_OBJECT *policy = NULL;
    cx_ts_clock clock = { sec, usec };
    *out = NULL;
    if ((req = TS_REQ_new()) == NULL || TS_REQ_set_version(req, 1) != 1) goto done;
    if ((mi = TS_MSG_IMPRINT_new()) == NULL || (algo = X509_ALGOR_new()) == NULL) goto done;
    if (X509_ALGOR_set0(algo, OBJ_nid2obj(NID_sha256), V_ASN1_NULL, NULL) != 1) goto done;
    if (TS_MSG_IMPRINT_set_algo(mi, algo) != 1 || TS_MSG_IMPRINT_set_msg(mi, (unsigned char *)imprint, imprint_len) != 1) goto done;
    if (TS_REQ_set_msg_imprint(req, mi) != 1 || TS_REQ_set_cert_req(req, 1) != 1) goto done;
    if ((req_bio = BIO_new(BIO_s_mem())) == NULL || i2d_TS_REQ_bio(req_bio, req) != 1) goto done;
    if ((ctx = TS_RESP_CTX_new()) == NULL) goto done;
    if (TS_RESP_CTX_set_signer_cert(ctx, tsa_cert) != 1 || TS_RESP_CTX_set_signer_key(ctx, tsa_key) != 1) goto done;
    if (TS_RESP_CTX_set_signer_digest(ctx, EVP_sha256()) != 1 || TS_RESP_CTX_set_ess_cert_id_digest(ctx, EVP_sha256()) != 1) goto done;
    if ((policy = OBJ_txt2obj(policy_oid, 1)) == NULL || TS_RESP_CTX_set_def_policy(ctx, policy) != 1) goto done;
    if (TS_RESP_CTX_add_md(ctx, EVP_sha256()) != 1 || TS_RESP_CTX_set_clock_precision_digits(ctx, 3) != 1) goto done;
    TS_RESP_CTX_set_time_cb(ctx, cx_ts_time_cb, &clock);
    TS_RESP_CTX_set_serial_cb(ctx, cx_ts_serial_cb, NULL);
    if ((resp = TS_RESP_create_response(ctx, req_bio)) == NULL) goto done;
    if (ASN1_INTEGER_get(TS_STATUS_INFO_get0_status(TS_RESP_get_status_info(resp))) != TS_STATUS_GRANTED) goto done;
    result = i2d_PKCS7(TS_RESP_get_token(resp), out);
done:
    TS_RESP_free(resp); TS_RESP_CTX_free(ctx); BIO_free(req_bio); ASN1_OBJECT_free(policy);
    X509_ALGOR_free(algo); TS_MSG_IMPRINT_free(mi); TS_REQ_free(req);
    return result;
}

/// Why a token was refused by cx_ts_verify (0 = valid).
enum {
    CX_TS_OK = 0,
    CX_TS_NOT_DER = 1,          // not one DER ContentInfo, or not exactly as the platform's TSA encodes one
    CX_TS_UNEXPECTED_PARTS = 2, // other than one certificate, one signer, no CRLs and no unsigned attributes
    CX_TS_INVALID = 3,          // OpenSSL's TS verification failed (signature, chain, imprint, ESS)
};

/// The ESS signing-certificate attributes (v1 and v2) of a signer, as OpenSSL's own TS verification reads them.
static inline int cx_ess_check(PKCS7_SIGNER_INFO *si, STACK_OF(X509) *chain) {
    ESS_SIGNING_CERT *ss = NULL;
    ESS_SIGNING_CERT_V2 *ssv2 = NULL;
    int ok = 1;
    ASN1_TYPE *v1 = PKCS7_get_signed_attribute(si, NID_id_smime_aa_signingCertificate);
    ASN1_TYPE *v2 = PKCS7_get_signed_attribute(si, NID_id_smime_aa_signingCertificateV2);
    if (v1 != NULL) {
        const unsigned char *p = v1->type == V_ASN1_SEQUENCE ? v1->value.sequence->data : NULL;
        if (p == NULL || (ss = d2i_ESS_SIGNING_CERT(NULL, &p, v1->value.sequence->length)) == NULL) ok = 0;
    }
    if (ok && v2 != NULL) {
        const unsigned char *p = v2->type == V_ASN1_SEQUENCE ? v2->value.sequence->data : NULL;
        if (p == NULL || (ssv2 = d2i_ESS_SIGNING_CERT_V2(NULL, &p, v2->value.sequence->length)) == NULL) ok = 0;
    }
    ok = ok && OSSL_ESS_check_signing_certs(ss, ssv2, chain, 1) > 0;
    ESS_SIGNING_CERT_free(ss);
    ESS_SIGNING_CERT_V2_free(ssv2);
    return ok;
}

/// True when the signer info names `cert` byte for byte. OpenSSL finds the signer by comparing names in a canonical
/// form (case and spacing folded), and X509_NAME keeps the bytes it was read from, so a re-encoding does not notice
/// a changed letter: this unsigned field is pinned here instead.
static inline int cx_signer_names_exactly(PKCS7_SIGNER_INFO *si, X509 *cert) {
    unsigned char *a = NULL, *b = NULL;
    int a_len = i2d_X509_NAME(si->issuer_and_serial->issuer, &a);
    int b_len = i2d_X509_NAME(X509_get_issuer_name(cert), &b);
    int same = a_len > 0 && a_len == b_len && memcmp(a, b, (size_t)a_len) == 0
        && ASN1_INTEGER_cmp(si->issuer_and_serial->serial, X509_get0_serialNumber(cert)) == 0;
    OPENSSL_free(a);
    OPENSSL_free(b);
    return same;
}

/// Verifies a time-stamp token against a store holding the one trust anchor and a SHA-256 imprint. Certificate
/// validity periods are not checked here (the caller checks them at the token's own time).
///
/// `known` (with its DER) is a TSA certificate this caller already found to chain to `anchor` for time-stamping (or
/// NULL): when the token carries exactly that certificate (same DER), the chain is not built again, and the ESS check
/// and the signature are checked against `known` and `anchor` the way OpenSSL's TS verification checks them against
/// the chain it builds. `keyless` is a library context without providers (see below), or NULL. On success *tsa (X509_free) is the TSA certificate, *was_known says whether it was `known`, and
/// *gen_time (OPENSSL_free) the genTime as its GeneralizedTime text.
static inline int cx_ts_verify(const unsigned char *der, long der_len, X509_STORE *store, X509 *anchor, X509 *known,
                               const unsigned char *known_der, long known_der_len, OSSL_LIB_CTX *keyless,
                               const unsigned char *imprint, long imprint_len, X509 **tsa, int *was_known,
                               char **gen_time) {
    *tsa = NULL; *gen_time = NULL; *was_known = 0;
    const unsigned char *cursor = der;
    PKCS7 *token = NULL;
    if (known != NULL && keyless != NULL) {
        // OpenSSL 3.0 decodes a certificate's public key through its provider decoders, which costs more than the
        // rest of the token: read the token in a library context without providers, so the carried certificate's
        // key is left undecoded. Its key is then never used: only a certificate byte-identical to `known` goes on
        // (with `known`'s key); any other token is read again below, in full.
        OSSL_LIB_CTX *previous = OSSL_LIB_CTX_set0_default(keyless);
        ERR_set_mark();
        token = d2i_PKCS7(NULL, &cursor, der_len);
        ERR_pop_to_mark();
        OSSL_LIB_CTX_set0_default(previous);
        if (token != NULL && token->d.sign != NULL && PKCS7_type_is_signed(token) && sk_X509_num(token->d.sign->cert) == 1) {
            unsigned char *carried = NULL;
            int carried_len = i2d_X509(sk_X509_value(token->d.sign->cert, 0), &carried);
            int same = carried_len > 0 && carried_len == known_der_len && memcmp(carried, known_der, (size_t)carried_len) == 0;
            OPENSSL_free(carried);
            if (!same) { PKCS7_free(token); token = NULL; }
        } else {
            PKCS7_free(token);
            token = NULL;
        }
        if (token == NULL) { known = NULL; cursor = der; }
    }
    if (token == NULL) {
        known = NULL;
        token = d2i_PKCS7(NULL, &cursor, der_len);
    }
    if (token == NULL) return CX_TS_NOT_DER;
    int result = CX_TS_NOT_DER;
    unsigned char *again = NULL;
    int again_len = i2d_PKCS7(token, &again);
    TS_VERIFY_CTX *ctx = NULL;
    TS_TST_INFO *info = NULL;
    BIO *content = NULL;
    STACK_OF(X509) *chain = NULL;
    if (cursor != der + der_len || again_len != der_len || memcmp(again, der, (size_t)der_len) != 0) goto done;
    result = CX_TS_UNEXPECTED_PARTS;
    if (!PKCS7_type_is_signed(token) || token->d.sign == NULL) goto done;
    STACK_OF(X509) *certs = token->d.sign->cert;
    STACK_OF(PKCS7_SIGNER_INFO) *signers = PKCS7_get_signer_info(token);
    if (sk_X509_num(certs) != 1 || sk_PKCS7_SIGNER_INFO_num(signers) != 1 || token->d.sign->crl != NULL) goto done;
    PKCS7_SIGNER_INFO *signer = sk_PKCS7_SIGNER_INFO_value(signers, 0);
    if (sk_X509_ATTRIBUTE_num(signer->unauth_attr) > 0) goto done;
    // The parts the TSA's signature does not cover, exactly as the platform's TSA (P-256, SHA-256) writes them:
    // versions, the digestAlgorithms set, the signature algorithm and the signer's issuer and serial.
    if (ASN1_INTEGER_get(token->d.sign->version) != 3 || ASN1_INTEGER_get(signer->version) != 1) goto done;
    STACK_OF(X509_ALGOR) *digests = token->d.sign->md_algs;
    if (sk_X509_ALGOR_num(digests) != 1 || X509_ALGOR_cmp(sk_X509_ALGOR_value(digests, 0), signer->digest_alg) != 0) goto done;
    if (OBJ_obj2nid(signer->digest_alg->algorithm) != NID_sha256) goto done;
    if (OBJ_obj2nid(signer->digest_enc_alg->algorithm) != NID_ecdsa_with_SHA256 || signer->digest_enc_alg->parameter != NULL) goto done;
    X509 *carried = sk_X509_value(certs, 0);
    if (!cx_signer_names_exactly(signer, carried)) goto done;
    result = CX_TS_INVALID;
    if ((ctx = TS_VERIFY_CTX_new()) == NULL) goto done;
    unsigned char *copy = OPENSSL_memdup(imprint, (size_t)imprint_len);
    if (copy == NULL) goto done;
    TS_VERIFY_CTX_set_imprint(ctx, copy, imprint_len);
    if (known != NULL) {
        // The chain of `known` was built before; the rest of TS_VFY_SIGNATURE, against it.
        if ((chain = sk_X509_new_null()) == NULL || !sk_X509_push(chain, known) || !sk_X509_push(chain, anchor)) goto done;
        if (PKCS7_get_detached(token) || !cx_ess_check(signer, chain)) goto done;
        if ((content = PKCS7_dataInit(token, NULL)) == NULL) goto done;
        unsigned char buffer[4096];
        while (BIO_read(content, buffer, sizeof buffer) > 0) continue;
        if (PKCS7_signatureVerify(content, token, signer, known) != 1) goto done;
        TS_VERIFY_CTX_set_flags(ctx, TS_VFY_VERSION | TS_VFY_IMPRINT);
        *was_known = 1;
    } else {
        // TS_VERIFY_CTX_free frees the store it holds: lend it a reference.
        if (store == NULL || X509_STORE_up_ref(store) != 1) goto done;
        TS_VERIFY_CTX_set_store(ctx, store);
        TS_VERIFY_CTX_set_flags(ctx, TS_VFY_VERSION | TS_VFY_SIGNATURE | TS_VFY_IMPRINT);
    }
    if (TS_RESP_verify_token(ctx, token) != 1) goto done;
    if ((info = PKCS7_to_TS_TST_INFO(token)) == NULL) goto done;
    const ASN1_GENERALIZEDTIME *time = TS_TST_INFO_get_time(info);
    if (time == NULL) goto done;
    *gen_time = OPENSSL_strndup((const char *)ASN1_STRING_get0_data(time), (size_t)ASN1_STRING_length(time));
    X509 *signer_certificate = *was_known ? known : carried;
    if (*gen_time == NULL || X509_up_ref(signer_certificate) != 1) goto done;
    *tsa = signer_certificate;
    result = CX_TS_OK;
done:
    if (result != CX_TS_OK) { OPENSSL_free(*gen_time); *gen_time = NULL; *tsa = NULL; *was_known = 0; }
    sk_X509_free(chain); BIO_free_all(content);
    TS_TST_INFO_free(info); TS_VERIFY_CTX_free(ctx); OPENSSL_free(again); PKCS7_free(token);
    return result;
}

/// A library context holding only the null provider: decoding a key in it fails at once. NULL when OpenSSL cannot
/// make one.
static inline OSSL_LIB_CTX *cx_keyless_context(void) {
    OSSL_LIB_CTX *context = OSSL_LIB_CTX_new();
    if (context == NULL) return NULL;
    if (OSSL_PROVIDER_load(context, "null") == NULL) {
        OSSL_LIB_CTX_free(context);
        return NULL;
    }
    return context;
}

/// A certificate store trusting only `anchor`, without checking validity periods (callers judge those at the
/// signing time themselves). NULL when OpenSSL cannot make one.
static inline X509_STORE *cx_anchor_store(X509 *anchor) {
    X509_STORE *store = X509_STORE_new();
    if (store == NULL) return NULL;
    if (X509_STORE_add_cert(store, anchor) != 1 || X509_STORE_set_flags(store, X509_V_FLAG_NO_CHECK_TIME) != 1) {
        X509_STORE_free(store);
        return NULL;
    }
    return store;
}

/// True when the certificate carries extended key usage timeStamping, marked critical (RFC 3161 2.3).
static inline int cx_is_time_stamping_certificate(X509 *cert) {
    int critical = 0;
    EXTENDED_KEY_USAGE *usage = X509_get_ext_d2i(cert, NID_ext_key_usage, &critical, NULL);
    if (usage == NULL) return 0;
    int ok = critical == 1 && sk_ASN1_OBJECT_num(usage) == 1 && OBJ_obj2nid(sk_ASN1_OBJECT_value(usage, 0)) == NID_time_stamp;
    EXTENDED_KEY_USAGE_free(usage);
    return ok;
}

static inline int cx_sk_X509_REVOKED_num(const STACK_OF(X509_REVOKED) *stack) { return sk_X509_REVOKED_num(stack); }
static inline X509_REVOKED *cx_sk_X509_REVOKED_value(const STACK_OF(X509_REVOKED) *stack, int index) {
    return sk_X509_REVOKED_value(stack, index);
}

static inline X509_REVOKED *cx_revoked(const char *serial_hex, time_t when) {
    BIGNUM *bn = NULL;
    if (BN_hex2bn(&bn, serial_hex) == 0) return NULL;
    ASN1_INTEGER *serial = BN_to_ASN1_INTEGER(bn, NULL);
    BN_free(bn);
    ASN1_TIME *date = ASN1_TIME_set(NULL, when);
    X509_REVOKED *revoked = X509_REVOKED_new();
    if (serial == NULL || date == NULL || revoked == NULL || X509_REVOKED_set_serialNumber(revoked, serial) != 1
        || X509_REVOKED_set_revocationDate(revoked, date) != 1) {
        X509_REVOKED_free(revoked);
        revoked = NULL;
    }
    ASN1_INTEGER_free(serial);
    ASN1_TIME_free(date);
    return revoked;
}

#endif
