/*
 * gw_unsubscribe.h: the RFC 8058 one-click unsubscribe behind /u/<token>.
 *
 * check: verifies the token (GET shows a confirmation page with a button);
 * apply: verifies it and adds the suppression at verify (POST, what mail
 * clients send with "List-Unsubscribe=One-Click"). Tokens are verified with
 * xd/optout_token.h and the secret the sender signs with (config
 * optout_secret); without it the answer is UNAVAILABLE, never a fake success.
 * Memory: pages are malloc'd (caller frees). Thread-safety: reentrant.
 */
#ifndef GW_UNSUBSCRIBE_H
#define GW_UNSUBSCRIBE_H

#include "gw_api.h"

typedef struct gw_unsub_result {
    char message[XD_ERR_MESSAGE_MAX]; /* for the page: what happened or what failed */
    char recipient[256];              /* shown masked on the page */
} gw_unsub_result;

xd_code gw_unsubscribe_check(gw_ctx *ctx, const char *token, gw_unsub_result *r);
xd_code gw_unsubscribe_apply(gw_ctx *ctx, const char *token, gw_unsub_result *r);

/* The Unsubscribe method: the same for a module that shows its own page; a
 * token of another organization is NOT_FOUND (operators excepted). */
xd_code gw_unsubscribe_method(gw_ctx *ctx, gw_req *req, const ProtobufCMessage *in,
                              ProtobufCMessage *out, xd_err *err);

/* HTML pages; token is [A-Za-z0-9._-] only (checked by the caller). */
char *gw_unsubscribe_confirm_page(const char *token, const gw_unsub_result *r);
char *gw_unsubscribe_done_page(const gw_unsub_result *r);

#endif
