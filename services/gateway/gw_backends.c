/* gw_backends.c: one RPC client per fronted service. */
#include "gw_backends.h"

#include <stdlib.h>
#include <string.h>

struct gw_backends {
    xd_client *clients[GW_SVC_COUNT];
    char *urls[GW_SVC_COUNT];
};

static const char *const names[GW_SVC_COUNT] = {"ratelimit", "verify", "sender", "ticket"};

const char *gw_service_name(gw_service svc)
{
    return svc < GW_SVC_COUNT ? names[svc] : "?";
}

xd_code gw_backends_open(const char *const urls[GW_SVC_COUNT], int64_t connect_wait_ms,
                         const char *tls_ca_file, gw_backends **out, xd_err *err)
{
    gw_backends *b = calloc(1, sizeof(*b));
    if (!b)
        return xd_err_set(err, XD_INTERNAL, "out of memory");
    xd_client_options o = {.connect_wait_ms = connect_wait_ms, .tls_ca_file = tls_ca_file};
    for (int i = 0; i < GW_SVC_COUNT; i++) {
        b->urls[i] = strdup(urls[i]);
        xd_code rc = xd_client_open(urls[i], names[i], &o, &b->clients[i], err);
        if (rc != XD_OK || !b->urls[i]) {
            gw_backends_close(b);
            return rc != XD_OK ? rc : xd_err_set(err, XD_INTERNAL, "out of memory");
        }
    }
    *out = b;
    return XD_OK;
}

void gw_backends_close(gw_backends *b)
{
    if (!b)
        return;
    for (int i = 0; i < GW_SVC_COUNT; i++) {
        xd_client_close(b->clients[i]);
        free(b->urls[i]);
    }
    free(b);
}

const char *gw_backends_url(const gw_backends *b, gw_service svc)
{
    return b->urls[svc];
}

xd_client *gw_backends_client(gw_backends *b, gw_service svc)
{
    return b->clients[svc];
}
