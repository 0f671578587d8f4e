/* gw_unsubscribe.c: one-click unsubscribe (RFC 8058) and its pages. */
#include "gw_unsubscribe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static xd_code not_built(gw_unsub_result *r)
{
    memset(r, 0, sizeof(*r));
    snprintf(r->message, sizeof(r->message),
             "Unsubscribing is not available on this server yet (the opt-out token verifier is "
             "not built in). Nothing was changed; please try again later or reply to the email.");
    return XD_UNAVAILABLE;
}

xd_code gw_unsubscribe_check(gw_ctx *ctx, const char *token, gw_unsub_result *r)
{
    (void)ctx;
    (void)token;
    return not_built(r);
}

xd_code gw_unsubscribe_apply(gw_ctx *ctx, const char *token, gw_unsub_result *r)
{
    (void)ctx;
    (void)token;
    return not_built(r);
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
