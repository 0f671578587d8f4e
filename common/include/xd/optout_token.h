/*
 * optout_token.h: the opt-out (unsubscribe) token carried in every
 * message's List-Unsubscribe link (RFC 8058) and footer.
 *
 * A token says "recipient R of organization O opts out of scope S" and is
 * valid until an expiry; it is an HMAC-SHA256 over those claims with a
 * secret from configuration, so the gateway verifies it without a database
 * lookup. Wire form (URL-safe, no padding):
 *   base64url(payload) "." base64url(HMAC-SHA256(secret, "xd-optout-v1\n" payload))
 * payload = "1\n" org "\n" recipient "\n" scope "\n" category "\n" expiry
 * (scope "org" or "category"; expiry in Unix seconds, decimal).
 *
 * Scope: ORG = every non-essential message of the organization (what a
 * marketing message's link covers); CATEGORY = one category, named by the
 * sender (a transactional module's own notices).
 * Memory: all values are copied into the caller's structs/buffers.
 * Thread-safety: pure functions.
 */
#ifndef XD_OPTOUT_TOKEN_H
#define XD_OPTOUT_TOKEN_H

#include <stddef.h>
#include <stdint.h>
#include "xd/status.h"

#define XD_OPTOUT_ORG_MAX       128 /* octets, without NUL */
#define XD_OPTOUT_RECIPIENT_MAX 254
#define XD_OPTOUT_CATEGORY_MAX  64
#define XD_OPTOUT_TOKEN_MAX     1024 /* buffer size that always fits a token */
#define XD_OPTOUT_SECRET_MIN    32   /* octets of secret at least */

typedef enum xd_optout_scope {
    XD_OPTOUT_SCOPE_UNSPECIFIED = 0,
    XD_OPTOUT_SCOPE_ORG = 1,
    XD_OPTOUT_SCOPE_CATEGORY = 2,
} xd_optout_scope;

typedef struct xd_optout_claims {
    char org_id[XD_OPTOUT_ORG_MAX + 1];
    char recipient[XD_OPTOUT_RECIPIENT_MAX + 1];
    xd_optout_scope scope;
    char category[XD_OPTOUT_CATEGORY_MAX + 1]; /* "" for ORG */
    int64_t expires_at_s;                      /* Unix seconds */
} xd_optout_claims;

/* Makes a token for claims into out (out_size >= XD_OPTOUT_TOKEN_MAX is
 * always enough). INVALID_ARGUMENT naming the claim when a value is empty,
 * too long or contains CR/LF/NUL, or when the secret is shorter than
 * XD_OPTOUT_SECRET_MIN. */
xd_code xd_optout_token_make(const void *secret, size_t secret_len, const xd_optout_claims *claims,
                             char *out, size_t out_size, xd_err *err);

/* Verifies token at time now_s and on success writes what it covers to
 * *out. INVALID_ARGUMENT: not a token; UNAUTHENTICATED: the MAC does not
 * match (forged, altered, or another secret); FAILED_PRECONDITION: expired.
 * The MAC is compared in constant time. */
xd_code xd_optout_token_verify(const void *secret, size_t secret_len, const char *token,
                               int64_t now_s, xd_optout_claims *out, xd_err *err);

#endif
