/*
 * xt_load.h: steady SendEmail load through the gateway's NNG socket from
 * many module threads, with the ledger that proves nothing was lost: every
 * accepted recipient (QUEUED in a SendEmail reply) is remembered, then
 * checked for a final state through GetEmailStatus and counted at the sink
 * (copies per recipient; duplicates and the ones that never arrived).
 * Each send carries an idempotency key; with retry set a failed call is
 * repeated with the same key, as a careful module would, so a send the
 * suite committed before a crash is answered (duplicate) instead of lost.
 * Memory: xt_load owns its threads, ledger and latencies until
 * xt_load_free. Thread-safety: start/stop/check from one thread; the
 * counters may be read while the load runs.
 */
#ifndef XT_LOAD_H
#define XT_LOAD_H

#include <stdint.h>

#include "xt_suite.h"

#define XT_CODES 17 /* gRPC status codes 0..16 */

typedef struct xt_load_options {
    xt_suite *suite;
    const char *key;      /* a MODULE key */
    const char *domain;   /* recipients' domain (its MX is the sink) */
    const char *tag;      /* makes addresses unique per run: <tag>-<t>-<seq>-<i>@domain */
    int threads;          /* concurrent module clients */
    int recipients;       /* per SendEmail, 1..32 */
    int pause_ms;         /* between one thread's sends */
    int64_t retry_for_ms; /* 0 = no retry; else retry a failed send this long */
    int64_t call_timeout_ms;
} xt_load_options;

typedef struct xt_load xt_load;

int xt_load_start(xt_load **out, const xt_load_options *o);
/* Asks the threads to finish their current send and joins them. */
void xt_load_stop(xt_load *l);
void xt_load_free(xt_load *l);

typedef struct xt_load_stats {
    long calls;            /* SendEmail attempts (retries included) */
    long sends_ok;         /* sends that ended with a reply */
    long sends_failed;     /* sends given up (no reply within retry_for_ms) */
    long accepted;         /* recipients QUEUED */
    long errors[XT_CODES]; /* failed attempts by status code */
    double p50_ms, p99_ms; /* latency of successful attempts */
    double elapsed_s;
} xt_load_stats;

void xt_load_get_stats(xt_load *l, xt_load_stats *out);
long xt_load_accepted(xt_load *l);

typedef struct xt_load_final {
    long accepted;
    long delivered;              /* final: DELIVERED */
    long other_final;            /* final, not delivered (bounced, expired, ...) */
    long lost;                   /* no record at verify, or not final by the deadline */
    char first_lost_message[64]; /* message id of the first lost recipient, or "" */
} xt_load_final;

/* Polls GetEmailStatus (as status_key, SUPPORT) for every accepted message
 * until each recipient is final or timeout_ms passed. 0 when none is lost. */
int xt_load_wait_final(xt_load *l, const char *status_key, int64_t timeout_ms, xt_load_final *out);

typedef struct xt_sink_tally {
    long files;          /* messages at the sink */
    long accepted_seen;  /* accepted recipients with at least one copy */
    long missing;        /* accepted and DELIVERED but no copy at the sink */
    long duplicates;     /* extra copies of accepted recipients */
    long dup_recipients; /* recipients with more than one copy */
    long unexplained;    /* duplicated recipients with no copy inside a window */
    long unknown;        /* copies of addresses that were never accepted */
} xt_sink_tally;

/* Counts the copies of every accepted recipient in the sink folders (NULL
 * ended list). windows: n pairs [start, end] of wall-clock Unix seconds in
 * which a copy may legitimately be doubled (the DATA-accepted-but-not-
 * committed window); a duplicated recipient none of whose copies was
 * written within one of them (+-slack_s) counts as unexplained. */
void xt_load_tally(xt_load *l, const char *const *sink_dirs, const int64_t (*windows)[2],
                   int n_windows, int slack_s, xt_sink_tally *out);

#endif
