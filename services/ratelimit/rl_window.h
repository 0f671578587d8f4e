/*
 * rl_window.h: the two counting primitives, as plain values with no clock
 * and no locking: an exact rolling window and GCRA pacing.
 *
 * Rolling window: a ring of grant records (timestamp ms, recipients), oldest
 * first; a grant made at t counts while now - t < window_ms. Grants in the
 * same aligned granule (granule_ms = window_ms / max_entries, at least 1 ms)
 * share a record stamped with the LATEST grant time, so those recipients
 * expire at most one granule later than they truly would: the window may
 * under-admit near its trailing edge but never admits more than `limit` in
 * any trailing window. With a 1 ms granule it is exact. A ring therefore
 * holds at most window/granule + 1 records; should it still reach
 * max_entries + 1 (a changed policy), the two oldest records merge under the
 * newer stamp, which is conservative too.
 *
 * GCRA: the theoretical arrival time in ns; interval = ceil(period/limit) so
 * rounding only ever slows the pace. At most `burst` recipients at an
 * instant, and at most burst + L/interval in any interval of length L.
 *
 * Memory: an rl_window owns its ring (free with rl_window_free). Thread-safety:
 * none; callers serialise.
 */
#ifndef RL_WINDOW_H
#define RL_WINDOW_H

#include <stdint.h>

typedef struct rl_win_entry {
    int64_t ts_ms;
    uint64_t count;
} rl_win_entry;

typedef struct rl_window {
    rl_win_entry *ring;
    uint32_t head; /* index of the oldest record */
    uint32_t n;    /* records in use */
    uint32_t cap;  /* allocated records */
    uint64_t sum;  /* recipients in all records */
} rl_window;

void rl_window_free(rl_window *w);

/* Drops records that left the trailing window at now_ms. */
void rl_window_expire(rl_window *w, int64_t now_ms, int64_t window_ms);

/* Recipients that fit now (call rl_window_expire first). */
uint64_t rl_window_available(const rl_window *w, uint64_t limit);

/* Milliseconds until `need` recipients fit, assuming nothing else is added:
 * 0 = now, -1 = never (need > limit). Call rl_window_expire first. */
int64_t rl_window_retry_ms(const rl_window *w, int64_t now_ms, int64_t window_ms, uint64_t limit,
                           uint64_t need);

/* The granule for a window: max(1, window_ms / max_entries). */
int64_t rl_window_granule_ms(int64_t window_ms, uint32_t max_entries);

/* Records a grant at now_ms (>= every earlier grant). Returns 0, -1 on OOM
 * (nothing recorded). max_entries >= 2; granule_ms >= 1. */
int rl_window_add(rl_window *w, int64_t now_ms, uint64_t count, uint32_t max_entries,
                  int64_t granule_ms);

/* Makes sure the next rl_window_add cannot fail for lack of memory.
 * Returns 0, -1 on OOM. */
int rl_window_reserve_one(rl_window *w, uint32_t max_entries);

/* Removes up to count recipients, oldest records first (the conservative
 * choice: what remains expires no earlier than the true grants would). */
uint64_t rl_window_remove(rl_window *w, uint64_t count);

/* The i-th record, oldest first (i < n). */
rl_win_entry rl_window_at(const rl_window *w, uint32_t i);

typedef struct rl_gcra {
    int64_t interval_ns; /* ceil(period_ms * 1e6 / limit) */
    uint64_t burst;      /* >= 1 */
} rl_gcra;

/* Parameters for `limit` per `period_ms` with `burst`; limit 0 gives
 * interval 0 (callers treat the rule as closed). */
rl_gcra rl_gcra_params(uint64_t limit, int64_t period_ms, uint64_t burst);

/* Recipients that fit now given tat_ns. */
uint64_t rl_gcra_available(rl_gcra g, int64_t tat_ns, int64_t now_ms);

/* Milliseconds until `need` fit (0 = now, -1 = never: need > burst). */
int64_t rl_gcra_retry_ms(rl_gcra g, int64_t tat_ns, int64_t now_ms, uint64_t need);

/* The new TAT after admitting count (the caller checked that they fit). */
int64_t rl_gcra_take(rl_gcra g, int64_t tat_ns, int64_t now_ms, uint64_t count);

/* The TAT after giving back count (never earlier than now). */
int64_t rl_gcra_give_back(rl_gcra g, int64_t tat_ns, int64_t now_ms, uint64_t count);

#endif
