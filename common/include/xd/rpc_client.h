/*
 * rpc_client.h: calls another xdmail service over NNG req0.
 *
 * One client per peer URL; it redials by itself when the peer restarts. Any
 * number of threads may call through one client at once (each call uses its
 * own nng_ctx). Every call has a deadline: the caller's remaining time when
 * made inside a handler (propagated), else options->timeout_ms, else the
 * client default. A peer that is down gives UNAVAILABLE quickly (no pipe
 * within connect_wait_ms), never a hang; calls succeed again as soon as the
 * peer is back. NNG's timer re-send is off; a re-send after a broken pipe
 * keeps the request id, so the server answers it without running it twice.
 *
 * Thread-safety: safe from many threads. The reply lives in the arena given.
 */
#ifndef XD_RPC_CLIENT_H
#define XD_RPC_CLIENT_H

#include <stdint.h>
#include <protobuf-c/protobuf-c.h>
#include "envelope.pb-c.h"
#include "xd/arena.h"
#include "xd/rpc_server.h"
#include "xd/status.h"

typedef struct xd_client xd_client;

typedef struct xd_client_options {
    int64_t default_timeout_ms; /* 0 = 5000 */
    int64_t connect_wait_ms;    /* how long to wait for a pipe; 0 = 250 */
    /* TLS dialer (tls+tcp://): CA file to verify the server; NULL otherwise. */
    const char *tls_ca_file;
    const char *tls_server_name;
} xd_client_options;

typedef struct xd_call_options {
    int64_t timeout_ms;       /* 0 = client default (or parent's remaining) */
    xd_call *parent;          /* propagate deadline, caller (may be NULL) */
    const Xd__Caller *caller; /* overrides the parent's caller */
    const char *request_id;   /* NULL = fresh random id */
} xd_call_options;

/* Opens a client for url; peer_name ("verify") appears in error messages.
 * Dialing happens in the background: a missing peer is not an error here. */
xd_code xd_client_open(const char *url, const char *peer_name, const xd_client_options *options,
                       xd_client **out, xd_err *err);
void xd_client_close(xd_client *client);

/* Calls method with req; on XD_OK writes *reply_out (in arena, of type
 * reply_desc). On error err says what happened, with the peer's own status
 * and message when the peer answered. */
xd_code xd_client_call(xd_client *client, const xd_call_options *options, const char *method,
                       const ProtobufCMessage *req, const ProtobufCMessageDescriptor *reply_desc,
                       xd_arena *arena, ProtobufCMessage **reply_out, xd_err *err);

/* 1 when at least one pipe to the peer is connected now. */
int xd_client_connected(xd_client *client);

#endif
