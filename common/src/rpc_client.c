/* rpc_client.c: req0 client with per-call contexts, deadlines, fast UNAVAILABLE. */
#include "xd/rpc_client.h"
#include "xd/clock.h"
#include "xd/log.h"
#include "xd/tls.h"
#include "xd/util.h"

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A request context and its aio, kept for reuse between calls. */
typedef struct call_slot {
    nng_ctx ctx;
    nng_aio *aio;
    struct call_slot *next;
} call_slot;

struct xd_client {
    nng_socket sock;
    call_slot *free_slots; /* guarded by lock */
    nng_dialer dialer;
    char url[256];
    char peer[32];
    int64_t default_timeout_ms;
    int64_t connect_wait_ms;
    pthread_mutex_t lock;
    pthread_cond_t pipes_changed;
    int n_pipes;
};

static void slot_free(call_slot *slot);

/* Request ids: a random per-process prefix and a counter, unique without a
 * getrandom() per call. */
static char id_prefix[17];
static _Atomic unsigned long long id_counter;
static pthread_once_t id_once = PTHREAD_ONCE_INIT;

static void init_id_prefix(void)
{
    xd_random_hex(id_prefix, 8);
}

static void next_request_id(char out[33])
{
    pthread_once(&id_once, init_id_prefix);
    snprintf(out, 33, "%s%016llx", id_prefix, ++id_counter);
}

static void pipe_event(nng_pipe pipe, nng_pipe_ev ev, void *arg)
{
    (void)pipe;
    xd_client *c = arg;
    pthread_mutex_lock(&c->lock);
    if (ev == NNG_PIPE_EV_ADD_POST)
        c->n_pipes++;
    else if (c->n_pipes > 0)
        c->n_pipes--;
    pthread_cond_broadcast(&c->pipes_changed);
    pthread_mutex_unlock(&c->lock);
}

static xd_code setup_tls(xd_client *c, const xd_client_options *o, xd_err *err)
{
    nng_tls_config *cfg = NULL;
    xd_code code = xd_tls_client_config(o->tls_ca_file, o->tls_server_name, &cfg, err);
    if (code != XD_OK)
        return code;
    int rv = nng_dialer_set_ptr(c->dialer, NNG_OPT_TLS_CONFIG, cfg);
    nng_tls_config_free(cfg);
    if (rv != 0)
        return xd_err_set(err, XD_INVALID_ARGUMENT, "TLS dialer %s: %s", c->url, nng_strerror(rv));
    return XD_OK;
}

xd_code xd_client_open(const char *url, const char *peer_name, const xd_client_options *o,
                       xd_client **out, xd_err *err)
{
    xd_client_options defaults = {0};
    if (!o)
        o = &defaults;
    xd_client *c = calloc(1, sizeof(*c));
    if (!c)
        return xd_err_set(err, XD_INTERNAL, "out of memory");
    snprintf(c->url, sizeof(c->url), "%s", url);
    snprintf(c->peer, sizeof(c->peer), "%s", peer_name ? peer_name : url);
    c->default_timeout_ms = o->default_timeout_ms > 0 ? o->default_timeout_ms : 5000;
    c->connect_wait_ms = o->connect_wait_ms > 0 ? o->connect_wait_ms : 250;
    pthread_mutex_init(&c->lock, NULL);
    xd_cond_init_monotonic(&c->pipes_changed);

    int rv = nng_req0_open(&c->sock);
    if (rv != 0) {
        free(c);
        return xd_err_set(err, XD_INTERNAL, "open req0 socket: %s", nng_strerror(rv));
    }
    /* No timer re-sends: a call has one deadline; re-sends after a broken
     * pipe keep the request id and are answered by the server's dedup. */
    nng_socket_set_ms(c->sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
    nng_socket_set_ms(c->sock, NNG_OPT_RECONNMINT, 20);
    nng_socket_set_ms(c->sock, NNG_OPT_RECONNMAXT, 500);
    nng_socket_set_size(c->sock, NNG_OPT_RECVMAXSZ, 64u << 20);
    /* NNG 1.5 also reports REM_POST for a pipe closed before its ADD_POST
     * (a peer killed while the connection was being set up): the count
     * stops at 0 instead of going to -1, which made the client say "no
     * connection" for good although it was connected again. (Counting from
     * ADD_PRE instead left clients in compose unconnected in CI.) */
    nng_pipe_notify(c->sock, NNG_PIPE_EV_ADD_POST, pipe_event, c);
    nng_pipe_notify(c->sock, NNG_PIPE_EV_REM_POST, pipe_event, c);
    rv = nng_dialer_create(&c->dialer, c->sock, url);
    xd_code code = XD_OK;
    if (rv == 0 && o->tls_ca_file && o->tls_ca_file[0])
        code = setup_tls(c, o, err);
    if (rv == 0 && code == XD_OK)
        rv = nng_dialer_start(c->dialer, NNG_FLAG_NONBLOCK);
    if (rv != 0 || code != XD_OK) {
        nng_close(c->sock);
        pthread_mutex_destroy(&c->lock);
        pthread_cond_destroy(&c->pipes_changed);
        free(c);
        if (code != XD_OK)
            return code;
        return xd_err_set(err, XD_INVALID_ARGUMENT, "cannot dial %s at '%s': %s", peer_name, url,
                          nng_strerror(rv));
    }
    *out = c;
    return XD_OK;
}

void xd_client_close(xd_client *c)
{
    if (!c)
        return;
    for (call_slot *slot = c->free_slots, *next; slot; slot = next) {
        next = slot->next;
        slot_free(slot);
    }
    nng_close(c->sock);
    pthread_mutex_destroy(&c->lock);
    pthread_cond_destroy(&c->pipes_changed);
    free(c);
}

int xd_client_connected(xd_client *c)
{
    pthread_mutex_lock(&c->lock);
    int n = c->n_pipes;
    pthread_mutex_unlock(&c->lock);
    return n > 0;
}

/* Waits up to wait_ms for a connected pipe; returns 1 when there is one. */
static int wait_for_pipe(xd_client *c, int64_t wait_ms)
{
    struct timespec until;
    xd_monotonic_deadline(wait_ms, &until);
    pthread_mutex_lock(&c->lock);
    while (c->n_pipes <= 0)
        if (pthread_cond_timedwait(&c->pipes_changed, &c->lock, &until) != 0)
            break;
    int ok = c->n_pipes > 0;
    pthread_mutex_unlock(&c->lock);
    return ok;
}

static xd_code unavailable(xd_client *c, xd_err *err)
{
    xd_code code = xd_err_set(err, XD_UNAVAILABLE, "%s is unavailable (no connection to %s); retry",
                              c->peer, c->url);
    if (err)
        err->retry_after_ms = 1000;
    return code;
}

/* Sends one packed envelope and waits for the answer, within timeout_ms. */
/* Takes a context from the pool or opens one; NULL when nng cannot. */
static call_slot *slot_get(xd_client *c)
{
    pthread_mutex_lock(&c->lock);
    call_slot *slot = c->free_slots;
    if (slot)
        c->free_slots = slot->next;
    pthread_mutex_unlock(&c->lock);
    if (slot)
        return slot;
    slot = calloc(1, sizeof(*slot));
    if (!slot)
        return NULL;
    if (nng_aio_alloc(&slot->aio, NULL, NULL) != 0) {
        free(slot);
        return NULL;
    }
    if (nng_ctx_open(&slot->ctx, c->sock) != 0) {
        nng_aio_free(slot->aio);
        free(slot);
        return NULL;
    }
    return slot;
}

static void slot_free(call_slot *slot)
{
    nng_ctx_close(slot->ctx);
    nng_aio_free(slot->aio);
    free(slot);
}

/* Returns a context to the pool. One that failed may still hold a pending
 * request, so it is closed instead of reused. */
static void slot_put(xd_client *c, call_slot *slot, int healthy)
{
    if (!healthy) {
        slot_free(slot);
        return;
    }
    pthread_mutex_lock(&c->lock);
    slot->next = c->free_slots;
    c->free_slots = slot;
    pthread_mutex_unlock(&c->lock);
}

/* Sends one packed envelope and waits for the answer, within timeout_ms. */
static int exchange(xd_client *c, const void *body, size_t len, int64_t timeout_ms,
                    nng_msg **reply_out)
{
    call_slot *slot = slot_get(c);
    nng_msg *msg = NULL;
    if (!slot)
        return NNG_ENOMEM;
    int rv = nng_msg_alloc(&msg, len);
    if (rv != 0) {
        slot_put(c, slot, 1);
        return rv;
    }
    memcpy(nng_msg_body(msg), body, len);
    nng_aio_set_timeout(slot->aio, (nng_duration)timeout_ms);
    nng_aio_set_msg(slot->aio, msg);
    nng_ctx_send(slot->ctx, slot->aio);
    nng_aio_wait(slot->aio);
    if ((rv = nng_aio_result(slot->aio)) != 0) {
        nng_msg_free(msg);
    } else {
        nng_ctx_recv(slot->ctx, slot->aio);
        nng_aio_wait(slot->aio);
        if ((rv = nng_aio_result(slot->aio)) == 0)
            *reply_out = nng_aio_get_msg(slot->aio);
    }
    slot_put(c, slot, rv == 0);
    return rv;
}

xd_code xd_client_call(xd_client *c, const xd_call_options *o, const char *method,
                       const ProtobufCMessage *req, const ProtobufCMessageDescriptor *reply_desc,
                       xd_arena *arena, ProtobufCMessage **reply_out, xd_err *err)
{
    xd_call_options none = {0};
    if (!o)
        o = &none;
    int64_t timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : c->default_timeout_ms;
    if (o->parent) {
        int64_t left = xd_call_remaining_ms(o->parent); /* propagate the caller's deadline */
        if (left < timeout_ms)
            timeout_ms = left;
    }
    if (timeout_ms <= 0)
        return xd_err_set(err, XD_DEADLINE_EXCEEDED,
                          "no time left to call %s.%s before the caller's deadline", c->peer,
                          method);
    int64_t start = xd_monotonic_ms();
    if (!wait_for_pipe(c, timeout_ms < c->connect_wait_ms ? timeout_ms : c->connect_wait_ms))
        return unavailable(c, err);

    char request_id[33];
    Xd__Request rq = XD__REQUEST__INIT;
    rq.method = (char *)method;
    if (o->request_id) {
        rq.request_id = (char *)o->request_id;
    } else {
        next_request_id(request_id);
        rq.request_id = request_id;
    }
    if (o->caller)
        rq.caller = (Xd__Caller *)o->caller;
    else if (o->parent)
        rq.caller = (Xd__Caller *)xd_call_caller(o->parent);
    rq.payload.len = protobuf_c_message_get_packed_size(req);
    rq.payload.data = xd_arena_alloc(arena, rq.payload.len);
    protobuf_c_message_pack(req, rq.payload.data);
    timeout_ms -= xd_monotonic_ms() - start;
    if (timeout_ms <= 0)
        timeout_ms = 1;
    rq.timeout_ms = timeout_ms;
    size_t len = xd__request__get_packed_size(&rq);
    unsigned char *body = xd_arena_alloc(arena, len);
    xd__request__pack(&rq, body);

    nng_msg *reply_msg = NULL;
    int rv = exchange(c, body, len, timeout_ms, &reply_msg);
    if (rv == NNG_ETIMEDOUT) {
        if (!xd_client_connected(c))
            return unavailable(c, err);
        return xd_err_set(err, XD_DEADLINE_EXCEEDED, "%s did not answer %s within %lld ms", c->peer,
                          method, (long long)timeout_ms);
    }
    if (rv != 0)
        return xd_err_set(err, XD_UNAVAILABLE, "calling %s.%s: %s", c->peer, method,
                          nng_strerror(rv));
    Xd__Reply *reply = xd__reply__unpack(xd_arena_allocator(arena), nng_msg_len(reply_msg),
                                         nng_msg_body(reply_msg));
    nng_msg_free(reply_msg);
    if (!reply)
        return xd_err_set(err, XD_INTERNAL, "%s sent an undecodable reply to %s", c->peer, method);
    if (reply->code != XD_OK) {
        xd_code code = reply->code > 0 && reply->code <= XD_UNAUTHENTICATED ? (xd_code)reply->code
                                                                            : XD_UNKNOWN;
        if (reply->n_details > 0)
            xd_err_field(err, code, reply->details[0]->field, "%s", reply->message);
        else
            xd_err_set(err, code, "%s", reply->message);
        if (err)
            err->retry_after_ms = reply->retry_after_ms;
        return code;
    }
    ProtobufCMessage *m = protobuf_c_message_unpack(reply_desc, xd_arena_allocator(arena),
                                                    reply->payload.len, reply->payload.data);
    if (!m)
        return xd_err_set(err, XD_INTERNAL, "%s replied to %s with a payload that is not %s",
                          c->peer, method, reply_desc->name);
    *reply_out = m;
    return XD_OK;
}
