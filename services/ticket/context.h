/*
 * context.h: the running ticket service: its configuration keys, and the
 * context built at start-up (store, verify link, re-check thread) that every
 * handler shares.
 *
 * Memory: ticket_init() allocates the context; ticket_fini() stops the
 * re-check thread and frees everything. Thread-safety: the context is
 * read-only after init; its parts are thread-safe.
 */
#ifndef TICKET_CONTEXT_H
#define TICKET_CONTEXT_H

#include "tk_service.h"
#include "verify_link.h"
#include "xd/config.h"

typedef struct ticket_ctx {
    tk_service svc;
    tk_store *store;
    verify_link *verify;
    tk_recheck *recheck;
} ticket_ctx;

extern const xd_config_item ticket_config[];
extern const int ticket_config_count;

xd_code ticket_init(const xd_config *cfg, void **ctx_out, xd_err *err);
void ticket_fini(void *ctx);

#endif
