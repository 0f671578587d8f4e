/* rl_window.c: exact rolling windows and GCRA; see rl_window.h. */
#include "rl_window.h"

#include <stdlib.h>

#define NS_PER_MS 1000000LL

void rl_window_free(rl_window *w)
{
    free(w->ring);
    w->ring = NULL;
    w->head = w->n = w->cap = 0;
    w->sum = 0;
}

rl_win_entry rl_window_at(const rl_window *w, uint32_t i)
{
    return w->ring[(w->head + i) % w->cap];
}

void rl_window_expire(rl_window *w, int64_t now_ms, int64_t window_ms)
{
    while (w->n > 0) {
        rl_win_entry *e = &w->ring[w->head];
        if (now_ms - e->ts_ms < window_ms)
            break;
        w->sum -= e->count;
        w->head = (w->head + 1) % w->cap;
        w->n--;
    }
    if (w->n == 0)
        w->head = 0;
}

uint64_t rl_window_available(const rl_window *w, uint64_t limit)
{
    return w->sum >= limit ? 0 : limit - w->sum;
}

int64_t rl_window_retry_ms(const rl_window *w, int64_t now_ms, int64_t window_ms, uint64_t limit,
                           uint64_t need)
{
    if (need > limit)
        return -1;
    if (w->sum + need <= limit)
        return 0;
    uint64_t excess = w->sum + need - limit;
    uint64_t freed = 0;
    for (uint32_t i = 0; i < w->n; i++) {
        rl_win_entry e = rl_window_at(w, i);
        freed += e.count;
        if (freed >= excess) {
            int64_t at = e.ts_ms + window_ms - now_ms;
            return at > 0 ? at : 0;
        }
    }
    return -1; /* unreachable when sum is consistent */
}

static int reserve(rl_window *w, uint32_t want)
{
    if (w->cap >= want)
        return 0;
    uint32_t ncap = want;
    rl_win_entry *nr = malloc(sizeof(*nr) * ncap);
    if (!nr)
        return -1;
    for (uint32_t i = 0; i < w->n; i++)
        nr[i] = rl_window_at(w, i);
    free(w->ring);
    w->ring = nr;
    w->head = 0;
    w->cap = ncap;
    return 0;
}

int64_t rl_window_granule_ms(int64_t window_ms, uint32_t max_entries)
{
    int64_t g = max_entries ? window_ms / max_entries : 1;
    return g > 0 ? g : 1;
}

int rl_window_reserve_one(rl_window *w, uint32_t max_entries)
{
    if (w->n < w->cap || w->n > max_entries)
        return 0;
    uint32_t want = w->cap ? w->cap * 2 : 1;
    if (want > max_entries + 1)
        want = max_entries + 1;
    return reserve(w, want);
}

static int64_t floor_div(int64_t a, int64_t b)
{
    return a >= 0 ? a / b : -((-a + b - 1) / b);
}

int rl_window_add(rl_window *w, int64_t now_ms, uint64_t count, uint32_t max_entries,
                  int64_t granule_ms)
{
    if (count == 0)
        return 0;
    if (granule_ms < 1)
        granule_ms = 1;
    if (w->n > 0) {
        rl_win_entry *last = &w->ring[(w->head + w->n - 1) % w->cap];
        /* Same granule (or a clock step back): share the record, stamped
         * with the later time so nothing expires early. */
        if (now_ms <= last->ts_ms ||
            floor_div(now_ms, granule_ms) == floor_div(last->ts_ms, granule_ms)) {
            if (now_ms > last->ts_ms)
                last->ts_ms = now_ms;
            last->count += count;
            w->sum += count;
            return 0;
        }
    }
    if (w->n >= max_entries + 1) {
        /* Merge the two oldest into the second (newer timestamp): those
         * recipients now expire later than they really would, never sooner. */
        rl_win_entry *oldest = &w->ring[w->head];
        rl_win_entry *second = &w->ring[(w->head + 1) % w->cap];
        second->count += oldest->count;
        w->head = (w->head + 1) % w->cap;
        w->n--;
    } else if (w->n == w->cap) {
        uint32_t want = w->cap ? w->cap * 2 : 1;
        if (want > max_entries + 1)
            want = max_entries + 1;
        if (reserve(w, want) != 0)
            return -1;
    }
    w->ring[(w->head + w->n) % w->cap] = (rl_win_entry){now_ms, count};
    w->n++;
    w->sum += count;
    return 0;
}

uint64_t rl_window_remove(rl_window *w, uint64_t count)
{
    uint64_t removed = 0;
    while (w->n > 0 && removed < count) {
        rl_win_entry *e = &w->ring[w->head];
        uint64_t take = count - removed;
        if (take >= e->count) {
            take = e->count;
            w->head = (w->head + 1) % w->cap;
            w->n--;
        } else {
            e->count -= take;
        }
        removed += take;
        w->sum -= take;
    }
    if (w->n == 0)
        w->head = 0;
    return removed;
}

rl_gcra rl_gcra_params(uint64_t limit, int64_t period_ms, uint64_t burst)
{
    rl_gcra g = {0, burst ? burst : 1};
    if (limit == 0)
        return g;
    __int128 p = (__int128)period_ms * NS_PER_MS;
    g.interval_ns = (int64_t)((p + limit - 1) / limit);
    if (g.interval_ns < 1)
        g.interval_ns = 1;
    return g;
}

uint64_t rl_gcra_available(rl_gcra g, int64_t tat_ns, int64_t now_ms)
{
    if (g.interval_ns <= 0)
        return 0;
    __int128 now_ns = (__int128)now_ms * NS_PER_MS;
    __int128 base = tat_ns > now_ns ? tat_ns : now_ns;
    /* k fits when base + k*I - now <= burst*I. */
    __int128 room = (__int128)g.burst * g.interval_ns - (base - now_ns);
    if (room < 0)
        return 0;
    return (uint64_t)(room / g.interval_ns);
}

int64_t rl_gcra_retry_ms(rl_gcra g, int64_t tat_ns, int64_t now_ms, uint64_t need)
{
    if (g.interval_ns <= 0 || need > g.burst)
        return -1;
    __int128 now_ns = (__int128)now_ms * NS_PER_MS;
    __int128 base = tat_ns > now_ns ? tat_ns : now_ns;
    __int128 allow_at = base + (__int128)need * g.interval_ns - (__int128)g.burst * g.interval_ns;
    if (allow_at <= now_ns)
        return 0;
    __int128 wait_ns = allow_at - now_ns;
    return (int64_t)((wait_ns + NS_PER_MS - 1) / NS_PER_MS);
}

int64_t rl_gcra_take(rl_gcra g, int64_t tat_ns, int64_t now_ms, uint64_t count)
{
    int64_t now_ns = now_ms * NS_PER_MS;
    int64_t base = tat_ns > now_ns ? tat_ns : now_ns;
    return base + (int64_t)count * g.interval_ns;
}

int64_t rl_gcra_give_back(rl_gcra g, int64_t tat_ns, int64_t now_ms, uint64_t count)
{
    int64_t now_ns = now_ms * NS_PER_MS;
    int64_t t = tat_ns - (int64_t)count * g.interval_ns;
    return t > now_ns ? t : now_ns;
}
