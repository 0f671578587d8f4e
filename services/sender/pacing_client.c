/* pacing_client.c: ratelimit calls of the delivery workers (see
 * pacing_client.h). */
#include "pacing_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xd/arena.h"
#include "xd/clock.h"
#include "xd/log.h"
#include "xd/rpc_client.h"
#include "xd/util.h"

#if __has_include("ratelimit.pb-c.h")
#include "ratelimit.pb-c.h"
#define SND_HAVE_RATELIMIT 1
#else
#define SND_HAVE_RATELIMIT 0
#endif

struct snd_pacing {
    xd_client *client;
    int64_t timeout_ms;
};

xd_code snd_pacing_open(const char *url, int64_t timeout_ms, snd_pacing **out, xd_err *err)
{
    snd_pacing *p = calloc(1, sizeof *p);
    if (!p)
        return xd_err_set(err, XD_INTERNAL, "out of memory");
    p->timeout_ms = timeout_ms > 0 ? timeout_ms : 300;
    xd_client_options o = {.default_timeout_ms = p->timeout_ms,
                           .connect_wait_ms = p->timeout_ms < 250 ? p->timeout_ms : 250};
    xd_code rc = xd_client_open(url, "ratelimit", &o, &p->client, err);
    if (rc != XD_OK) {
        free(p);
        return rc;
    }
    if (!SND_HAVE_RATELIMIT)
        XD_WARN("pacing: built without proto/ratelimit.proto: every delivery is postponed");
    *out = p;
    return XD_OK;
}

void snd_pacing_close(snd_pacing *p)
{
    if (!p)
        return;
    xd_client_close(p->client);
    free(p);
}

#if SND_HAVE_RATELIMIT
static Xd__Subject *subject(xd_arena *a, const snd_pace_subject *s)
{
    Xd__Subject *x = xd_arena_message(a, &xd__subject__descriptor);
    x->org_id = xd_arena_strdup(a, s->org_id);
    x->ip = xd_arena_strdup(a, s->ip);
    x->domain = xd_arena_strdup(a, s->domain);
    x->mx_host = xd_arena_strdup(a, s->mx_host);
    return x;
}

static char *fresh_id(xd_arena *a)
{
    char id[33];
    xd_random_hex(id, 16);
    return xd_arena_strdup(a, id);
}

static xd_code call(snd_pacing *p, const char *method, const ProtobufCMessage *req,
                    const ProtobufCMessageDescriptor *rd, xd_arena *a, ProtobufCMessage **rep,
                    xd_err *err)
{
    Xd__Caller caller = XD__CALLER__INIT;
    caller.role = XD__ROLE__ROLE_SERVICE;
    xd_call_options o = {.timeout_ms = p->timeout_ms, .caller = &caller};
    return xd_client_call(p->client, &o, method, req, rd, a, rep, err);
}
#endif

snd_pace_rc snd_pacing_acquire(snd_pacing *p, const snd_pace_subject *s, snd_lease *lease,
                               int64_t *retry_after_ms)
{
    memset(lease, 0, sizeof *lease);
    *retry_after_ms = 0;
#if SND_HAVE_RATELIMIT
    xd_arena *a = xd_arena_new();
    if (!a)
        return SND_PACE_UNREACHABLE;
    Xd__AcquireConnectionRequest *req =
        xd_arena_message(a, &xd__acquire_connection_request__descriptor);
    req->request_id = fresh_id(a);
    req->subject = subject(a, s);
    ProtobufCMessage *out = NULL;
    xd_err err;
    snd_pace_rc rc = SND_PACE_UNREACHABLE;
    if (call(p, "AcquireConnection", &req->base, &xd__acquire_connection_reply__descriptor, a, &out,
             &err) == XD_OK) {
        Xd__AcquireConnectionReply *r = (Xd__AcquireConnectionReply *)out;
        if (r->granted) {
            xd_strlcpy(lease->lease_id, r->lease_id, sizeof lease->lease_id);
            lease->messages = r->messages_per_connection;
            lease->held = 1;
            lease->renewed_at_ms = xd_monotonic_ms();
            /* expires_at_ms is by ratelimit's wall clock: its distance from
             * ours now is the TTL (hosts share time closely enough). */
            int64_t ttl = r->expires_at_ms - xd_clock_now_ms(xd_clock_system());
            lease->ttl_ms = r->expires_at_ms > 0 && ttl > 0 ? ttl : 0;
            rc = SND_PACE_GRANTED;
        } else {
            *retry_after_ms = r->retry_after_ms;
            rc = SND_PACE_DENIED;
        }
    } else {
        XD_WARN("pacing: AcquireConnection failed (%s): postponing", err.message);
    }
    xd_arena_free(a);
    return rc;
#else
    (void)p;
    (void)s;
    return SND_PACE_UNREACHABLE;
#endif
}

void snd_pacing_release(snd_pacing *p, snd_lease *lease)
{
#if SND_HAVE_RATELIMIT
    if (!lease->held)
        return;
    xd_arena *a = xd_arena_new();
    if (a) {
        Xd__ReleaseConnectionRequest *req =
            xd_arena_message(a, &xd__release_connection_request__descriptor);
        req->lease_id = xd_arena_strdup(a, lease->lease_id);
        ProtobufCMessage *out = NULL;
        xd_err err;
        if (call(p, "ReleaseConnection", &req->base, &xd__release_connection_reply__descriptor, a,
                 &out, &err) != XD_OK)
            XD_WARN("pacing: ReleaseConnection failed (%s); the lease expires by itself",
                    err.message);
        xd_arena_free(a);
    }
#else
    (void)p;
#endif
    lease->held = 0;
}

int snd_pacing_renew_due(const snd_lease *lease, int64_t now_ms)
{
    return lease->held && lease->ttl_ms > 0 && now_ms - lease->renewed_at_ms >= lease->ttl_ms / 3;
}

snd_pace_rc snd_pacing_renew(snd_pacing *p, snd_lease *lease)
{
    if (!lease->held)
        return SND_PACE_DENIED;
#if SND_HAVE_RATELIMIT
    xd_arena *a = xd_arena_new();
    if (!a)
        return SND_PACE_UNREACHABLE;
    Xd__RenewConnectionRequest *req =
        xd_arena_message(a, &xd__renew_connection_request__descriptor);
    req->lease_id = xd_arena_strdup(a, lease->lease_id);
    ProtobufCMessage *out = NULL;
    xd_err err;
    xd_err_clear(&err);
    snd_pace_rc rc = SND_PACE_UNREACHABLE;
    int64_t sent_at = xd_monotonic_ms();
    xd_code c = call(p, "RenewConnection", &req->base, &xd__renew_connection_reply__descriptor, a,
                     &out, &err);
    if (c == XD_OK) {
        Xd__RenewConnectionReply *r = (Xd__RenewConnectionReply *)out;
        int64_t ttl = r->expires_at_ms - xd_clock_now_ms(xd_clock_system());
        if (ttl > 0)
            lease->ttl_ms = ttl;
        lease->renewed_at_ms = sent_at;
        rc = SND_PACE_GRANTED;
        XD_DEBUG("pacing: lease %.8s... renewed for %lld ms", lease->lease_id,
                 (long long)lease->ttl_ms);
    } else if (c == XD_NOT_FOUND || c == XD_FAILED_PRECONDITION || c == XD_INVALID_ARGUMENT) {
        XD_INFO("pacing: lease %.8s... not renewed (%s): closing its connection", lease->lease_id,
                err.message);
        lease->held = 0; /* gone at ratelimit: nothing to release */
        rc = SND_PACE_DENIED;
    } else {
        XD_WARN("pacing: RenewConnection failed (%s)", err.message);
    }
    xd_arena_free(a);
    return rc;
#else
    (void)p;
    return SND_PACE_UNREACHABLE;
#endif
}

snd_pace_rc snd_pacing_consume(snd_pacing *p, const snd_pace_subject *s, unsigned n,
                               unsigned *granted, int64_t *retry_after_ms)
{
    *granted = 0;
    *retry_after_ms = 0;
#if SND_HAVE_RATELIMIT
    xd_arena *a = xd_arena_new();
    if (!a)
        return SND_PACE_UNREACHABLE;
    Xd__ConsumeRequest *req = xd_arena_message(a, &xd__consume_request__descriptor);
    req->request_id = fresh_id(a);
    req->subject = subject(a, s);
    req->recipients = n;
    req->allow_partial = 1;
    ProtobufCMessage *out = NULL;
    xd_err err;
    snd_pace_rc rc = SND_PACE_UNREACHABLE;
    if (call(p, "Consume", &req->base, &xd__consume_reply__descriptor, a, &out, &err) == XD_OK) {
        Xd__ConsumeReply *r = (Xd__ConsumeReply *)out;
        *granted = r->granted > n ? n : r->granted;
        *retry_after_ms = r->retry_after_ms < 0 ? 3600000 : r->retry_after_ms;
        rc = *granted > 0 ? SND_PACE_GRANTED : SND_PACE_DENIED;
    } else {
        XD_WARN("pacing: Consume failed (%s): postponing", err.message);
    }
    xd_arena_free(a);
    return rc;
#else
    (void)p;
    (void)s;
    (void)n;
    return SND_PACE_UNREACHABLE;
#endif
}

void snd_pacing_feedback(snd_pacing *p, const snd_pace_subject *s, snd_feedback_kind kind, int code,
                         const char *enhanced, const char *text, unsigned n)
{
#if SND_HAVE_RATELIMIT
    xd_arena *a = xd_arena_new();
    if (!a)
        return;
    Xd__FeedbackRequest *req = xd_arena_message(a, &xd__feedback_request__descriptor);
    req->event_id = fresh_id(a);
    req->subject = subject(a, s);
    req->kind = (Xd__FeedbackKind)kind;
    Xd__SmtpReply *r = xd_arena_message(a, &xd__smtp_reply__descriptor);
    r->code = code > 0 ? (uint32_t)code : 0;
    r->enhanced_code = xd_arena_strdup(a, enhanced);
    r->text = xd_arena_strdup(a, text);
    req->smtp = r;
    req->recipients = n;
    ProtobufCMessage *out = NULL;
    xd_err err;
    if (call(p, "Feedback", &req->base, &xd__feedback_reply__descriptor, a, &out, &err) != XD_OK)
        XD_DEBUG("pacing: Feedback not delivered (%s)", err.message);
    xd_arena_free(a);
#else
    (void)p;
    (void)s;
    (void)kind;
    (void)code;
    (void)enhanced;
    (void)text;
    (void)n;
#endif
}
