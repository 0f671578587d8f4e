/*
 * gw_backends.h: the gateway's RPC clients to the services it fronts.
 *
 * One xd_client per service, opened at start-up (dialing happens in the
 * background, so a service that is down is not a start-up error; calls to it
 * answer UNAVAILABLE naming it, within connect_wait_ms). Owns the clients.
 * Thread-safety: calls may run from any number of threads.
 */
#ifndef GW_BACKENDS_H
#define GW_BACKENDS_H

#include <stdint.h>
#include "xd/rpc_client.h"

typedef enum gw_service {
    GW_SVC_RATELIMIT = 0,
    GW_SVC_VERIFY,
    GW_SVC_SENDER,
    GW_SVC_TICKET,
    GW_SVC_COUNT,
} gw_service;

typedef struct gw_backends gw_backends;

/* urls[i] is the RPC URL of service i. */
xd_code gw_backends_open(const char *const urls[GW_SVC_COUNT], int64_t connect_wait_ms,
                         const char *tls_ca_file, gw_backends **out, xd_err *err);
void gw_backends_close(gw_backends *b);

const char *gw_service_name(gw_service svc);
const char *gw_backends_url(const gw_backends *b, gw_service svc);
xd_client *gw_backends_client(gw_backends *b, gw_service svc);

#endif
