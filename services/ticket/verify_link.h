/*
 * verify_link.h: the ticket service's line to verify.Diagnose over the
 * common RPC client (a tk_diagnose_fn for tk_recheck / tk_service).
 *
 * Calls act as the suite service "ticket" (ROLE_SERVICE) for the ticket's
 * organization; inside a handler the caller's deadline is propagated.
 * Memory: the link owns its client. Thread-safety: many threads may call.
 */
#ifndef VERIFY_LINK_H
#define VERIFY_LINK_H

#include <stdint.h>

#include "tk_recheck.h"

typedef struct verify_link verify_link;

/* Opens a client to url (the peer may be down: calls then fail UNAVAILABLE). */
xd_code verify_link_open(const char *url, int64_t timeout_ms, verify_link **out, xd_err *err);
void verify_link_close(verify_link *link);

/* tk_diagnose_fn: ctx is a verify_link. */
xd_code verify_link_diagnose(void *ctx, const tk_diagnose_query *q, xd_arena *arena,
                             tk_diagnosis *out, xd_err *err);

#endif
