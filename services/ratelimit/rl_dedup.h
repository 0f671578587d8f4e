/*
 * rl_dedup.h: the remembered answer to one Consume or Refund request id,
 * kept compact (one record per request for the dedup TTL).
 *
 * A record owns its strings (one allocation, `extra`). The per-rule table of
 * a decision is not kept: a replayed reply carries the verdict, grant,
 * binding rule, retry, reason and provider. Thread-safety: none (the
 * engine's mutex guards records).
 */
#ifndef RL_DEDUP_H
#define RL_DEDUP_H

#include <stdint.h>
#include "rl_codec.h"
#include "rl_engine.h"

typedef struct rl_dedup {
    struct rl_dedup *next; /* FIFO by at_ms */
    int64_t at_ms, retry_after_ms;
    uint64_t seq;
    uint32_t granted;
    uint32_t refunded; /* consume: refunded so far; refund: recipients returned */
    uint8_t is_refund, dirty, verdict, n_keys;
    int64_t *interval_ns; /* per consumed key: GCRA interval, 0 for windows */
    char *extra;          /* binding \0 reason \0 provider \0 key1 \n key2 ... \0 */
    char id[];            /* then extra, then interval_ns, in the same block */
} rl_dedup;

/* Makes a record in one allocation: for a Consume, x is its answer and keys
 * (n_keys, with each key's GCRA interval) what it consumed; for a Refund, x
 * is NULL. NULL on OOM or more than 64 keys. Free with rl_dedup_free. */
rl_dedup *rl_dedup_make(const char *id, int64_t at_ms, int is_refund, const rl_decision *x,
                        const char *const *keys, const int64_t *interval_ns, int n_keys);
void rl_dedup_free(rl_dedup *d);

/* Writes the stored answer into out (n_rules = 0). */
void rl_dedup_fill(const rl_dedup *d, rl_decision *out);

/* Copies the i-th consumed key into out; -1 when it does not fit. */
int rl_dedup_key(const rl_dedup *d, int i, char *out, size_t size);

void rl_dedup_encode(const rl_dedup *d, rl_wbuf *w);
/* NULL when the blob is malformed. */
rl_dedup *rl_dedup_decode(const char *id, int64_t at_ms, rl_rbuf *r);

#endif
