/*
 * gw_autosuspend.h: optional automatic suspension of organizations whose
 * health at verify (GetOrgHealth: bounce and complaint rates against its
 * thresholds) is CRITICAL. Off unless configured (auto_suspend=true).
 *
 * A background thread sweeps the organizations every interval_ms, at most
 * batch of them per sweep (a cursor walks the table round-robin), asks verify
 * for each one's health and suspends the critical ones with a reason that
 * quotes the figures (SendEmail's FAILED_PRECONDITION then shows it). An
 * organization an operator enabled less than grace_ms ago is never
 * re-suspended; the operator organization never is. The suspension is a
 * compare-and-set on the row, so an operator's change during a sweep wins.
 *
 * Memory: the sweeper owns its thread and state; ctx is borrowed and must
 * outlive it. Thread-safety: start/stop from one thread; the judge
 * functions are pure.
 */
#ifndef GW_AUTOSUSPEND_H
#define GW_AUTOSUSPEND_H

#include <stddef.h>
#include <stdint.h>
#include "verify.pb-c.h"
#include "gw_api.h"

#define GW_AUTOSUSPEND_BY "auto-suspension" /* status_changed_by of its suspensions */

typedef struct gw_autosuspend_options {
    int64_t interval_ms; /* time between sweeps */
    int batch;           /* organizations asked about per sweep */
    int64_t grace_ms;    /* no re-suspension this long after an operator enabled one */
    uint64_t min_sent;   /* a critical window with fewer recipients is ignored */
    int64_t timeout_ms;  /* budget of one GetOrgHealth call */
} gw_autosuspend_options;

typedef struct gw_autosuspend gw_autosuspend;

/* Starts the sweeper thread. */
xd_code gw_autosuspend_start(gw_ctx *ctx, const gw_autosuspend_options *o, gw_autosuspend **out,
                             xd_err *err);
/* Wakes the thread, waits for the sweep in progress, frees. NULL is fine. */
void gw_autosuspend_stop(gw_autosuspend *a);

/* 1 when h says "suspend": some window is CRITICAL (bounce or complaint)
 * with at least min_sent recipients. Writes the reason (no CR/LF, at most
 * GW_REASON_MAX octets) naming the rate, window, counts and threshold. */
int gw_autosuspend_judge(const Xd__GetOrgHealthReply *h, uint64_t min_sent, char *reason,
                         size_t size);

/* 1 when org was enabled by an operator (not at creation) less than
 * grace_ms before now_ms. */
int gw_autosuspend_in_grace(const gw_org *org, int64_t now_ms, int64_t grace_ms);

#endif
