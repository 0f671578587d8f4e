/*
 * vf_service.h: the verify service's context, configuration keys and RPC
 * method table, shared by handlers.c (protobuf <-> logic) and main.c.
 * Memory: vf_service_init() builds the context; vf_service_fini() frees it.
 * Thread-safety: the context is shared by all handler threads; the store
 * serialises its own access.
 */
#ifndef VF_SERVICE_H
#define VF_SERVICE_H

#include <pthread.h>

#include "vf_store.h"
#include "xd/config.h"
#include "xd/dns.h"
#include "xd/rpc_server.h"

typedef struct vf_service {
    vf_store *store;
    xd_dns *dns; /* resolver for recipient checks; NULL = no DNS checks */
    pthread_t purge_thread;
    int purge_running;
} vf_service;

extern const xd_method_impl vf_methods[];
extern const int vf_n_methods;
extern const xd_config_item vf_config_items[];
extern const int vf_n_config_items;

xd_code vf_service_init(const xd_config *cfg, void **ctx_out, xd_err *err);
void vf_service_fini(void *ctx);

/* Builds a context around an open store (tests); takes ownership of store. */
vf_service *vf_service_wrap(vf_store *store);

#endif
