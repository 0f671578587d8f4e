/* deliver_suppress.c: suppression check with verify (see deliver_suppress.h). */
#include "deliver_suppress.h"

#include <stdlib.h>
#include <string.h>

#include "xd/arena.h"
#include "xd/log.h"
#include "xd/rpc_client.h"

#if __has_include("verify.pb-c.h")
#include "verify.pb-c.h"
#define SND_HAVE_VERIFY 1
#else
#define SND_HAVE_VERIFY 0
#endif

struct snd_suppress {
    xd_client *client;
    int64_t timeout_ms;
};

xd_code snd_suppress_open(const char *url, int64_t timeout_ms, snd_suppress **out, xd_err *err)
{
    snd_suppress *s = calloc(1, sizeof *s);
    if (!s)
        return xd_err_set(err, XD_INTERNAL, "out of memory");
    s->timeout_ms = timeout_ms > 0 ? timeout_ms : 500;
    xd_client_options o = {.default_timeout_ms = s->timeout_ms, .connect_wait_ms = 250};
    xd_code rc = xd_client_open(url, "verify", &o, &s->client, err);
    if (rc != XD_OK) {
        free(s);
        return rc;
    }
    *out = s;
    return XD_OK;
}

void snd_suppress_close(snd_suppress *s)
{
    if (!s)
        return;
    xd_client_close(s->client);
    free(s);
}

int snd_suppress_check(snd_suppress *s, const char *org_id, const char *category,
                       const char *const *addrs, size_t n, int *suppressed)
{
    memset(suppressed, 0, n * sizeof *suppressed);
#if SND_HAVE_VERIFY
    if (n > 1000)
        return -1;
    xd_arena *a = xd_arena_new();
    if (!a)
        return -1;
    Xd__CheckRecipientsRequest *req =
        xd_arena_message(a, &xd__check_recipients_request__descriptor);
    req->org_id = xd_arena_strdup(a, org_id);
    req->category = xd_arena_strdup(a, category);
    req->n_addresses = n;
    req->addresses = (char **)xd_arena_ptrs(a, n);
    for (size_t i = 0; i < n; i++)
        req->addresses[i] = xd_arena_strdup(a, addrs[i]);
    req->check_dns = 0;
    ProtobufCMessage *out = NULL;
    xd_err err;
    Xd__Caller caller = XD__CALLER__INIT; /* a suite service acting for the org */
    caller.role = XD__ROLE__ROLE_SERVICE;
    caller.org_id = (char *)org_id;
    xd_call_options o = {.timeout_ms = s->timeout_ms, .caller = &caller};
    int rc = -1;
    if (xd_client_call(s->client, &o, "CheckRecipients", &req->base,
                       &xd__check_recipients_reply__descriptor, a, &out, &err) == XD_OK) {
        Xd__CheckRecipientsReply *r = (Xd__CheckRecipientsReply *)out;
        if (r->n_checks == n) {
            for (size_t i = 0; i < n; i++)
                suppressed[i] =
                    r->checks[i]->verdict == XD__ADDRESS_VERDICT__ADDRESS_VERDICT_SUPPRESSED;
            rc = 0;
        } else {
            XD_WARN("suppression: verify answered %zu checks for %zu addresses", r->n_checks, n);
        }
    } else {
        XD_WARN("suppression: CheckRecipients failed (%s): postponing", err.message);
    }
    xd_arena_free(a);
    return rc;
#else
    (void)s;
    (void)org_id;
    (void)category;
    (void)addrs;
    return -1;
#endif
}
