/*
 * rl_service.h: the ratelimit daemon's context: configuration keys, the
 * engine and its store, the clock; built by init, freed by fini (hooks for
 * xd_service_main), shared read-only by the handlers.
 *
 * Memory: the service owns engine and store. Thread-safety: after init the
 * struct is read-only; engine and store are thread-safe.
 */
#ifndef RL_SERVICE_H
#define RL_SERVICE_H

#include "rl_engine.h"
#include "rl_store.h"
#include "xd/clock.h"
#include "xd/config.h"
#include "xd/rpc_server.h"

typedef struct rl_service {
    rl_engine *engine;
    rl_store *store;
    const xd_clock *clock;
    int64_t durable_timeout_ms; /* longest wait for a commit before UNAVAILABLE */
} rl_service;

extern const xd_config_item rl_config_items[];
extern const int rl_n_config_items;

xd_code rl_service_init(const xd_config *cfg, void **ctx_out, xd_err *err);
void rl_service_fini(void *ctx);

/* The RPC handlers (handlers.c). */
extern const xd_method_impl rl_methods[];
extern const int rl_n_methods;

#endif
