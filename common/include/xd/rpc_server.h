/*
 * rpc_server.h: the xdmail RPC server (NNG rep0, protobuf-c dispatch).
 *
 * One rep0 socket per service. A fixed set of nng_ctx receive requests in
 * parallel (nng's demo/async/server.c pattern); each request is handed to a
 * worker thread, because handlers block (SQLite, SMTP, DNS). The envelope's
 * method name is looked up in the service's protobuf-c descriptor, the
 * payload is unpacked into the method's input type, and the handler fills the
 * output message, both living in the call's arena (handlers never free).
 *
 * Guarantees: unknown or unbuilt method -> UNIMPLEMENTED; undecodable payload
 * -> INVALID_ARGUMENT; request over max_request_bytes -> RESOURCE_EXHAUSTED;
 * deadline passed before or after the handler -> DEADLINE_EXCEEDED. A request
 * id seen recently (NNG re-sends a request when a pipe drops) is answered
 * from the first execution's reply and never runs twice; a duplicate that
 * arrives while the first is still running waits for its result.
 *
 * Thread-safety: handlers run concurrently on `workers` threads; the service
 * context is shared between them. xd_server_stop() stops receiving, lets the
 * in-flight requests finish, then returns.
 */
#ifndef XD_RPC_SERVER_H
#define XD_RPC_SERVER_H

#include <stdint.h>
#include <protobuf-c/protobuf-c.h>
#include "envelope.pb-c.h"
#include "xd/arena.h"
#include "xd/status.h"

typedef struct xd_server xd_server;
typedef struct xd_call xd_call;

/* Handles one call: reads req, fills reply (already initialised to the
 * method's output type, in the call arena). Returns XD_OK, or a code with err
 * set to a message that says what to fix. */
typedef xd_code (*xd_handler_fn)(xd_call *call, const ProtobufCMessage *req,
                                 ProtobufCMessage *reply, xd_err *err);

typedef struct xd_method_impl {
    const char *name; /* as in the .proto, e.g. "Submit" */
    xd_handler_fn fn;
} xd_method_impl;

typedef struct xd_server_options {
    const char *url;           /* "tcp://127.0.0.1:7401", "ipc:///tmp/x.sock" */
    const char *service_name;  /* for logs and Health */
    int workers;               /* handler threads; 0 = 8 */
    int contexts;              /* parallel receives; 0 = 4 * workers */
    int64_t max_request_bytes; /* 0 = 16 MiB */
    int dedup_entries;         /* remembered request ids; 0 = 8192 */
    int64_t dedup_ttl_ms;      /* 0 = 10 minutes */
    void *service_ctx;         /* handed to handlers via xd_call_service() */
    /* TLS listener (tls+tcp://): PEM files; NULL for plain transports. */
    const char *tls_cert_file;
    const char *tls_key_file;
} xd_server_options;

/* Binds and starts serving. Every impl name must exist in descriptor (else
 * INVALID_ARGUMENT: a start-up error). A method of the descriptor without an
 * impl answers UNIMPLEMENTED, except "Health", which the server answers
 * itself when the service gives none. */
xd_code xd_server_start(const xd_server_options *options,
                        const ProtobufCServiceDescriptor *descriptor, const xd_method_impl *impls,
                        int n_impls, xd_server **out, xd_err *err);

/* Stops receiving, waits for in-flight handlers, closes. Accepts NULL.
 * Returns 0, or -1 when NNG did not close the socket within a few seconds
 * (an NNG 1.5 close hang): the server is then left allocated and the
 * process should exit without NNG's at-exit clean-up (_exit). */
int xd_server_stop(xd_server *server);

/* Requests currently inside a handler. */
unsigned xd_server_in_flight(const xd_server *server);

/* --- inside a handler --- */
xd_arena *xd_call_arena(xd_call *call);
void *xd_call_service(xd_call *call);
const char *xd_call_method(const xd_call *call);
const char *xd_call_request_id(const xd_call *call);
/* The caller as established by the gateway (never NULL; fields may be empty). */
const Xd__Caller *xd_call_caller(const xd_call *call);
/* Milliseconds left before the caller's deadline; INT64_MAX when none. */
int64_t xd_call_remaining_ms(const xd_call *call);
/* Adds a machine-readable detail (field, reason) to the reply. */
void xd_call_add_detail(xd_call *call, const char *field, const char *reason);

#endif
