/*
 * rl_headroom.h: the durable bookkeeping that lets decisions reply without
 * waiting for an fsync each, while a restart after kill -9 never over-admits.
 *
 * Three durable promises bound what a crashed run may have granted that the
 * database does not show:
 *  - the run's epoch record says `until_ms`: no grant of the run happened at
 *    an engine time later than that (the writer extends it ahead of time; a
 *    decision past it waits for the extension);
 *  - a counter key's record carries `headroom`: after the state in the record
 *    was collected, the key granted at most that much more (recipients for a
 *    window, nanoseconds of TAT for GCRA);
 *  - the run's allowance table gives, per rule, what a key may grant before
 *    its first record of the run is durable (a cold key, or a key restored
 *    from an earlier run).
 * On restore after an unclean stop every key is charged its record's
 * headroom and every crashed run's allowance as if consumed at that run's
 * `until_ms`, the latest moment it could have been: the restored counts are
 * never below the truth (they may be above: under-admission only).
 *
 * Memory: plain values, no pointers; the engine embeds them. Thread-safety:
 * none (the engine's mutex guards them).
 */
#ifndef RL_HEADROOM_H
#define RL_HEADROOM_H

#include <stdint.h>
#include "rl_codec.h"
#include "rl_policy.h"

#define RL_EPOCH_EXTEND_MS 500   /* how far ahead the durable `until_ms` runs */
#define RL_COLD_MAX        16    /* allowance cap, recipients */
#define RL_CHUNK_MIN       16    /* first reservation, recipients */
#define RL_CHUNK_MAX       65536 /* largest reservation, recipients */
#define RL_CHUNK_FAST_MS   250   /* a key asking again sooner doubles its chunk */
#define RL_MAX_PHANTOMS    16    /* crashed runs remembered (older ones merge) */
#define RL_HW_UNSET        UINT64_MAX

/* Per rule: what a key may grant before its first durable record of a run. */
typedef struct rl_allow {
    char name[RL_NAME_MAX];
    uint8_t kind;   /* RL_KIND_WINDOW or RL_KIND_GCRA */
    uint64_t units; /* recipients (window) or ns of TAT (GCRA) */
} rl_allow;

typedef struct rl_allow_table {
    int n;
    rl_allow a[RL_MAX_RULES];
} rl_allow_table;

/* A crashed run (or several merged): what it may have granted unseen. */
typedef struct rl_phantom {
    uint32_t run_lo, run_hi;
    int64_t until_ms;   /* no grant of these runs after this */
    int64_t horizon_ms; /* the charges stop mattering at until_ms + this */
    rl_allow_table allow;
} rl_phantom;

typedef struct rl_epoch {
    uint32_t run;         /* this run's number (starts at 1) */
    int64_t until_ms;     /* this run's promise (durable value lives in the engine) */
    int clean;            /* 1 only in the record written by a clean stop */
    rl_allow_table allow; /* this run's allowances (max over its policies) */
    int n_ph;
    rl_phantom ph[RL_MAX_PHANTOMS];
} rl_epoch;

/* The allowance of every window and GCRA rule of p. */
void rl_allow_from_policy(const rl_policy *p, rl_allow_table *out);

/* dst[name] = max(dst[name], src[name]), adding names dst lacks. */
void rl_allow_merge_max(rl_allow_table *dst, const rl_allow_table *src);

/* Allowance for a rule (by name and kind); 0 when the table lacks it. */
uint64_t rl_allow_get(const rl_allow_table *t, const char *name, int kind);

/* Allowance for a counter key "<k>:<rule>|..." of kind; 0 when unknown. */
uint64_t rl_allow_for_key(const rl_allow_table *t, const char *key, int kind);

void rl_epoch_encode(const rl_epoch *ep, rl_wbuf *w);
/* 0, or -1 when the blob is malformed (ep is then unspecified). */
int rl_epoch_decode(rl_epoch *ep, rl_rbuf *r);

/* Starts a new run from the stored epoch of the previous one (NULL = none):
 * run + 1; a previous run that did not stop cleanly becomes a phantom;
 * phantoms whose charges no longer matter at now_ms are dropped. */
void rl_epoch_next_run(rl_epoch *ep, const rl_epoch *prev, const rl_policy *p, int64_t now_ms);

/* The `until_ms` of the (crashed) run `run`, or the latest one known when
 * that run is not remembered (always at least as late as the truth). */
int64_t rl_epoch_until_of(const rl_epoch *ep, uint32_t run);

#endif
