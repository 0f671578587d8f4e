/* optout_token.c: HMAC-SHA256 opt-out tokens (see xd/optout_token.h). */
#include "xd/optout_token.h"

#include <inttypes.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/params.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xd/util.h"

#define PAYLOAD_MAX 512
#define MAC_LEN     32

static const char B64URL[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
static const char MAC_PREFIX[] = "xd-optout-v1\n";

/* Unpadded base64url of n bytes into out; returns the length or -1. */
static long b64url_encode(const unsigned char *in, size_t n, char *out, size_t out_size)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)in[i] << 16;
        size_t left = n - i;
        if (left > 1)
            v |= (unsigned)in[i + 1] << 8;
        if (left > 2)
            v |= in[i + 2];
        size_t k = left > 2 ? 4 : left + 1;
        if (o + k + 1 > out_size)
            return -1;
        for (size_t j = 0; j < k; j++)
            out[o++] = B64URL[(v >> (18 - 6 * j)) & 63];
    }
    out[o] = '\0';
    return (long)o;
}

static long b64url_decode(const char *in, size_t n, unsigned char *out, size_t out_size)
{
    unsigned v = 0;
    int bits = 0;
    size_t o = 0;
    if (n % 4 == 1)
        return -1;
    for (size_t i = 0; i < n; i++) {
        const char *at = in[i] ? strchr(B64URL, in[i]) : NULL;
        if (!at)
            return -1;
        v = (v << 6) | (unsigned)(at - B64URL);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o >= out_size)
                return -1;
            out[o++] = (unsigned char)((v >> bits) & 0xFF);
        }
    }
    /* Leftover bits must be zero: one canonical encoding per token. */
    if (bits && (v & ((1u << bits) - 1)))
        return -1;
    return (long)o;
}

/* HMAC fetched once: OpenSSL 3's one-shot HMAC() fetches the algorithms
 * from a locked table on every call. */
static EVP_MAC *hmac_alg;
static pthread_once_t hmac_once = PTHREAD_ONCE_INIT;

static void fetch_hmac(void)
{
    hmac_alg = EVP_MAC_fetch(NULL, "HMAC", NULL);
}

static int compute_mac(const void *secret, size_t secret_len, const unsigned char *payload,
                       size_t n, unsigned char mac[MAC_LEN])
{
    pthread_once(&hmac_once, fetch_hmac);
    if (!hmac_alg)
        return -1;
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
        OSSL_PARAM_construct_end(),
    };
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(hmac_alg);
    size_t len = 0;
    int ok = ctx && EVP_MAC_init(ctx, secret, secret_len, params) == 1 &&
             EVP_MAC_update(ctx, (const unsigned char *)MAC_PREFIX, sizeof(MAC_PREFIX) - 1) == 1 &&
             EVP_MAC_update(ctx, payload, n) == 1 && EVP_MAC_final(ctx, mac, &len, MAC_LEN) == 1 &&
             len == MAC_LEN;
    EVP_MAC_CTX_free(ctx);
    return ok ? 0 : -1;
}

static xd_code check_claim(const char *name, const char *v, size_t max, int may_be_empty,
                           xd_err *err)
{
    size_t n = strlen(v);
    if (!may_be_empty && n == 0)
        return xd_err_field(err, XD_INVALID_ARGUMENT, name, "opt-out token %s is empty", name);
    if (n > max)
        return xd_err_field(err, XD_INVALID_ARGUMENT, name,
                            "opt-out token %s is %zu octets; at most %zu", name, n, max);
    if (xd_has_crlf_nul(v, n))
        return xd_err_field(err, XD_INVALID_ARGUMENT, name, "opt-out token %s contains CR or LF",
                            name);
    return XD_OK;
}

xd_code xd_optout_token_make(const void *secret, size_t secret_len, const xd_optout_claims *c,
                             char *out, size_t out_size, xd_err *err)
{
    xd_code rc;
    if (secret_len < XD_OPTOUT_SECRET_MIN)
        return xd_err_field(err, XD_INVALID_ARGUMENT, "secret",
                            "opt-out secret is %zu octets; at least %d needed", secret_len,
                            XD_OPTOUT_SECRET_MIN);
    if ((rc = check_claim("org_id", c->org_id, XD_OPTOUT_ORG_MAX, 0, err)) != XD_OK ||
        (rc = check_claim("recipient", c->recipient, XD_OPTOUT_RECIPIENT_MAX, 0, err)) != XD_OK ||
        (rc = check_claim("category", c->category, XD_OPTOUT_CATEGORY_MAX, 1, err)) != XD_OK)
        return rc;
    if (c->scope != XD_OPTOUT_SCOPE_ORG && c->scope != XD_OPTOUT_SCOPE_CATEGORY)
        return xd_err_field(err, XD_INVALID_ARGUMENT, "scope",
                            "opt-out scope must be ORG or CATEGORY");
    if (c->scope == XD_OPTOUT_SCOPE_CATEGORY && c->category[0] == '\0')
        return xd_err_field(err, XD_INVALID_ARGUMENT, "category",
                            "opt-out scope CATEGORY needs a category");
    if (c->expires_at_s <= 0)
        return xd_err_field(err, XD_INVALID_ARGUMENT, "expires_at_s", "opt-out expiry must be set");
    char payload[PAYLOAD_MAX];
    int n = snprintf(payload, sizeof payload, "1\n%s\n%s\n%s\n%s\n%" PRId64, c->org_id,
                     c->recipient, c->scope == XD_OPTOUT_SCOPE_ORG ? "org" : "category",
                     c->scope == XD_OPTOUT_SCOPE_ORG ? "" : c->category, c->expires_at_s);
    if (n < 0 || (size_t)n >= sizeof payload)
        return xd_err_set(err, XD_INVALID_ARGUMENT, "opt-out claims too long");
    unsigned char mac[MAC_LEN];
    if (compute_mac(secret, secret_len, (const unsigned char *)payload, (size_t)n, mac) != 0)
        return xd_err_set(err, XD_INTERNAL, "HMAC-SHA256 failed");
    long a = b64url_encode((const unsigned char *)payload, (size_t)n, out, out_size);
    if (a < 0 || (size_t)a + 2 > out_size)
        return xd_err_set(err, XD_INVALID_ARGUMENT, "opt-out token buffer too small");
    out[a] = '.';
    if (b64url_encode(mac, MAC_LEN, out + a + 1, out_size - (size_t)a - 1) < 0)
        return xd_err_set(err, XD_INVALID_ARGUMENT, "opt-out token buffer too small");
    return XD_OK;
}

/* Copies the next '\n'-terminated field of p (up to end) into dst. */
static int take_field(const char **p, const char *end, char *dst, size_t dst_size, int last)
{
    const char *nl = last ? end : memchr(*p, '\n', (size_t)(end - *p));
    if (!nl)
        return -1;
    size_t n = (size_t)(nl - *p);
    if (n >= dst_size)
        return -1;
    memcpy(dst, *p, n);
    dst[n] = '\0';
    *p = last ? end : nl + 1;
    return 0;
}

xd_code xd_optout_token_verify(const void *secret, size_t secret_len, const char *token,
                               int64_t now_s, xd_optout_claims *out, xd_err *err)
{
    const char *dot = token ? strchr(token, '.') : NULL;
    if (!dot || strlen(token) >= XD_OPTOUT_TOKEN_MAX)
        return xd_err_field(err, XD_INVALID_ARGUMENT, "token", "not an opt-out token");
    unsigned char payload[PAYLOAD_MAX], mac[MAC_LEN + 1], want[MAC_LEN];
    long pn = b64url_decode(token, (size_t)(dot - token), payload, sizeof payload);
    long mn = b64url_decode(dot + 1, strlen(dot + 1), mac, sizeof mac);
    if (pn <= 0 || mn != MAC_LEN)
        return xd_err_field(err, XD_INVALID_ARGUMENT, "token", "not an opt-out token");
    if (compute_mac(secret, secret_len, payload, (size_t)pn, want) != 0)
        return xd_err_set(err, XD_INTERNAL, "HMAC-SHA256 failed");
    if (!xd_const_eq(mac, want, MAC_LEN))
        return xd_err_field(err, XD_UNAUTHENTICATED, "token",
                            "opt-out token signature does not match");
    /* Authentic from here on: parse what we wrote ourselves. */
    xd_optout_claims c;
    memset(&c, 0, sizeof c);
    char version[4], scope[16], expiry[24];
    const char *p = (const char *)payload, *end = p + pn;
    if (memchr(p, '\0', (size_t)pn) || take_field(&p, end, version, sizeof version, 0) ||
        strcmp(version, "1") != 0 || take_field(&p, end, c.org_id, sizeof c.org_id, 0) ||
        take_field(&p, end, c.recipient, sizeof c.recipient, 0) ||
        take_field(&p, end, scope, sizeof scope, 0) ||
        take_field(&p, end, c.category, sizeof c.category, 0) ||
        take_field(&p, end, expiry, sizeof expiry, 1))
        return xd_err_field(err, XD_INVALID_ARGUMENT, "token",
                            "opt-out token payload is malformed");
    c.scope = strcmp(scope, "org") == 0        ? XD_OPTOUT_SCOPE_ORG
              : strcmp(scope, "category") == 0 ? XD_OPTOUT_SCOPE_CATEGORY
                                               : XD_OPTOUT_SCOPE_UNSPECIFIED;
    char *e = NULL;
    c.expires_at_s = strtoll(expiry, &e, 10);
    if (c.scope == XD_OPTOUT_SCOPE_UNSPECIFIED || !e || *e || c.expires_at_s <= 0)
        return xd_err_field(err, XD_INVALID_ARGUMENT, "token",
                            "opt-out token payload is malformed");
    if (now_s > c.expires_at_s)
        return xd_err_field(err, XD_FAILED_PRECONDITION, "token",
                            "opt-out token expired at %" PRId64, c.expires_at_s);
    *out = c;
    return XD_OK;
}
