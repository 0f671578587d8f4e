/* gw_unsubscribe.c: one-click unsubscribe (RFC 8058): verify the token with
 * the secret the sender signs with, add the suppression at verify. */
#include "gw_unsubscribe.h"
#include "verify.pb-c.h"
#include "xd/log.h"
#include "xd/optout_token.h"
#include "xd/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "j***@example.com": enough for the person to recognise, little for others. */
static void mask(const char *addr, char *out, size_t size)
{
    const char *at = strrchr(addr, '@');
    if (!at || at == addr) {
        snprintf(out, size, "***");
        return;
    }
    snprintf(out, size, "%c***%s", addr[0], at);
}

static xd_code verify_token(gw_ctx *ctx, const char *token, xd_optout_claims *c, gw_unsub_result *r)
{
    memset(r, 0, sizeof(*r));
    if (!ctx->optout_secret || !ctx->optout_secret[0]) {
        snprintf(r->message, sizeof(r->message),
                 "Unsubscribing is not configured on this server (optout_secret is not set). "
                 "Nothing was changed; please reply to the email instead.");
        return XD_UNAVAILABLE;
    }
    xd_err err;
    xd_err_clear(&err);
    xd_code rc = xd_optout_token_verify(ctx->optout_secret, strlen(ctx->optout_secret), token,
                                        xd_clock_now_ms(ctx->clock) / 1000, c, &err);
    if (rc == XD_FAILED_PRECONDITION)
        snprintf(r->message, sizeof(r->message),
                 "This unsubscribe link has expired. Nothing was changed; please use the link in "
                 "a more recent email or reply to the email.");
    else if (rc != XD_OK)
        snprintf(r->message, sizeof(r->message),
                 "This unsubscribe link is not valid (damaged or not ours). Nothing was changed; "
                 "copy the whole link from the email.");
    else
        mask(c->recipient, r->recipient, sizeof(r->recipient));
    return rc;
}

xd_code gw_unsubscribe_check(gw_ctx *ctx, const char *token, gw_unsub_result *r)
{
    xd_optout_claims c;
    return verify_token(ctx, token, &c, r);
}

/* Adds the suppression for verified claims; *created says whether it is new. */
static xd_code suppress(gw_ctx *ctx, xd_arena *arena, const xd_optout_claims *c, int *created,
                        xd_err *err)
{
    if (!ctx->backends)
        return xd_err_set(err, XD_UNAVAILABLE, "verify is not configured");
    Xd__Caller caller = XD__CALLER__INIT;
    caller.org_id = (char *)c->org_id;
    caller.role = XD__ROLE__ROLE_SERVICE;
    caller.principal = "gateway-unsubscribe";
    Xd__AddSuppressionRequest rq = XD__ADD_SUPPRESSION_REQUEST__INIT;
    rq.org_id = (char *)c->org_id;
    rq.address = (char *)c->recipient;
    rq.scope = c->scope == XD_OPTOUT_SCOPE_CATEGORY ? (char *)c->category : "";
    rq.reason = XD__SUPPRESSION_REASON__SUPPRESSION_REASON_UNSUBSCRIBED;
    rq.source = "one-click";
    xd_call_options o = {.caller = &caller, .timeout_ms = 5000};
    ProtobufCMessage *rep = NULL;
    xd_code rc =
        xd_client_call(gw_backends_client(ctx->backends, GW_SVC_VERIFY), &o, "AddSuppression",
                       &rq.base, &xd__add_suppression_reply__descriptor, arena, &rep, err);
    if (rc == XD_OK)
        *created = ((Xd__AddSuppressionReply *)rep)->created;
    return rc;
}

xd_code gw_unsubscribe_apply(gw_ctx *ctx, const char *token, gw_unsub_result *r)
{
    xd_optout_claims c;
    xd_code rc = verify_token(ctx, token, &c, r);
    if (rc != XD_OK)
        return rc;
    xd_arena *arena = xd_arena_new();
    xd_err err;
    xd_err_clear(&err);
    int created = 0;
    rc = arena ? suppress(ctx, arena, &c, &created, &err) : XD_INTERNAL;
    xd_arena_free(arena);
    if (rc != XD_OK) {
        XD_WARN("one-click unsubscribe for %s not stored: %s", c.org_id, err.message);
        snprintf(r->message, sizeof(r->message),
                 "We could not record your unsubscribe right now. Nothing was changed; please "
                 "try the link again in a few minutes.");
        return rc;
    }
    snprintf(r->message, sizeof(r->message), "%s will receive no more %s emails from this sender.",
             r->recipient, c.scope == XD_OPTOUT_SCOPE_CATEGORY ? "of these" : "marketing");
    return XD_OK;
}

xd_code gw_unsubscribe_method(gw_ctx *ctx, gw_req *req, const ProtobufCMessage *in,
                              ProtobufCMessage *out, xd_err *err)
{
    const Xd__UnsubscribeRequest *rq = (const Xd__UnsubscribeRequest *)in;
    Xd__UnsubscribeReply *rep = (Xd__UnsubscribeReply *)out;
    xd_optout_claims c;
    gw_unsub_result r;
    xd_code rc = verify_token(ctx, rq->token, &c, &r);
    if (rc != XD_OK)
        return xd_err_field(err, rc == XD_UNAVAILABLE ? XD_UNAVAILABLE : XD_INVALID_ARGUMENT,
                            "token", "%s", r.message);
    /* A module may act only on its own organization's tokens. */
    const char *org = NULL;
    rc = gw_target_org(ctx, req, c.org_id, &org, err);
    if (rc != XD_OK)
        return rc;
    int created = 0;
    rc = suppress(ctx, req->arena, &c, &created, err);
    if (rc != XD_OK)
        return rc;
    rep->org_id = xd_arena_strdup(req->arena, c.org_id);
    rep->address = xd_arena_strdup(req->arena, c.recipient);
    rep->scope = xd_arena_strdup(req->arena, c.scope == XD_OPTOUT_SCOPE_CATEGORY ? c.category : "");
    rep->created = created != 0;
    return XD_OK;
}

/* Escapes text for HTML. */
static void put_escaped(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '&':
            fputs("&amp;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        case '\'':
            fputs("&#39;", f);
            break;
        default:
            fputc(*s, f);
        }
    }
}

static char *page(const char *title, const char *message, const char *token)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return NULL;
    fputs("<!doctype html><html><head><meta charset=\"utf-8\"><title>", f);
    put_escaped(f, title);
    fputs("</title></head><body><h1>", f);
    put_escaped(f, title);
    fputs("</h1><p>", f);
    put_escaped(f, message);
    fputs("</p>", f);
    if (token) {
        fputs("<form method=\"post\" action=\"/unsubscribe?t=", f);
        put_escaped(f, token);
        fputs("\"><input type=\"hidden\" name=\"List-Unsubscribe\" value=\"One-Click\">"
              "<button type=\"submit\">Unsubscribe</button></form>",
              f);
    }
    fputs("</body></html>\n", f);
    fclose(f);
    return buf;
}

char *gw_unsubscribe_confirm_page(const char *token, const gw_unsub_result *r)
{
    if (r->message[0])
        return page("Unsubscribe", r->message, NULL);
    char msg[512];
    snprintf(msg, sizeof(msg), "Stop receiving these emails at %s?", r->recipient);
    return page("Unsubscribe", msg, token);
}

char *gw_unsubscribe_done_page(const gw_unsub_result *r)
{
    return page("Unsubscribe", r->message, NULL);
}
