/* rl_reserve.c: the engine's side of headroom: when a grant may be answered
 * at once, when it waits for a commit, how large the next reservation is,
 * and what a restored or new key is charged for crashed runs; see
 * rl_headroom.h for why this never over-admits. */
#include "rl_engine_int.h"

#include <string.h>

#define NS_PER_MS 1000000LL

static uint64_t mul_sat(uint64_t a, uint64_t b)
{
    if (a && b > UINT64_MAX / a)
        return UINT64_MAX;
    return a * b;
}

/* At most a quarter of what the limit still allows: near the limit the
 * reservations shrink geometrically, so a crash there hides little. */
static uint64_t next_headroom(const rl_slot *s, uint64_t room, uint64_t unit)
{
    uint64_t want = mul_sat(s->chunk, unit);
    return want < room / 4 ? want : room / 4;
}

uint64_t rl_reserve_after_grant_locked(rl_engine *e, rl_slot *s, int rule_index, uint64_t units,
                                       uint64_t room, uint64_t unit, int64_t now)
{
    if (!e->store_attached)
        return rl_touch_locked(e, RL_ITEM_SLOT, s->key, &s->dirty);
    if (s->hw == RL_HW_UNSET)
        s->hw = e->allow_by_rule[rule_index];
    if (s->chunk == 0)
        s->chunk = RL_CHUNK_MIN;
    s->used = s->used + units < s->used ? UINT64_MAX : s->used + units;
    s->next_h = next_headroom(s, room, unit);
    e->last_grant_ms = now;
    uint64_t wait = 0;
    if (now > e->until_durable) /* the run's time promise must cover the grant */
        wait = rl_touch_locked(e, RL_ITEM_EPOCH, "epoch", &e->epoch_dirty);
    int over = s->used > s->hw;
    int low = !over && s->hw - s->used < s->next_h / 2;
    if (over || low) {
        if (!s->dirty) {
            /* Grow with the key's rate: a reservation asked for again within
             * RL_CHUNK_FAST_MS doubles (so one lasts about that long, a few
             * commits); one that lasted 10 s halves. */
            if (s->last_res_ms && now - s->last_res_ms < RL_CHUNK_FAST_MS &&
                s->chunk < RL_CHUNK_MAX)
                s->chunk *= 2;
            else if (now - s->last_res_ms > 10000 && s->chunk > RL_CHUNK_MIN)
                s->chunk /= 2;
            s->last_res_ms = now;
            s->next_h = next_headroom(s, room, unit);
        }
        uint64_t seq = rl_touch_locked(e, RL_ITEM_SLOT, s->key, &s->dirty);
        if (over)
            wait = seq;
    }
    return wait;
}

/* Counts `units` as granted at at_ms (the latest moment it could have been). */
static int charge(rl_engine *e, rl_slot *s, uint64_t units, int64_t at_ms)
{
    if (units == 0)
        return 0;
    if (s->kind == RL_KIND_WINDOW)
        return rl_window_add(&s->win, at_ms, units, e->opt.window_max_entries, 1);
    int64_t at_ns = at_ms * NS_PER_MS;
    int64_t base = s->tat_ns > at_ns ? s->tat_ns : at_ns;
    s->tat_ns = units > (uint64_t)(INT64_MAX - base) ? INT64_MAX : base + (int64_t)units;
    return 0;
}

int rl_reserve_charge_locked(rl_engine *e, rl_slot *s, uint32_t run, uint64_t h)
{
    if (s->kind != RL_KIND_WINDOW && s->kind != RL_KIND_GCRA)
        return 0;
    if (h > 0 && charge(e, s, h, rl_epoch_until_of(&e->epoch, run)) != 0)
        return -1;
    for (int i = 0; i < e->epoch.n_ph; i++) {
        const rl_phantom *p = &e->epoch.ph[i];
        if (run != 0 && p->run_hi < run)
            continue; /* the record was written after that run */
        if (charge(e, s, rl_allow_for_key(&p->allow, s->key, s->kind), p->until_ms) != 0)
            return -1;
    }
    return 0;
}

void rl_reserve_refresh_locked(rl_engine *e)
{
    for (int i = 0; i < e->policy->n_rules; i++)
        e->allow_by_rule[i] =
            rl_allow_get(&e->allow_durable, e->policy->rules[i].name, e->policy->rules[i].kind);
}
