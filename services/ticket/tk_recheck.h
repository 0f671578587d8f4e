/*
 * tk_recheck.h: the intake check, once (at Create) and again later for
 * tickets stored while verify was unavailable.
 *
 * verify is reached through a tk_diagnose_fn the service provides (the NNG
 * client lives in verify_link.c), so this module has no I/O of its own and
 * unit tests can drive it with any function. A background thread wakes every
 * interval, takes the tickets whose findings are pending and due, asks
 * again, and stores the answer; a failed attempt is retried after an
 * interval that doubles up to max_interval_ms. Pending tickets are never
 * dropped: nothing filed is lost because verify was down.
 *
 * Memory: the checker borrows the store, clock and diagnose context; they
 * must outlive it. Thread-safety: tk_recheck_run_once may run on any thread;
 * start/stop from one thread.
 */
#ifndef TK_RECHECK_H
#define TK_RECHECK_H

#include <stdint.h>

#include "tk_intake.h"
#include "tk_model.h"
#include "tk_store.h"
#include "xd/arena.h"
#include "xd/clock.h"
#include "xd/status.h"

/* The question put to verify.Diagnose. */
typedef struct tk_diagnose_query {
    const char *org_id;
    const char *recipient;
    const char *message_id; /* "" = any message */
    int64_t around_ms;      /* when the problem happened */
    void *parent;           /* the RPC call being served (deadline), or NULL */
} tk_diagnose_query;

/* Asks verify; on XD_OK fills *out (strings in arena or borrowed from the
 * reply held there). Otherwise err says why. */
typedef xd_code (*tk_diagnose_fn)(void *ctx, const tk_diagnose_query *q, xd_arena *arena,
                                  tk_diagnosis *out, xd_err *err);

typedef struct tk_recheck_options {
    int64_t interval_ms;     /* first retry after this; also the poll period */
    int64_t max_interval_ms; /* retries back off up to this */
    int batch;               /* tickets per wake-up; 0 = 20 */
} tk_recheck_options;

/* Asks once and judges the answer into *a and *f (f borrows a and arena).
 * attempts = attempts so far including this one. Returns what verify
 * answered (XD_OK, or the error kept in f->last_error). */
xd_code tk_check_once(tk_diagnose_fn fn, void *fn_ctx, const tk_diagnose_query *q,
                      const tk_intake_facts *facts, int64_t now_ms, int attempts, xd_arena *arena,
                      tk_assessment *a, tk_findings *f);

/* Delay before retry number `attempts` (1 = first retry). */
int64_t tk_recheck_delay_ms(const tk_recheck_options *o, int attempts);

typedef struct tk_recheck tk_recheck;

/* Creates a checker; start_thread = 0 gives one that only runs when
 * tk_recheck_run_once is called (tests). */
xd_code tk_recheck_start(tk_store *store, const xd_clock *clock, tk_diagnose_fn fn, void *fn_ctx,
                         const tk_recheck_options *o, int start_thread, tk_recheck **out,
                         xd_err *err);

/* Checks the due tickets now; returns how many got final findings. */
int tk_recheck_run_once(tk_recheck *r);

/* Stops the thread (finishing the ticket in hand) and frees. Accepts NULL. */
void tk_recheck_stop(tk_recheck *r);

#endif
