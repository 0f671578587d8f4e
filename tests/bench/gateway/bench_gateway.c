/* bench_gateway.c: requests/s and latency of one authenticated gateway method
 * through the running xd-gateway (NNG), next to the raw NNG req/rep floor
 * (an in-process rep0 echo of the same request bytes over the same transport)
 * measured in the same run, both at the same concurrency.
 *   bench_gateway GATEWAY_URL KEY_FILE METHOD SECONDS CONCURRENCY RAW_URL [JSON [CASE]]
 * JSON is the request (proto3 JSON; default empty). Prints:
 * BENCH gateway <case> ours=<rps> raw=<rps> ratio=<x> p99_ms=<> p50_ms=<> ... failed=<n> */
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway.pb-c.h"
#include "gw_json.h"
#include "xd/clock.h"
#include "xd/rpc_client.h"

#define THREADS_MAX 64
#define SAMPLES_MAX (1 << 20)

static int64_t deadline_ns;
static char key[256];
static const char *method;
static xd_client *client;
static const char *raw_url;
static const char *request_json = "{}";
static size_t raw_len = 200;
static long failed; /* calls of ours that did not answer OK (written after the join) */

typedef struct worker {
    pthread_t t;
    long ok, failed;
    int64_t *lat_us;
    long n_lat;
} worker;

static void record(worker *w, int64_t t0)
{
    if (w->n_lat < SAMPLES_MAX / THREADS_MAX)
        w->lat_us[w->n_lat++] = (xd_monotonic_ns() - t0) / 1000;
}

static void *ours_main(void *arg)
{
    worker *w = arg;
    const ProtobufCMethodDescriptor *md =
        protobuf_c_service_descriptor_get_method_by_name(&xd__gateway__descriptor, method);
    xd_arena *a = xd_arena_new();
    Xd__Caller caller = XD__CALLER__INIT;
    caller.principal = key;
    xd_call_options o = {.caller = &caller, .timeout_ms = 5000};
    ProtobufCMessage *in = NULL;
    xd_err perr;
    xd_arena *ra = xd_arena_new(); /* the request, for the whole run */
    if (gw_json_parse(request_json, strlen(request_json), md->input, ra, &in, &perr) != XD_OK) {
        fprintf(stderr, "bench: request: %s\n", perr.message);
        return NULL;
    }
    while (xd_monotonic_ns() < deadline_ns) {
        int64_t t0 = xd_monotonic_ns();
        ProtobufCMessage *out = NULL;
        xd_err err;
        xd_code rc = xd_client_call(client, &o, md->name, in, md->output, a, &out, &err);
        if (rc == XD_OK) {
            w->ok++;
            record(w, t0);
        } else if (w->failed++ == 0) {
            fprintf(stderr, "bench: %s: %s\n", xd_code_name(rc), err.message);
        }
        xd_arena_reset(a);
    }
    xd_arena_free(ra);
    xd_arena_free(a);
    return NULL;
}

static void *raw_client_main(void *arg)
{
    worker *w = arg;
    nng_socket s;
    nng_req0_open(&s);
    nng_dial(s, raw_url, NULL, 0);
    char *buf = calloc(1, raw_len);
    while (xd_monotonic_ns() < deadline_ns) {
        int64_t t0 = xd_monotonic_ns();
        void *rep = NULL;
        size_t n = 0;
        if (nng_send(s, buf, raw_len, 0) == 0 && nng_recv(s, &rep, &n, NNG_FLAG_ALLOC) == 0) {
            w->ok++;
            record(w, t0);
            nng_free(rep, n);
        } else {
            w->failed++;
        }
    }
    free(buf);
    nng_close(s);
    return NULL;
}

typedef struct echo_ctx {
    nng_socket sock;
    nng_ctx ctx;
    nng_aio *aio;
    int sending;
} echo_ctx;

static void echo_cb(void *arg)
{
    echo_ctx *e = arg;
    if (nng_aio_result(e->aio) != 0) {
        if (e->sending)
            nng_msg_free(nng_aio_get_msg(e->aio));
        return;
    }
    if (!e->sending) {
        e->sending = 1;
        nng_ctx_send(e->ctx, e->aio); /* the message is already on the aio */
    } else {
        e->sending = 0;
        nng_ctx_recv(e->ctx, e->aio);
    }
}

static int cmp(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static void run(void *(*fn)(void *), int n, double seconds, double *rps, double *p50, double *p99)
{
    worker w[THREADS_MAX];
    memset(w, 0, sizeof(w));
    deadline_ns = xd_monotonic_ns() + (int64_t)(seconds * 1e9);
    int64_t t0 = xd_monotonic_ns();
    for (int i = 0; i < n; i++) {
        w[i].lat_us = malloc(sizeof(int64_t) * (SAMPLES_MAX / THREADS_MAX));
        pthread_create(&w[i].t, NULL, fn, &w[i]);
    }
    long ok = 0, total_lat = 0, bad = 0;
    for (int i = 0; i < n; i++) {
        pthread_join(w[i].t, NULL);
        ok += w[i].ok;
        bad += w[i].failed;
        total_lat += w[i].n_lat;
    }
    double el = (double)(xd_monotonic_ns() - t0) / 1e9;
    int64_t *all = malloc(sizeof(int64_t) * (size_t)(total_lat + 1));
    long k = 0;
    for (int i = 0; i < n; i++) {
        memcpy(all + k, w[i].lat_us, sizeof(int64_t) * (size_t)w[i].n_lat);
        k += w[i].n_lat;
        free(w[i].lat_us);
    }
    qsort(all, (size_t)k, sizeof(int64_t), cmp);
    *rps = ok / el;
    failed = bad;
    *p50 = k ? all[k / 2] / 1000.0 : 0;
    *p99 = k ? all[(k * 99) / 100] / 1000.0 : 0;
    free(all);
}

int main(int argc, char **argv)
{
    if (argc < 7 || argc > 9) {
        fprintf(stderr, "usage: bench_gateway URL KEY_FILE METHOD SECONDS CONCURRENCY RAW_URL "
                        "[JSON [CASE]]\n");
        return 1;
    }
    FILE *f = fopen(argv[2], "r");
    if (!f || !fgets(key, sizeof(key), f))
        return 1;
    fclose(f);
    key[strcspn(key, "\r\n")] = '\0';
    method = argv[3];
    double seconds = atof(argv[4]);
    int n = atoi(argv[5]);
    if (n < 1 || n > THREADS_MAX)
        return 1;
    raw_url = argv[6];
    if (argc > 7)
        request_json = argv[7];
    const char *case_name = argc > 8 ? argv[8] : method;
    xd_err err;
    xd_client_options co = {.connect_wait_ms = 2000};
    if (xd_client_open(argv[1], "gateway", &co, &client, &err) != XD_OK)
        return 1;

    /* The floor: rep0 with as many contexts as clients, echoing. */
    nng_socket rs;
    nng_rep0_open(&rs);
    if (nng_listen(rs, raw_url, NULL, 0) != 0)
        return 1;
    echo_ctx echo[THREADS_MAX];
    for (int i = 0; i < n; i++) {
        echo[i].sock = rs;
        echo[i].sending = 0;
        nng_aio_alloc(&echo[i].aio, echo_cb, &echo[i]);
        nng_ctx_open(&echo[i].ctx, rs);
        nng_ctx_recv(echo[i].ctx, echo[i].aio);
    }
    double raw_rps, raw_p50, raw_p99, rps, p50, p99;
    run(raw_client_main, n, seconds, &raw_rps, &raw_p50, &raw_p99);
    run(ours_main, n, seconds, &rps, &p50, &p99);
    /* ours, raw, ratio and p99 first: the line the issue asks for. */
    printf("BENCH gateway %s ours=%.0f raw=%.0f ratio=%.3f p99_ms=%.3f p50_ms=%.3f "
           "raw_p50_ms=%.3f raw_p99_ms=%.3f failed=%ld clients=%d\n",
           case_name, rps, raw_rps, raw_rps > 0 ? rps / raw_rps : 0, p99, p50, raw_p50, raw_p99,
           failed, n);
    nng_close(rs);
    for (int i = 0; i < n; i++)
        nng_aio_free(echo[i].aio);
    xd_client_close(client);
    return 0;
}
