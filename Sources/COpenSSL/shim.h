// Shim for OpenSSL 3: deprecated APIs fail to compile, and function-like macros get static inline
// wrappers so Swift can call them.
#ifndef TUITIONGUARD_COPENSSL_SHIM_H
#define TUITIONGUARD_COPENSSL_SHIM_H

#define OPENSSL_API_COMPAT 30000
#define OPENSSL_NO_DEPRECATED 1

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

#endif
