/* rpc_server.c: rep0 + nng_ctx/aio receive loop, worker threads, dispatch. */
#include "xd/rpc_server.h"
#include "xd/clock.h"
#include "xd/log.h"
#include "xd/tls.h"
#include "xd/util.h"
#include "common.pb-c.h"
#include "rpc_dedup.h"

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SERVER_STOP_WAIT_MS  30000
#define SOCKET_CLOSE_WAIT_MS 3000
#define REQUEST_ID_MAX       64
#define DETAILS_MAX          32

typedef enum call_state { CALL_IDLE, CALL_RECV, CALL_WORK, CALL_SEND } call_state;

struct xd_call {
    xd_server *server;
    nng_ctx ctx;
    nng_aio *aio;
    call_state state;
    nng_msg *msg;
    struct xd_call *queue_next;
    /* per request */
    xd_arena *arena;
    Xd__Request *request;
    int64_t received_ms; /* monotonic: queue time counts against the deadline */
    int64_t deadline_ms; /* monotonic; 0 = none */
    Xd__ErrorDetail *details[DETAILS_MAX];
    size_t n_details;
};

struct xd_server {
    nng_socket sock;
    nng_listener listener;
    const ProtobufCServiceDescriptor *desc;
    xd_handler_fn *handlers; /* indexed like desc->methods */
    void *service_ctx;
    char name[32];
    int64_t max_request_bytes;
    int64_t started_ms;
    rpc_dedup *dedup;

    pthread_mutex_t lock;
    pthread_cond_t work_ready;
    pthread_cond_t idle;
    xd_call *queue_head, *queue_tail;
    int stopping;
    int socket_closed; /* nng_close returned (xd_server_stop) */
    int busy_calls;    /* calls in WORK or SEND */
    unsigned in_flight;

    xd_call *calls;
    int n_calls;
    pthread_t *workers;
    int n_workers;
};

static const Xd__Caller empty_caller = XD__CALLER__INIT;

static void call_aio_cb(void *arg);

/* ---- reply encoding ---- */

static nng_msg *encode_reply(xd_call *call, xd_code code, const xd_err *err,
                             const ProtobufCMessage *payload)
{
    Xd__Reply reply = XD__REPLY__INIT;
    reply.code = (int32_t)code;
    if (code != XD_OK && err) {
        reply.message = (char *)err->message;
        reply.retry_after_ms = err->retry_after_ms;
        if (err->field[0] && call->n_details < DETAILS_MAX)
            xd_call_add_detail(call, err->field, "invalid");
    }
    reply.n_details = call->n_details;
    reply.details = call->details;
    if (code == XD_OK && payload) {
        size_t n = protobuf_c_message_get_packed_size(payload);
        reply.payload.data = xd_arena_alloc(call->arena, n);
        reply.payload.len = protobuf_c_message_pack(payload, reply.payload.data);
    }
    nng_msg *m = NULL;
    size_t len = xd__reply__get_packed_size(&reply);
    if (nng_msg_alloc(&m, len) != 0)
        return NULL;
    xd__reply__pack(&reply, nng_msg_body(m));
    return m;
}

static nng_msg *error_reply(xd_call *call, xd_code code, const char *fmt, const char *arg)
{
    xd_err err;
    xd_err_clear(&err);
    xd_err_set(&err, code, fmt, arg);
    return encode_reply(call, code, &err, NULL);
}

/* ---- the health answer every service gets for free ---- */

static xd_code default_health(xd_call *call, const ProtobufCMessage *req, ProtobufCMessage *reply,
                              xd_err *err)
{
    (void)req;
    (void)err;
    Xd__HealthReply *r = (Xd__HealthReply *)reply;
    r->status = XD__HEALTH_REPLY__STATUS__STATUS_SERVING;
    r->service = xd_arena_strdup(call->arena, call->server->name);
    r->version = xd_arena_strdup(call->arena, XD_VERSION_STRING);
    r->uptime_ms = xd_monotonic_ms() - call->server->started_ms;
    r->in_flight = xd_server_in_flight(call->server);
    r->rss_kib = xd_rss_kib(0);
    return XD_OK;
}

/* ---- dispatch ---- */

static nng_msg *run_method(xd_call *call)
{
    xd_server *s = call->server;
    Xd__Request *rq = call->request;
    const ProtobufCMethodDescriptor *md =
        protobuf_c_service_descriptor_get_method_by_name(s->desc, rq->method);
    if (!md)
        return error_reply(call, XD_UNIMPLEMENTED, "unknown method '%.100s'", rq->method);
    xd_handler_fn fn = s->handlers[md - s->desc->methods];
    if (!fn && strcmp(md->name, "Health") == 0 && md->output == &xd__health_reply__descriptor)
        fn = default_health;
    if (!fn)
        return error_reply(call, XD_UNIMPLEMENTED,
                           "method '%s' is part of the contract but not built yet", md->name);
    ProtobufCMessage *req = protobuf_c_message_unpack(md->input, xd_arena_allocator(call->arena),
                                                      rq->payload.len, rq->payload.data);
    if (!req)
        return error_reply(call, XD_INVALID_ARGUMENT, "payload is not a valid %s message",
                           md->input->name);
    ProtobufCMessage *reply = xd_arena_message(call->arena, md->output);
    xd_err err;
    xd_err_clear(&err);
    if (call->deadline_ms && xd_monotonic_ms() >= call->deadline_ms)
        return error_reply(call, XD_DEADLINE_EXCEEDED,
                           "deadline passed before '%s' could start; retry with more time",
                           md->name);
    __atomic_add_fetch(&s->in_flight, 1, __ATOMIC_RELAXED);
    xd_code code = fn(call, req, reply, &err);
    __atomic_sub_fetch(&s->in_flight, 1, __ATOMIC_RELAXED);
    if (code == XD_OK && call->deadline_ms && xd_monotonic_ms() > call->deadline_ms) {
        XD_WARN("%s finished after the caller's deadline", md->name);
        return error_reply(call, XD_DEADLINE_EXCEEDED, "'%s' finished after the caller's deadline",
                           md->name);
    }
    if (code != XD_OK && err.message[0] == '\0')
        xd_err_set(&err, code, "%s failed", md->name);
    if (code == XD_INTERNAL || code == XD_UNKNOWN)
        XD_ERROR("%s: %s %s", md->name, xd_code_name(code), err.message);
    else
        XD_DEBUG("%s: %s", md->name, xd_code_name(code));
    return encode_reply(call, code, &err, code == XD_OK ? reply : NULL);
}

/* The dedup key: SHA-256 of principal and request id (the principal may be
 * a secret API key: it is never stored as such). */
static void dedup_key(const char *principal, const char *request_id, char out[65])
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!md || !EVP_DigestInit_ex(md, EVP_sha256(), NULL) ||
        !EVP_DigestUpdate(md, principal, strlen(principal) + 1) ||
        !EVP_DigestUpdate(md, request_id, strlen(request_id)) ||
        !EVP_DigestFinal_ex(md, digest, &n))
        abort(); /* the digest cannot fail short of memory exhaustion */
    EVP_MD_CTX_free(md);
    xd_hex_encode(digest, 32, out);
}

static nng_msg *handle_request(xd_call *call)
{
    xd_server *s = call->server;
    size_t len = nng_msg_len(call->msg);
    if ((int64_t)len > s->max_request_bytes) {
        char what[128];
        snprintf(what, sizeof(what), "%zu bytes; the limit is %lld", len,
                 (long long)s->max_request_bytes);
        return error_reply(call, XD_RESOURCE_EXHAUSTED, "request is %s: send less data per call",
                           what);
    }
    call->request =
        xd__request__unpack(xd_arena_allocator(call->arena), len, nng_msg_body(call->msg));
    if (!call->request)
        return error_reply(call, XD_INVALID_ARGUMENT, "%s",
                           "request is not a valid xd.Request envelope");
    Xd__Request *rq = call->request;
    if (strlen(rq->request_id) > REQUEST_ID_MAX)
        return error_reply(call, XD_INVALID_ARGUMENT, "%s",
                           "request_id is longer than 64 characters");
    call->deadline_ms = rq->timeout_ms > 0 ? call->received_ms + rq->timeout_ms : 0;
    xd_log_set_request_id(rq->request_id);
    if (!rq->request_id[0])
        return run_method(call);

    /* Ids are unique per caller, not globally: one caller must never be
     * answered from another's request that reused the id. */
    char key[65];
    dedup_key(xd_call_caller(call)->principal, rq->request_id, key);
    unsigned char *cached = NULL;
    size_t cached_len = 0;
    int64_t wait_ms = rq->timeout_ms > 0 ? rq->timeout_ms : SERVER_STOP_WAIT_MS;
    switch (rpc_dedup_begin(s->dedup, key, wait_ms, &cached, &cached_len)) {
    case RPC_DEDUP_DONE: {
        XD_DEBUG("duplicate of %s answered from the first execution", rq->method);
        nng_msg *m = NULL;
        if (nng_msg_alloc(&m, cached_len) == 0)
            memcpy(nng_msg_body(m), cached, cached_len);
        free(cached);
        return m;
    }
    case RPC_DEDUP_TIMEOUT:
        return error_reply(call, XD_UNAVAILABLE,
                           "request %s is still running from an earlier copy; retry later",
                           rq->request_id);
    case RPC_DEDUP_NEW:
        break;
    }
    nng_msg *m = run_method(call);
    if (m)
        rpc_dedup_finish(s->dedup, key, nng_msg_body(m), nng_msg_len(m));
    else
        rpc_dedup_finish(s->dedup, key, (const unsigned char *)"", 0);
    return m;
}

/* ---- workers and the aio state machine ---- */

static void *worker_main(void *arg)
{
    xd_server *s = arg;
    for (;;) {
        pthread_mutex_lock(&s->lock);
        while (!s->queue_head && !(s->stopping && s->busy_calls == 0))
            pthread_cond_wait(&s->work_ready, &s->lock);
        xd_call *call = s->queue_head;
        if (!call) {
            pthread_mutex_unlock(&s->lock);
            return NULL;
        }
        s->queue_head = call->queue_next;
        if (!s->queue_head)
            s->queue_tail = NULL;
        pthread_mutex_unlock(&s->lock);

        call->n_details = 0;
        call->request = NULL;
        call->deadline_ms = 0;
        nng_msg *reply = handle_request(call);
        xd_log_set_request_id(NULL);
        nng_msg_free(call->msg);
        call->msg = NULL;
        xd_arena_reset(call->arena);

        pthread_mutex_lock(&s->lock);
        if (reply) {
            call->state = CALL_SEND;
            nng_aio_set_msg(call->aio, reply);
            nng_ctx_send(call->ctx, call->aio);
        } else {
            /* Out of memory for the reply: the client's deadline answers it. */
            call->state = CALL_RECV;
            s->busy_calls--;
            if (!s->stopping)
                nng_ctx_recv(call->ctx, call->aio);
            else
                call->state = CALL_IDLE;
            pthread_cond_broadcast(&s->idle);
        }
        pthread_mutex_unlock(&s->lock);
    }
}

static void call_aio_cb(void *arg)
{
    xd_call *call = arg;
    xd_server *s = call->server;
    int rv = nng_aio_result(call->aio);
    pthread_mutex_lock(&s->lock);
    switch (call->state) {
    case CALL_RECV:
        if (rv != 0) {
            if (rv == NNG_ECLOSED || rv == NNG_ECANCELED || s->stopping)
                call->state = CALL_IDLE;
            else
                nng_ctx_recv(call->ctx, call->aio);
            break;
        }
        if (s->stopping) {
            /* A request that arrived as the receive was being cancelled:
             * the workers may be gone, so nobody would answer or free it.
             * Unanswered, the client's deadline and retry cover it. */
            nng_msg_free(nng_aio_get_msg(call->aio));
            call->state = CALL_IDLE;
            break;
        }
        call->msg = nng_aio_get_msg(call->aio);
        call->received_ms = xd_monotonic_ms();
        call->state = CALL_WORK;
        call->queue_next = NULL;
        s->busy_calls++;
        if (s->queue_tail)
            s->queue_tail->queue_next = call;
        else
            s->queue_head = call;
        s->queue_tail = call;
        pthread_cond_signal(&s->work_ready);
        break;
    case CALL_SEND:
        if (rv != 0)
            nng_msg_free(nng_aio_get_msg(call->aio));
        s->busy_calls--;
        if (s->stopping) {
            call->state = CALL_IDLE;
            /* The stop waits for idle; workers re-check whether to exit. */
            pthread_cond_broadcast(&s->idle);
            pthread_cond_broadcast(&s->work_ready);
        } else {
            /* No wake-up: a sent reply gives no worker anything to do, and
             * waking every idle worker per reply cost more CPU than the
             * handlers (context switches dominated a ratelimit profile). */
            call->state = CALL_RECV;
            nng_ctx_recv(call->ctx, call->aio);
        }
        break;
    default:
        break;
    }
    pthread_mutex_unlock(&s->lock);
}

/* ---- lifecycle ---- */

static xd_code setup_tls(nng_listener l, const xd_server_options *o, xd_err *err)
{
    nng_tls_config *cfg = NULL;
    xd_code code = xd_tls_server_config(o->tls_cert_file, o->tls_key_file, &cfg, err);
    if (code != XD_OK)
        return code;
    int rv = nng_listener_set_ptr(l, NNG_OPT_TLS_CONFIG, cfg);
    nng_tls_config_free(cfg);
    if (rv != 0)
        return xd_err_set(err, XD_INVALID_ARGUMENT, "TLS listener %s: %s", o->url,
                          nng_strerror(rv));
    return XD_OK;
}

static void server_free(xd_server *s)
{
    if (s->calls) {
        for (int i = 0; i < s->n_calls; i++) {
            if (s->calls[i].aio)
                nng_aio_free(s->calls[i].aio);
            xd_arena_free(s->calls[i].arena);
        }
    }
    rpc_dedup_free(s->dedup);
    free(s->calls);
    free(s->workers);
    free(s->handlers);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->work_ready);
    pthread_cond_destroy(&s->idle);
    free(s);
}

xd_code xd_server_start(const xd_server_options *o, const ProtobufCServiceDescriptor *desc,
                        const xd_method_impl *impls, int n_impls, xd_server **out, xd_err *err)
{
    xd_server *s = calloc(1, sizeof(*s));
    if (!s)
        return xd_err_set(err, XD_INTERNAL, "out of memory");
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->work_ready, NULL);
    xd_cond_init_monotonic(&s->idle);
    s->desc = desc;
    s->service_ctx = o->service_ctx;
    snprintf(s->name, sizeof(s->name), "%s", o->service_name ? o->service_name : desc->short_name);
    s->max_request_bytes = o->max_request_bytes > 0 ? o->max_request_bytes : 16 << 20;
    s->started_ms = xd_monotonic_ms();
    s->n_workers = o->workers > 0 ? o->workers : 8;
    s->n_calls = o->contexts > 0 ? o->contexts : 4 * s->n_workers;
    s->dedup = rpc_dedup_new(o->dedup_entries > 0 ? o->dedup_entries : 8192, 64u << 20,
                             o->dedup_ttl_ms > 0 ? o->dedup_ttl_ms : 600000);
    s->handlers = calloc(desc->n_methods ? desc->n_methods : 1, sizeof(*s->handlers));
    s->calls = calloc((size_t)s->n_calls, sizeof(*s->calls));
    s->workers = calloc((size_t)s->n_workers, sizeof(*s->workers));
    if (!s->handlers || !s->calls || !s->workers) {
        server_free(s);
        return xd_err_set(err, XD_INTERNAL, "out of memory");
    }
    for (int i = 0; i < n_impls; i++) {
        const ProtobufCMethodDescriptor *md =
            protobuf_c_service_descriptor_get_method_by_name(desc, impls[i].name);
        if (!md) {
            server_free(s);
            return xd_err_set(err, XD_INVALID_ARGUMENT, "service %s has no method '%s'", desc->name,
                              impls[i].name);
        }
        s->handlers[md - desc->methods] = impls[i].fn;
    }

    int rv = nng_rep0_open(&s->sock);
    if (rv != 0) {
        server_free(s);
        return xd_err_set(err, XD_INTERNAL, "open rep0 socket: %s", nng_strerror(rv));
    }
    /* Beyond twice the limit nng drops the pipe; below it we answer clearly. */
    nng_socket_set_size(s->sock, NNG_OPT_RECVMAXSZ, (size_t)s->max_request_bytes * 2 + 65536);
    for (int i = 0; i < s->n_calls; i++) {
        xd_call *c = &s->calls[i];
        c->server = s;
        c->arena = xd_arena_new();
        if (!c->arena || nng_aio_alloc(&c->aio, call_aio_cb, c) != 0 ||
            nng_ctx_open(&c->ctx, s->sock) != 0) {
            nng_close(s->sock);
            server_free(s);
            return xd_err_set(err, XD_INTERNAL, "allocate RPC contexts");
        }
    }
    rv = nng_listener_create(&s->listener, s->sock, o->url);
    xd_code code = XD_OK;
    if (rv == 0 && o->tls_cert_file && o->tls_cert_file[0])
        code = setup_tls(s->listener, o, err);
    if (rv == 0 && code == XD_OK)
        rv = nng_listener_start(s->listener, 0);
    if (rv != 0 || code != XD_OK) {
        nng_close(s->sock);
        server_free(s);
        if (code != XD_OK)
            return code;
        return xd_err_set(err, XD_UNAVAILABLE, "listen on %s: %s", o->url, nng_strerror(rv));
    }
    for (int i = 0; i < s->n_workers; i++)
        pthread_create(&s->workers[i], NULL, worker_main, s);
    pthread_mutex_lock(&s->lock);
    for (int i = 0; i < s->n_calls; i++) {
        s->calls[i].state = CALL_RECV;
        nng_ctx_recv(s->calls[i].ctx, s->calls[i].aio);
    }
    pthread_mutex_unlock(&s->lock);
    *out = s;
    return XD_OK;
}

static void *close_socket_main(void *arg)
{
    xd_server *s = arg;
    nng_close(s->sock);
    pthread_mutex_lock(&s->lock);
    s->socket_closed = 1;
    pthread_cond_broadcast(&s->idle);
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

/* nng_close, given at most SOCKET_CLOSE_WAIT_MS: NNG 1.5.2 can wait forever
 * for a pipe or context that is never released (nanomsg/nng#1813, fixed in
 * later releases; seen here as a verify and a ratelimit that never exited
 * after SIGTERM). 1 when the socket closed. */
static int close_socket_bounded(xd_server *s)
{
    pthread_t t;
    if (pthread_create(&t, NULL, close_socket_main, s) != 0) {
        nng_close(s->sock);
        return 1;
    }
    struct timespec until;
    xd_monotonic_deadline(SOCKET_CLOSE_WAIT_MS, &until);
    pthread_mutex_lock(&s->lock);
    while (!s->socket_closed)
        if (pthread_cond_timedwait(&s->idle, &s->lock, &until) != 0)
            break;
    int closed = s->socket_closed;
    pthread_mutex_unlock(&s->lock);
    if (closed)
        pthread_join(t, NULL);
    else
        pthread_detach(t); /* still inside NNG, which may touch s: s stays */
    return closed;
}

int xd_server_stop(xd_server *s)
{
    if (!s)
        return 0;
    /* The listener stays open until the end: closing it would close the
     * pipes that in-flight replies must go out on. */
    pthread_mutex_lock(&s->lock);
    s->stopping = 1;
    pthread_mutex_unlock(&s->lock);
    /* Cancel only the receives: replies being computed or sent still go out. */
    pthread_mutex_lock(&s->lock);
    for (int i = 0; i < s->n_calls; i++)
        if (s->calls[i].state == CALL_RECV)
            nng_aio_cancel(s->calls[i].aio); /* completes asynchronously */
    pthread_mutex_unlock(&s->lock);
    struct timespec give_up;
    xd_monotonic_deadline(SERVER_STOP_WAIT_MS, &give_up);
    pthread_mutex_lock(&s->lock);
    while (s->busy_calls > 0)
        if (pthread_cond_timedwait(&s->idle, &s->lock, &give_up) != 0)
            break;
    pthread_cond_broadcast(&s->work_ready);
    pthread_mutex_unlock(&s->lock);
    for (int i = 0; i < s->n_workers; i++)
        pthread_join(s->workers[i], NULL);
    /* Every operation stopped and every context closed before the socket:
     * NNG 1.5's nng_close can wait forever on a context that still has an
     * operation (seen: a ratelimit that never exited after SIGTERM). A
     * stopped call's callback sees `stopping` and starts nothing new. */
    for (int i = 0; i < s->n_calls; i++)
        nng_aio_stop(s->calls[i].aio);
    for (int i = 0; i < s->n_calls; i++)
        nng_ctx_close(s->calls[i].ctx);
    if (!close_socket_bounded(s)) {
        XD_WARN("the RPC socket did not close within %d ms (an NNG close hang); leaving it",
                SOCKET_CLOSE_WAIT_MS);
        return -1;
    }
    server_free(s);
    return 0;
}

unsigned xd_server_in_flight(const xd_server *s)
{
    return __atomic_load_n(&s->in_flight, __ATOMIC_RELAXED);
}

/* ---- call accessors ---- */

xd_arena *xd_call_arena(xd_call *call)
{
    return call->arena;
}

void *xd_call_service(xd_call *call)
{
    return call->server->service_ctx;
}

const char *xd_call_method(const xd_call *call)
{
    return call->request ? call->request->method : "";
}

const char *xd_call_request_id(const xd_call *call)
{
    return call->request ? call->request->request_id : "";
}

const Xd__Caller *xd_call_caller(const xd_call *call)
{
    return call->request && call->request->caller ? call->request->caller : &empty_caller;
}

int64_t xd_call_remaining_ms(const xd_call *call)
{
    if (!call->deadline_ms)
        return INT64_MAX;
    return call->deadline_ms - xd_monotonic_ms();
}

void xd_call_add_detail(xd_call *call, const char *field, const char *reason)
{
    if (call->n_details >= DETAILS_MAX)
        return;
    Xd__ErrorDetail *d = xd_arena_message(call->arena, &xd__error_detail__descriptor);
    d->field = xd_arena_strdup(call->arena, field);
    d->reason = xd_arena_strdup(call->arena, reason);
    call->details[call->n_details++] = d;
}
