/* bench_rpc.c: requests/s and latency of the xdmail RPC layer against raw NNG
 * req/rep carrying the same ~200-byte protobuf payload, in the same run, at 1
 * and 16 concurrent requests over ipc:// and tcp://127.0.0.1.
 * Usage: bench_rpc [seconds-per-case]. Prints BENCH lines. */
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rpc_test.pb-c.h"
#include "xd/clock.h"
#include "xd/rpc_client.h"
#include "xd/rpc_server.h"

#define MAX_THREADS  16
#define MAX_SAMPLES  2000000
#define RAW_CONTEXTS 64

/* ---- raw NNG echo server: the floor ---- */

typedef struct raw_ctx {
    nng_ctx ctx;
    nng_aio *aio;
    int sending;
} raw_ctx;

static void raw_cb(void *arg)
{
    raw_ctx *c = arg;
    if (nng_aio_result(c->aio) != 0)
        return; /* closed */
    if (!c->sending) {
        nng_msg *m = nng_aio_get_msg(c->aio);
        c->sending = 1;
        nng_aio_set_msg(c->aio, m); /* echo the request */
        nng_ctx_send(c->ctx, c->aio);
    } else {
        c->sending = 0;
        nng_ctx_recv(c->ctx, c->aio);
    }
}

typedef struct raw_server {
    nng_socket sock;
    raw_ctx ctxs[RAW_CONTEXTS];
} raw_server;

static void raw_start(raw_server *s, const char *url)
{
    nng_rep0_open(&s->sock);
    for (int i = 0; i < RAW_CONTEXTS; i++) {
        nng_aio_alloc(&s->ctxs[i].aio, raw_cb, &s->ctxs[i]);
        nng_ctx_open(&s->ctxs[i].ctx, s->sock);
    }
    if (nng_listen(s->sock, url, NULL, 0) != 0) {
        fprintf(stderr, "raw listen %s failed\n", url);
        exit(1);
    }
    for (int i = 0; i < RAW_CONTEXTS; i++)
        nng_ctx_recv(s->ctxs[i].ctx, s->ctxs[i].aio);
}

static void raw_stop(raw_server *s)
{
    nng_close(s->sock);
    for (int i = 0; i < RAW_CONTEXTS; i++)
        nng_aio_free(s->ctxs[i].aio);
}

/* ---- ours ---- */

static xd_code do_echo(xd_call *call, const ProtobufCMessage *req, ProtobufCMessage *reply,
                       xd_err *err)
{
    (void)err;
    ((Xdtest__EchoReply *)reply)->text =
        xd_arena_strdup(xd_call_arena(call), ((const Xdtest__EchoRequest *)req)->text);
    return XD_OK;
}

/* ---- load generator ---- */

typedef struct load {
    const char *url;
    int raw;
    int64_t until_ns;
    nng_socket raw_sock; /* shared req socket for the raw case */
    xd_client *client;
    unsigned char payload[256];
    size_t payload_len;
    char text[201];
    int64_t *samples; /* latency in ns, one slot range per thread */
    long counts[MAX_THREADS];
} load;

typedef struct worker {
    load *l;
    int index;
} worker;

static void *worker_main(void *arg)
{
    worker *w = arg;
    load *l = w->l;
    int64_t *mine = l->samples + (size_t)w->index * (MAX_SAMPLES / MAX_THREADS);
    long n = 0;
    xd_arena *arena = xd_arena_new();
    nng_ctx ctx;
    nng_aio *aio = NULL;
    if (l->raw) {
        nng_ctx_open(&ctx, l->raw_sock);
        nng_aio_alloc(&aio, NULL, NULL);
    }
    while (xd_monotonic_ns() < l->until_ns && n < MAX_SAMPLES / MAX_THREADS) {
        int64_t t0 = xd_monotonic_ns();
        int ok;
        if (l->raw) {
            nng_msg *m;
            nng_msg_alloc(&m, l->payload_len);
            memcpy(nng_msg_body(m), l->payload, l->payload_len);
            nng_aio_set_msg(aio, m);
            nng_ctx_send(ctx, aio);
            nng_aio_wait(aio);
            ok = nng_aio_result(aio) == 0;
            if (ok) {
                nng_ctx_recv(ctx, aio);
                nng_aio_wait(aio);
                ok = nng_aio_result(aio) == 0;
                if (ok)
                    nng_msg_free(nng_aio_get_msg(aio));
            } else {
                nng_msg_free(m);
            }
        } else {
            Xdtest__EchoRequest rq = XDTEST__ECHO_REQUEST__INIT;
            rq.text = l->text;
            ProtobufCMessage *out = NULL;
            xd_err err;
            ok = xd_client_call(l->client, NULL, "Echo", &rq.base, &xdtest__echo_reply__descriptor,
                                arena, &out, &err) == XD_OK;
            xd_arena_reset(arena);
        }
        if (!ok) {
            fprintf(stderr, "request failed\n");
            exit(1);
        }
        mine[n++] = xd_monotonic_ns() - t0;
    }
    l->counts[w->index] = n;
    if (l->raw) {
        nng_aio_free(aio);
        nng_ctx_close(ctx);
    }
    xd_arena_free(arena);
    return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

typedef struct result {
    double rps, p50_ms, p99_ms;
} result;

static result run_load(load *l, int threads, double seconds)
{
    pthread_t th[MAX_THREADS];
    worker w[MAX_THREADS];
    int64_t start = xd_monotonic_ns();
    l->until_ns = start + (int64_t)(seconds * 1e9);
    for (int i = 0; i < threads; i++) {
        w[i] = (worker){l, i};
        pthread_create(&th[i], NULL, worker_main, &w[i]);
    }
    long total = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(th[i], NULL);
        total += l->counts[i];
    }
    double elapsed = (double)(xd_monotonic_ns() - start) / 1e9;
    /* Gather every thread's samples into one sorted array. */
    int64_t *all = malloc(sizeof(int64_t) * (size_t)(total ? total : 1));
    long k = 0;
    for (int i = 0; i < threads; i++)
        for (long j = 0; j < l->counts[i]; j++)
            all[k++] = l->samples[(size_t)i * (MAX_SAMPLES / MAX_THREADS) + (size_t)j];
    qsort(all, (size_t)total, sizeof(int64_t), cmp_i64);
    result r = {total / elapsed, total ? all[total / 2] / 1e6 : 0,
                total ? all[(long)(total * 0.99)] / 1e6 : 0};
    free(all);
    return r;
}

static void bench_case(const char *name, const char *url_ours, const char *url_raw, int threads,
                       double seconds, load *l)
{
    /* ours */
    static const xd_method_impl impls[] = {{"Echo", do_echo}};
    xd_server_options o = {.url = url_ours, .service_name = "bench", .workers = 4};
    xd_server *srv = NULL;
    xd_err err;
    if (xd_server_start(&o, &xdtest__testing__descriptor, impls, 1, &srv, &err) != XD_OK) {
        fprintf(stderr, "start: %s\n", err.message);
        exit(1);
    }
    xd_client_open(url_ours, "bench", NULL, &l->client, &err);
    l->raw = 0;
    run_load(l, threads, 0.3); /* warm-up: connect, fault in pages */
    result ours = run_load(l, threads, seconds);
    xd_client_close(l->client);
    xd_server_stop(srv);

    /* raw */
    raw_server rs = {0};
    raw_start(&rs, url_raw);
    nng_req0_open(&l->raw_sock);
    nng_dial(l->raw_sock, url_raw, NULL, 0);
    l->raw = 1;
    run_load(l, threads, 0.3);
    result raw = run_load(l, threads, seconds);
    nng_close(l->raw_sock);
    raw_stop(&rs);

    printf("  %-10s ours: %9.0f req/s p50 %.3f ms p99 %.3f ms | raw: %9.0f req/s p50 %.3f ms "
           "p99 %.3f ms\n",
           name, ours.rps, ours.p50_ms, ours.p99_ms, raw.rps, raw.p50_ms, raw.p99_ms);
    printf("BENCH rpc %s ours=%.0f raw=%.0f ratio=%.2f p99_ours_ms=%.3f p99_raw_ms=%.3f "
           "p99_ratio=%.2f\n",
           name, ours.rps, raw.rps, ours.rps / raw.rps, ours.p99_ms, raw.p99_ms,
           raw.p99_ms > 0 ? ours.p99_ms / raw.p99_ms : 0);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 3.0;
    load *l = calloc(1, sizeof(*l));
    l->samples = malloc(sizeof(int64_t) * MAX_SAMPLES);
    memset(l->text, 'x', 200);
    /* The raw case carries the same bytes our Echo request packs to. */
    Xdtest__EchoRequest rq = XDTEST__ECHO_REQUEST__INIT;
    rq.text = l->text;
    l->payload_len = xdtest__echo_request__pack(&rq, l->payload);
    printf("RPC echo, %zu-byte protobuf payload, %.1f s per case (2 cores shared by client "
           "and server)\n",
           l->payload_len, seconds);
    char ours_ipc[128], raw_ipc[128];
    snprintf(ours_ipc, sizeof(ours_ipc), "ipc:///tmp/xd-bench-rpc-ours-%d.sock", (int)getpid());
    snprintf(raw_ipc, sizeof(raw_ipc), "ipc:///tmp/xd-bench-rpc-raw-%d.sock", (int)getpid());
    bench_case("ipc_c1", ours_ipc, raw_ipc, 1, seconds, l);
    bench_case("ipc_c16", ours_ipc, raw_ipc, 16, seconds, l);
    bench_case("tcp_c1", "tcp://127.0.0.1:17950", "tcp://127.0.0.1:17951", 1, seconds, l);
    bench_case("tcp_c16", "tcp://127.0.0.1:17952", "tcp://127.0.0.1:17953", 16, seconds, l);
    free(l->samples);
    free(l);
    return 0;
}
