/*
 * service.h: the skeleton every xd-* daemon hands control to.
 *
 * xd_service_main() parses `--config FILE` / `--help`, loads configuration
 * (the common keys below plus the service's own), starts logging, calls the
 * service's init, serves RPCs until SIGTERM or SIGINT, then stops receiving,
 * lets in-flight requests finish, calls fini and exits 0. A bad
 * configuration or a failing init exits 2 with a message naming the problem:
 * fatal errors happen only at start-up, never in a request path.
 *
 * Common keys (env XD_<SERVICE>_<KEY>): listen, log_level, workers,
 * max_request_bytes, data_dir, tls_cert, tls_key.
 */
#ifndef XD_SERVICE_H
#define XD_SERVICE_H

#include "xd/config.h"
#include "xd/rpc_server.h"

typedef struct xd_service_def {
    const char *name;           /* "sender": logs, env prefix, Health */
    const char *default_listen; /* "tcp://127.0.0.1:7401" */
    const ProtobufCServiceDescriptor *descriptor;
    const xd_method_impl *methods;
    int n_methods;
    const xd_config_item *config; /* the service's own keys */
    int n_config;
    /* Builds the service context from cfg; may start background threads. */
    xd_code (*init)(const xd_config *cfg, void **ctx_out, xd_err *err);
    /* Stops background work and frees ctx; called after the server stopped. */
    void (*fini)(void *ctx);
} xd_service_def;

int xd_service_main(int argc, char **argv, const xd_service_def *def);

/* 1 once SIGTERM/SIGINT arrived: background loops poll it to finish. */
int xd_service_stopping(void);

/* The data directory from config (created 0700 at start-up). */
const char *xd_service_data_dir(const xd_config *cfg);

/* Joins data_dir and name into out ("<data_dir>/<name>"). */
void xd_service_path(const xd_config *cfg, const char *name, char *out, unsigned out_size);

#endif
