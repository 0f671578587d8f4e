/*
 * dkim_sign.h: DKIM signatures (RFC 6376) with rsa-sha256 and
 * ed25519-sha256 (RFC 8463); rsa-sha1 is never produced (RFC 8301).
 *
 * snd_dkim_sign() hashes a complete CRLF message and appends one
 * "DKIM-Signature: ...\r\n" field to out; the caller puts it in front of the
 * message (several signatures: sign the unsigned message with each key and
 * prepend all). Tags appear in the order v a c d i q s t x h bh b, which
 * with the RFC 8463 layout (i=, q=, h_sep " : ") reproduces its example.
 * The key is borrowed. Thread-safety: reentrant; an EVP_PKEY may be shared
 * between threads for signing.
 */
#ifndef SND_DKIM_SIGN_H
#define SND_DKIM_SIGN_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/evp.h>
#include "compose_buf.h"
#include "xd/status.h"

typedef enum snd_dkim_alg {
    SND_DKIM_ALG_NONE = 0,
    SND_DKIM_RSA_SHA256 = 1,
    SND_DKIM_ED25519_SHA256 = 2,
} snd_dkim_alg;

#define SND_DKIM_MAX_FIELDS 512

typedef struct snd_dkim_signer {
    snd_dkim_alg alg;
    EVP_PKEY *pkey;             /* borrowed; RSA for rsa-sha256, ED25519 for ed25519 */
    const char *domain;         /* d= (A-labels) */
    const char *selector;       /* s= */
    const char *identity;       /* i=; NULL = omitted */
    int include_q;              /* adds q=dns/txt */
    int64_t timestamp;          /* t= Unix seconds; < 0 = omitted */
    int64_t expire;             /* x= Unix seconds; 0 = omitted */
    const char *const *headers; /* h= names, in order, as written */
    size_t n_headers;
    const char *h_sep; /* separator in h=; NULL = ":" */
    int simple;        /* c=simple/simple (tests); default relaxed/relaxed */
} snd_dkim_signer;

/* The h= list the composer signs: every header the issue names, Sender and
 * Content-Transfer-Encoding, and From twice (over-signed). */
extern const char *const snd_dkim_default_headers[];
extern const size_t snd_dkim_n_default_headers;

/* Signs msg (headers + CRLF + body, CRLF line ends). Appends the field to
 * out. INVALID_ARGUMENT for a malformed message or signer, INTERNAL when
 * OpenSSL fails. */
xd_code snd_dkim_sign(const snd_dkim_signer *s, const char *msg, size_t len, snd_buf *out,
                      xd_err *err);

/* Raw signature of a SHA-256 digest with the key as the algorithm uses it
 * (PKCS#1 v1.5 for RSA, Ed25519 over the digest for ed25519); for the
 * benchmark's floor and tests. Returns the signature length or -1. */
int snd_dkim_raw_sign(snd_dkim_alg alg, EVP_PKEY *pkey, const unsigned char digest[32],
                      unsigned char *sig, size_t sig_size);

#endif
