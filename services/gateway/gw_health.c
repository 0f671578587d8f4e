/* gw_health.c: SuiteHealth asks every service's Health in parallel. */
#include "gw_api.h"
#include "common.pb-c.h"
#include "gw_metrics.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define HEALTH_DEFAULT_MS 1000
#define HEALTH_MAX_MS     10000

typedef struct probe {
    gw_ctx *ctx;
    gw_service svc;
    int64_t timeout_ms;
    xd_arena *arena; /* own arena: arenas are single-threaded */
    Xd__HealthReply *reply;
    xd_code code;
    xd_err err;
    int64_t latency_ms;
} probe;

static void *run_probe(void *arg)
{
    probe *p = arg;
    Xd__HealthRequest rq = XD__HEALTH_REQUEST__INIT;
    Xd__Caller caller = XD__CALLER__INIT;
    caller.role = XD__ROLE__ROLE_SERVICE;
    caller.principal = "gateway";
    xd_call_options o = {.timeout_ms = p->timeout_ms, .caller = &caller};
    int64_t t0 = xd_monotonic_ms();
    ProtobufCMessage *reply = NULL;
    xd_err_clear(&p->err);
    p->code = xd_client_call(gw_backends_client(p->ctx->backends, p->svc), &o, "Health", &rq.base,
                             &xd__health_reply__descriptor, p->arena, &reply, &p->err);
    p->latency_ms = xd_monotonic_ms() - t0;
    p->reply = (Xd__HealthReply *)reply;
    return NULL;
}

xd_code gw_suite_health(gw_ctx *ctx, gw_req *req, const ProtobufCMessage *in, ProtobufCMessage *out,
                        xd_err *err)
{
    const Xd__SuiteHealthRequest *r = (const Xd__SuiteHealthRequest *)in;
    Xd__SuiteHealthReply *rep = (Xd__SuiteHealthReply *)out;
    int64_t timeout = r->timeout_ms ? r->timeout_ms : HEALTH_DEFAULT_MS;
    if (timeout > HEALTH_MAX_MS)
        return xd_err_field(err, XD_INVALID_ARGUMENT, "timeout_ms", "timeout_ms is at most %d",
                            HEALTH_MAX_MS);
    if (req->deadline_ms) {
        int64_t left = req->deadline_ms - xd_monotonic_ms() - 20;
        if (left < timeout)
            timeout = left > 1 ? left : 1;
    }
    int n_svc = ctx->backends ? GW_SVC_COUNT : 0;
    probe probes[GW_SVC_COUNT];
    pthread_t threads[GW_SVC_COUNT];
    int started[GW_SVC_COUNT] = {0};
    for (int i = 0; i < n_svc; i++) {
        probes[i] = (probe){.ctx = ctx, .svc = (gw_service)i, .timeout_ms = timeout};
        probes[i].arena = xd_arena_new();
        if (probes[i].arena && pthread_create(&threads[i], NULL, run_probe, &probes[i]) == 0)
            started[i] = 1;
    }
    rep->services = (Xd__ServiceHealth **)xd_arena_ptrs(req->arena, (size_t)n_svc + 1);
    Xd__ServiceHealth *self = xd_arena_message(req->arena, &xd__service_health__descriptor);
    self->name = "gateway";
    self->url = xd_arena_strdup(req->arena, ctx->self_url ? ctx->self_url : "");
    self->up = 1;
    self->health = xd_arena_message(req->arena, &xd__health_reply__descriptor);
    gw_fill_self_health(ctx, req->arena, self->health);
    rep->services[rep->n_services++] = self;
    rep->all_up = 1;
    for (int i = 0; i < n_svc; i++) {
        probe *p = &probes[i];
        Xd__ServiceHealth *s = xd_arena_message(req->arena, &xd__service_health__descriptor);
        s->name = (char *)gw_service_name(p->svc);
        s->url = xd_arena_strdup(req->arena, gw_backends_url(ctx->backends, p->svc));
        if (started[i]) {
            pthread_join(threads[i], NULL);
            s->latency_ms = (uint32_t)p->latency_ms;
            if (p->code == XD_OK && p->reply) {
                /* Copy out of the probe's arena into the call's. */
                size_t n = protobuf_c_message_get_packed_size(&p->reply->base);
                uint8_t *buf = xd_arena_alloc(req->arena, n ? n : 1);
                protobuf_c_message_pack(&p->reply->base, buf);
                s->health = xd__health_reply__unpack(xd_arena_allocator(req->arena), n, buf);
                s->up = s->health && s->health->status == XD__HEALTH_REPLY__STATUS__STATUS_SERVING;
                if (!s->up)
                    s->error = "NOT_SERVING";
            } else {
                s->error =
                    xd_arena_printf(req->arena, "%s: %s", xd_code_name(p->code), p->err.message);
            }
        } else {
            s->error = "INTERNAL: could not start the probe";
        }
        xd_arena_free(p->arena);
        if (!s->up)
            rep->all_up = 0;
        /* The latest view of each service, for GET /metrics. */
        char labels[64];
        snprintf(labels, sizeof(labels), "service=\"%s\"", s->name);
        gw_metrics_set_gauge(ctx->metrics, "xd_service_up", labels, s->up ? 1 : 0);
        if (s->health) {
            gw_metrics_set_gauge(ctx->metrics, "xd_service_rss_kib", labels,
                                 (double)s->health->rss_kib);
            gw_metrics_set_gauge(ctx->metrics, "xd_service_in_flight", labels,
                                 (double)s->health->in_flight);
        }
        rep->services[rep->n_services++] = s;
    }
    return XD_OK;
}
