/* outbox_pump.c: events to verify (see outbox_pump.h). */
#include "outbox_pump.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "xd/arena.h"
#include "xd/log.h"
#include "xd/rpc_client.h"

#if __has_include("verify.pb-c.h")
#include "verify.pb-c.h"
#include "xd/clock.h"
#define SND_HAVE_VERIFY 1
#else
#define SND_HAVE_VERIFY 0
#endif

struct snd_pump {
    snd_pump_config cfg;
    snd_queue *q;
    xd_client *client;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop, kicked;
    atomic_uint_fast64_t acked;
};

static void wait_ms(snd_pump *p, int64_t ms)
{
    struct timespec ts;
    xd_monotonic_deadline(ms, &ts);
    pthread_mutex_lock(&p->mu);
    while (!p->stop && !p->kicked)
        if (pthread_cond_timedwait(&p->cv, &p->mu, &ts) == ETIMEDOUT)
            break;
    p->kicked = 0;
    pthread_mutex_unlock(&p->mu);
}

static int stopping(snd_pump *p)
{
    pthread_mutex_lock(&p->mu);
    int s = p->stop;
    pthread_mutex_unlock(&p->mu);
    return s;
}

#if SND_HAVE_VERIFY
/* The TLS description for verify: "TLSv1.3 TLS_AES_256_GCM_SHA384" (the case
 * note shows it), or the version alone when both would pass the 96 bytes
 * that DeliveryEvent.tls_version allows (no real cipher name is that long). */
static char *tls_for_verify(xd_arena *a, const char *full)
{
    size_t n = strlen(full);
    if (n > 96)
        n = strcspn(full, " ");
    return xd_arena_strndup(a, full, n > 96 ? 96 : n);
}

static Xd__DeliveryEvent *to_proto(xd_arena *a, const snd_event *e)
{
    Xd__DeliveryEvent *x = xd_arena_message(a, &xd__delivery_event__descriptor);
    x->event_id = xd_arena_strdup(a, e->event_id);
    x->org_id = xd_arena_strdup(a, e->org_id);
    x->message_id = xd_arena_strdup(a, e->message_id);
    x->recipient = xd_arena_strdup(a, e->address);
    x->state = (Xd__RecipientState)e->state;
    x->event_time_ms = e->event_time_ms;
    x->sequence = e->sequence;
    x->client_id = xd_arena_strdup(a, e->client_id);
    x->module = xd_arena_strdup(a, e->module);
    x->category = xd_arena_strdup(a, e->category == 2 ? "marketing" : "transactional");
    x->message_id_header = e->shared ? xd_arena_printf(a, "<%s@%s>", e->message_id, e->msgid_domain)
                                     : xd_arena_printf(a, "<%s.%s@%s>", e->message_id,
                                                       e->recipient_id, e->msgid_domain);
    x->subject = xd_arena_strdup(a, e->subject);
    x->from = xd_arena_strdup(a, e->from_address);
    if (e->code || e->text[0]) {
        Xd__SmtpReply *r = xd_arena_message(a, &xd__smtp_reply__descriptor);
        r->code = (uint32_t)e->code;
        r->enhanced_code = xd_arena_strdup(a, e->enhanced);
        r->text = xd_arena_strdup(a, e->text);
        x->reply = r;
    }
    x->remote_host = xd_arena_strdup(a, e->remote_host);
    x->tls_version = tls_for_verify(a, e->tls_version);
    x->failure_category = (Xd__FailureCategory)e->failure;
    return x;
}

/* Sends one batch; 1 when acknowledged, 0 when empty, -1 on failure. */
static int pump_once(snd_pump *p)
{
    snd_event *ev = NULL;
    size_t n = 0;
    xd_err err;
    xd_err_clear(&err);
    if (snd_outbox_fetch(p->q, p->cfg.batch, &ev, &n, &err) != XD_OK) {
        XD_WARN("outbox: cannot read events: %s", err.message);
        return -1;
    }
    if (n == 0)
        return 0;
    xd_arena *a = xd_arena_new();
    int rc = -1;
    if (a) {
        Xd__RecordEventsRequest *req = xd_arena_message(a, &xd__record_events_request__descriptor);
        req->n_events = n;
        req->events = (Xd__DeliveryEvent **)xd_arena_ptrs(a, n);
        for (size_t i = 0; i < n; i++)
            req->events[i] = to_proto(a, &ev[i]);
        ProtobufCMessage *out = NULL;
        Xd__Caller caller = XD__CALLER__INIT; /* a suite service acting for every org */
        caller.role = XD__ROLE__ROLE_SERVICE;
        xd_call_options o = {.timeout_ms = p->cfg.timeout_ms, .caller = &caller};
        if (xd_client_call(p->client, &o, "RecordEvents", &req->base,
                           &xd__record_events_reply__descriptor, a, &out, &err) == XD_OK) {
            if (snd_outbox_ack(p->q, ev[n - 1].id, &err) == XD_OK) {
                atomic_fetch_add(&p->acked, n);
                rc = 1;
            } else {
                XD_WARN("outbox: acknowledged events not deleted: %s", err.message);
            }
        } else {
            XD_DEBUG("outbox: RecordEvents failed (%s); %zu events wait", err.message, n);
        }
        xd_arena_free(a);
    }
    free(ev);
    return rc;
}
#else
static int pump_once(snd_pump *p)
{
    (void)p;
    return -1;
}
#endif

static void *pump_main(void *arg)
{
    snd_pump *p = arg;
    int64_t backoff = 0;
    while (!stopping(p)) {
        int r = pump_once(p);
        if (r > 0) {
            backoff = 0;
            continue;
        }
        if (r == 0) {
            backoff = 0;
            wait_ms(p, p->cfg.idle_ms);
            continue;
        }
        backoff = backoff ? backoff * 2 : 100;
        if (backoff > p->cfg.max_backoff_ms)
            backoff = p->cfg.max_backoff_ms;
        wait_ms(p, backoff);
    }
    return NULL;
}

xd_code snd_pump_start(const snd_pump_config *cfg, snd_queue *q, snd_pump **out, xd_err *err)
{
    snd_pump *p = calloc(1, sizeof *p);
    if (!p)
        return xd_err_set(err, XD_INTERNAL, "out of memory");
    p->cfg = *cfg;
    if (!p->cfg.batch || p->cfg.batch > 1000)
        p->cfg.batch = 500;
    if (p->cfg.timeout_ms <= 0)
        p->cfg.timeout_ms = 2000;
    if (p->cfg.idle_ms <= 0)
        p->cfg.idle_ms = 200;
    if (p->cfg.max_backoff_ms <= 0)
        p->cfg.max_backoff_ms = 10000;
    p->q = q;
    xd_client_options o = {.default_timeout_ms = p->cfg.timeout_ms};
    xd_code rc = xd_client_open(cfg->verify_url, "verify", &o, &p->client, err);
    if (rc != XD_OK) {
        free(p);
        return rc;
    }
    if (!SND_HAVE_VERIFY)
        XD_WARN("outbox: built without proto/verify.proto: events wait in the outbox");
    pthread_mutex_init(&p->mu, NULL);
    xd_cond_init_monotonic(&p->cv);
    if (pthread_create(&p->thread, NULL, pump_main, p) != 0) {
        xd_client_close(p->client);
        free(p);
        return xd_err_set(err, XD_INTERNAL, "cannot start the outbox pump");
    }
    *out = p;
    return XD_OK;
}

void snd_pump_kick(snd_pump *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->kicked = 1;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

void snd_pump_stop(snd_pump *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
    pthread_join(p->thread, NULL);
    xd_client_close(p->client);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

uint64_t snd_pump_acked(const snd_pump *p)
{
    return atomic_load(&((snd_pump *)p)->acked);
}
