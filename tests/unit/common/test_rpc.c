/* test_rpc.c: the RPC server and client against each other over ipc://. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rpc_test.pb-c.h"
#include "common.pb-c.h"
#include "xd/clock.h"
#include "xd/rpc_client.h"
#include "xd/rpc_server.h"

static char url[256];
static long executions; /* Count handler runs, protected by count_lock */
static pthread_mutex_t count_lock = PTHREAD_MUTEX_INITIALIZER;

static xd_code do_echo(xd_call *call, const ProtobufCMessage *req, ProtobufCMessage *reply,
                       xd_err *err)
{
    (void)err;
    const Xdtest__EchoRequest *in = (const Xdtest__EchoRequest *)req;
    Xdtest__EchoReply *out = (Xdtest__EchoReply *)reply;
    out->text = xd_arena_strdup(xd_call_arena(call), in->text);
    out->org_id = xd_arena_strdup(xd_call_arena(call), xd_call_caller(call)->org_id);
    int64_t left = xd_call_remaining_ms(call);
    out->remaining_ms = left == INT64_MAX ? -1 : left;
    return XD_OK;
}

static xd_code do_count(xd_call *call, const ProtobufCMessage *req, ProtobufCMessage *reply,
                        xd_err *err)
{
    (void)call;
    (void)err;
    const Xdtest__CountRequest *in = (const Xdtest__CountRequest *)req;
    if (in->sleep_ms > 0)
        usleep((useconds_t)in->sleep_ms * 1000);
    pthread_mutex_lock(&count_lock);
    long n = ++executions;
    pthread_mutex_unlock(&count_lock);
    ((Xdtest__CountReply *)reply)->count = n;
    return XD_OK;
}

static xd_code do_fail(xd_call *call, const ProtobufCMessage *req, ProtobufCMessage *reply,
                       xd_err *err)
{
    (void)call;
    (void)req;
    (void)reply;
    return xd_err_field(err, XD_INVALID_ARGUMENT, "text", "text must not be empty");
}

static const xd_method_impl impls[] = {
    {"Echo", do_echo},
    {"Count", do_count},
    {"Fail", do_fail},
};

static xd_server *start_server(int workers, int64_t max_bytes)
{
    xd_server_options o = {
        .url = url, .service_name = "testing", .workers = workers, .max_request_bytes = max_bytes};
    xd_server *s = NULL;
    xd_err err;
    assert_int_equal(xd_server_start(&o, &xdtest__testing__descriptor, impls, 3, &s, &err), XD_OK);
    return s;
}

static xd_client *open_client(void)
{
    xd_client *c = NULL;
    xd_err err;
    assert_int_equal(xd_client_open(url, "testing", NULL, &c, &err), XD_OK);
    return c;
}

static xd_code echo(xd_client *c, const char *text, const xd_call_options *o,
                    Xdtest__EchoReply **out, xd_arena *arena, xd_err *err)
{
    Xdtest__EchoRequest rq = XDTEST__ECHO_REQUEST__INIT;
    rq.text = (char *)text;
    return xd_client_call(c, o, "Echo", &rq.base, &xdtest__echo_reply__descriptor, arena,
                          (ProtobufCMessage **)out, err);
}

static long count_call(xd_client *c, const char *request_id, int sleep_ms, xd_err *err)
{
    xd_arena *a = xd_arena_new();
    Xdtest__CountRequest rq = XDTEST__COUNT_REQUEST__INIT;
    rq.sleep_ms = sleep_ms;
    Xdtest__CountReply *out = NULL;
    xd_call_options o = {.request_id = request_id, .timeout_ms = 5000};
    xd_code code = xd_client_call(c, &o, "Count", &rq.base, &xdtest__count_reply__descriptor, a,
                                  (ProtobufCMessage **)&out, err);
    long n = code == XD_OK ? out->count : -(long)code;
    xd_arena_free(a);
    return n;
}

/* Sends a raw envelope (bypassing the client) and decodes the reply. */
static Xd__Reply *raw_call(const Xd__Request *rq, int64_t wait_ms)
{
    nng_socket s;
    assert_int_equal(nng_req0_open(&s), 0);
    nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, (nng_duration)wait_ms);
    assert_int_equal(nng_dial(s, url, NULL, 0), 0);
    size_t len = xd__request__get_packed_size(rq);
    unsigned char *buf = malloc(len + 1);
    xd__request__pack(rq, buf);
    assert_int_equal(nng_send(s, buf, len, 0), 0);
    free(buf);
    void *reply = NULL;
    size_t rlen = 0;
    int rv = nng_recv(s, &reply, &rlen, NNG_FLAG_ALLOC);
    assert_int_equal(rv, 0);
    Xd__Reply *r = xd__reply__unpack(NULL, rlen, reply);
    nng_free(reply, rlen);
    nng_close(s);
    assert_non_null(r);
    return r;
}

static int setup(void **state)
{
    (void)state;
    static int n;
    snprintf(url, sizeof(url), "ipc:///tmp/xd-test-rpc-%d-%d.sock", (int)getpid(), n++);
    executions = 0;
    return 0;
}

static void test_round_trip_and_caller(void **state)
{
    (void)state;
    xd_server *s = start_server(2, 0);
    xd_client *c = open_client();
    xd_arena *a = xd_arena_new();
    Xd__Caller caller = XD__CALLER__INIT;
    caller.org_id = "org-42";
    xd_call_options o = {.caller = &caller, .timeout_ms = 3000};
    Xdtest__EchoReply *r = NULL;
    xd_err err;
    assert_int_equal(echo(c, "hello", &o, &r, a, &err), XD_OK);
    assert_string_equal(r->text, "hello");
    assert_string_equal(r->org_id, "org-42");
    /* The deadline travelled: the handler saw at most the 3 s we gave. */
    assert_true(r->remaining_ms > 0 && r->remaining_ms <= 3000);
    xd_arena_free(a);
    xd_client_close(c);
    xd_server_stop(s);
}

static void test_error_statuses(void **state)
{
    (void)state;
    xd_server *s = start_server(2, 4096);
    xd_client *c = open_client();
    xd_arena *a = xd_arena_new();
    xd_err err;
    Xdtest__EchoRequest rq = XDTEST__ECHO_REQUEST__INIT;
    ProtobufCMessage *out = NULL;

    assert_int_equal(xd_client_call(c, NULL, "NoSuchMethod", &rq.base,
                                    &xdtest__echo_reply__descriptor, a, &out, &err),
                     XD_UNIMPLEMENTED);
    assert_non_null(strstr(err.message, "NoSuchMethod"));
    assert_int_equal(xd_client_call(c, NULL, "Unbuilt", &rq.base, &xdtest__echo_reply__descriptor,
                                    a, &out, &err),
                     XD_UNIMPLEMENTED);
    assert_non_null(strstr(err.message, "not built yet"));
    assert_int_equal(
        xd_client_call(c, NULL, "Fail", &rq.base, &xdtest__echo_reply__descriptor, a, &out, &err),
        XD_INVALID_ARGUMENT);
    assert_string_equal(err.field, "text");
    assert_string_equal(err.message, "text must not be empty");

    /* Oversized: a 10 kB blob against a 4 kB limit. */
    static unsigned char blob[10000];
    rq.blob.data = blob;
    rq.blob.len = sizeof(blob);
    assert_int_equal(
        xd_client_call(c, NULL, "Echo", &rq.base, &xdtest__echo_reply__descriptor, a, &out, &err),
        XD_RESOURCE_EXHAUSTED);
    assert_non_null(strstr(err.message, "limit is 4096"));

    /* Malformed payload and malformed envelope. */
    Xd__Request env = XD__REQUEST__INIT;
    env.method = "Echo";
    unsigned char junk[] = {0xff, 0xff, 0xff, 0xff, 0x0f};
    env.payload.data = junk;
    env.payload.len = sizeof(junk);
    Xd__Reply *r = raw_call(&env, 3000);
    assert_int_equal(r->code, XD_INVALID_ARGUMENT);
    assert_non_null(strstr(r->message, "xdtest.EchoRequest"));
    xd__reply__free_unpacked(r, NULL);

    Xd__Request bad = XD__REQUEST__INIT;
    bad.method = "Echo";
    bad.request_id =
        "0123456789012345678901234567890123456789012345678901234567890123456789"; /* 70 */
    r = raw_call(&bad, 3000);
    assert_int_equal(r->code, XD_INVALID_ARGUMENT);
    xd__reply__free_unpacked(r, NULL);

    xd_arena_free(a);
    xd_client_close(c);
    xd_server_stop(s);
}

static void test_health_default(void **state)
{
    (void)state;
    xd_server *s = start_server(1, 0);
    xd_client *c = open_client();
    xd_arena *a = xd_arena_new();
    Xd__HealthRequest rq = XD__HEALTH_REQUEST__INIT;
    Xd__HealthReply *h = NULL;
    xd_err err;
    assert_int_equal(xd_client_call(c, NULL, "Health", &rq.base, &xd__health_reply__descriptor, a,
                                    (ProtobufCMessage **)&h, &err),
                     XD_OK);
    assert_int_equal(h->status, XD__HEALTH_REPLY__STATUS__STATUS_SERVING);
    assert_string_equal(h->service, "testing");
    assert_true(h->rss_kib > 0);
    xd_arena_free(a);
    xd_client_close(c);
    xd_server_stop(s);
}

static void test_deadlines(void **state)
{
    (void)state;
    xd_server *s = start_server(1, 0);
    xd_client *c = open_client();
    xd_err err;
    /* Client side: a 50 ms budget against a 400 ms handler. */
    xd_arena *a = xd_arena_new();
    Xdtest__CountRequest rq = XDTEST__COUNT_REQUEST__INIT;
    rq.sleep_ms = 400;
    xd_call_options o = {.timeout_ms = 50};
    ProtobufCMessage *out = NULL;
    int64_t t0 = xd_monotonic_ms();
    assert_int_equal(
        xd_client_call(c, &o, "Count", &rq.base, &xdtest__count_reply__descriptor, a, &out, &err),
        XD_DEADLINE_EXCEEDED);
    assert_true(xd_monotonic_ms() - t0 < 350);

    /* Server side: the one worker is busy (the 400 ms call above), so a
     * request with a 20 ms budget expires in the queue and never runs. */
    long before = executions;
    Xd__Request env = XD__REQUEST__INIT;
    env.method = "Count";
    env.timeout_ms = 20;
    Xd__Reply *r = raw_call(&env, 3000);
    assert_int_equal(r->code, XD_DEADLINE_EXCEEDED);
    xd__reply__free_unpacked(r, NULL);
    usleep(450 * 1000);
    assert_int_equal(executions, before + 1); /* only the 400 ms call ran */
    xd_arena_free(a);
    xd_client_close(c);
    xd_server_stop(s);
}

typedef struct {
    xd_client *client;
    int id;
    int ok;
} worker_arg;

static void *concurrent_worker(void *p)
{
    worker_arg *w = p;
    for (int i = 0; i < 200; i++) {
        xd_err err;
        if (count_call(w->client, NULL, 0, &err) > 0)
            w->ok++;
    }
    return NULL;
}

static void test_sixteen_concurrent_clients(void **state)
{
    (void)state;
    xd_server *s = start_server(4, 0);
    xd_client *c = open_client();
    pthread_t th[16];
    worker_arg args[16];
    for (int i = 0; i < 16; i++) {
        args[i] = (worker_arg){.client = c, .id = i};
        pthread_create(&th[i], NULL, concurrent_worker, &args[i]);
    }
    int ok = 0;
    for (int i = 0; i < 16; i++) {
        pthread_join(th[i], NULL);
        ok += args[i].ok;
    }
    assert_int_equal(ok, 16 * 200);
    assert_int_equal(executions, 16 * 200);
    xd_client_close(c);
    xd_server_stop(s);
}

static void test_peer_down_then_up(void **state)
{
    (void)state;
    xd_client *c = open_client();
    xd_arena *a = xd_arena_new();
    xd_err err;
    Xdtest__EchoReply *r = NULL;
    xd_call_options o = {.timeout_ms = 2000};
    int64_t t0 = xd_monotonic_ms();
    assert_int_equal(echo(c, "x", &o, &r, a, &err), XD_UNAVAILABLE);
    assert_true(xd_monotonic_ms() - t0 < 1000); /* quickly, well inside the deadline */
    assert_non_null(strstr(err.message, "testing is unavailable"));

    xd_server *s = start_server(1, 0);
    xd_code code = XD_UNAVAILABLE;
    for (int i = 0; i < 50 && code != XD_OK; i++) /* bounded: 50 tries */
        code = echo(c, "back", &o, &r, a, &err);
    assert_int_equal(code, XD_OK);
    assert_string_equal(r->text, "back");

    /* Down again, then a fresh server on the same address: recovered. */
    xd_server_stop(s);
    assert_int_not_equal(echo(c, "x", &o, &r, a, &err), XD_OK);
    s = start_server(1, 0);
    code = XD_UNAVAILABLE;
    for (int i = 0; i < 50 && code != XD_OK; i++)
        code = echo(c, "again", &o, &r, a, &err);
    assert_int_equal(code, XD_OK);
    xd_arena_free(a);
    xd_client_close(c);
    xd_server_stop(s);
}

typedef struct {
    xd_client *client;
    long result;
} dup_arg;

static void *dup_worker(void *p)
{
    dup_arg *d = p;
    xd_err err;
    d->result = count_call(d->client, "same-request-id-1", 200, &err);
    return NULL;
}

static void test_duplicate_request_runs_once(void **state)
{
    (void)state;
    xd_server *s = start_server(4, 0);
    xd_client *c1 = open_client(), *c2 = open_client();
    xd_err err;
    /* Sequential re-send (what NNG does after a broken pipe): same answer. */
    long first = count_call(c1, "resend-abc", 0, &err);
    long second = count_call(c2, "resend-abc", 0, &err);
    assert_int_equal(first, 1);
    assert_int_equal(second, 1);
    assert_int_equal(executions, 1);
    /* Concurrent copies: the second waits for the first's result. */
    pthread_t a, b;
    dup_arg da = {c1, 0}, db = {c2, 0};
    pthread_create(&a, NULL, dup_worker, &da);
    pthread_create(&b, NULL, dup_worker, &db);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    assert_int_equal(da.result, 2);
    assert_int_equal(db.result, 2);
    assert_int_equal(executions, 2);
    xd_client_close(c1);
    xd_client_close(c2);
    xd_server_stop(s);
}

static void *slow_call(void *p)
{
    dup_arg *d = p;
    xd_err err;
    d->result = count_call(d->client, NULL, 300, &err);
    return NULL;
}

static void test_stop_finishes_in_flight(void **state)
{
    (void)state;
    xd_server *s = start_server(2, 0);
    xd_client *c = open_client();
    pthread_t t;
    dup_arg d = {c, 0};
    pthread_create(&t, NULL, slow_call, &d);
    for (int i = 0; i < 200 && xd_server_in_flight(s) == 0; i++)
        usleep(5000);
    assert_int_equal(xd_server_in_flight(s), 1);
    xd_server_stop(s); /* must let the 300 ms call answer */
    pthread_join(t, NULL);
    assert_int_equal(d.result, 1);
    xd_client_close(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_round_trip_and_caller, setup),
        cmocka_unit_test_setup(test_error_statuses, setup),
        cmocka_unit_test_setup(test_health_default, setup),
        cmocka_unit_test_setup(test_deadlines, setup),
        cmocka_unit_test_setup(test_sixteen_concurrent_clients, setup),
        cmocka_unit_test_setup(test_peer_down_then_up, setup),
        cmocka_unit_test_setup(test_duplicate_request_runs_once, setup),
        cmocka_unit_test_setup(test_stop_finishes_in_flight, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
