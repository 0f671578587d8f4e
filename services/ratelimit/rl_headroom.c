/* rl_headroom.c: allowance tables and run epochs; see rl_headroom.h. */
#include "rl_headroom.h"

#include <string.h>
#include "rl_window.h"
#include "xd/util.h"

#define NS_PER_MS 1000000LL

void rl_allow_from_policy(const rl_policy *p, rl_allow_table *out)
{
    memset(out, 0, sizeof(*out));
    for (int i = 0; i < p->n_rules; i++) {
        const rl_rule *r = &p->rules[i];
        uint64_t units = 0;
        if (r->kind == RL_KIND_WINDOW) {
            /* Small limits get little or none: a crash charges it to every key. */
            units = r->limit / 64;
            if (units > RL_COLD_MAX)
                units = RL_COLD_MAX;
        } else if (r->kind == RL_KIND_GCRA && r->limit > 0) {
            uint64_t n = r->burst / 4;
            if (n > RL_COLD_MAX)
                n = RL_COLD_MAX;
            units = n * (uint64_t)rl_gcra_params(r->limit, r->period_ms, r->burst).interval_ns;
        } else {
            continue;
        }
        rl_allow *a = &out->a[out->n++];
        xd_strlcpy(a->name, r->name, sizeof(a->name));
        a->kind = (uint8_t)r->kind;
        a->units = units;
    }
}

uint64_t rl_allow_get(const rl_allow_table *t, const char *name, int kind)
{
    for (int i = 0; i < t->n; i++)
        if (t->a[i].kind == kind && strcmp(t->a[i].name, name) == 0)
            return t->a[i].units;
    return 0;
}

void rl_allow_merge_max(rl_allow_table *dst, const rl_allow_table *src)
{
    for (int i = 0; i < src->n; i++) {
        const rl_allow *s = &src->a[i];
        int j = 0;
        while (j < dst->n && !(dst->a[j].kind == s->kind && strcmp(dst->a[j].name, s->name) == 0))
            j++;
        if (j < dst->n) {
            if (s->units > dst->a[j].units)
                dst->a[j].units = s->units;
        } else if (dst->n < RL_MAX_RULES) {
            dst->a[dst->n++] = *s;
        } else {
            /* Full (renamed rules piling up): make the smallest entry room
             * for a larger one. A name that is dropped counts 0 for cold
             * keys from now on, which is only more careful. */
            int min = 0;
            for (int k = 1; k < dst->n; k++)
                if (dst->a[k].units < dst->a[min].units)
                    min = k;
            if (dst->a[min].units < s->units)
                dst->a[min] = *s;
        }
    }
}

uint64_t rl_allow_for_key(const rl_allow_table *t, const char *key, int kind)
{
    if (!key[0] || key[1] != ':')
        return 0;
    const char *name = key + 2, *bar = strchr(name, '|');
    size_t n = bar ? (size_t)(bar - name) : strlen(name);
    char buf[RL_NAME_MAX];
    if (n >= sizeof(buf))
        return 0;
    memcpy(buf, name, n);
    buf[n] = '\0';
    return rl_allow_get(t, buf, kind);
}

static void encode_allow(const rl_allow_table *t, rl_wbuf *w)
{
    rl_put_u32(w, (uint32_t)t->n);
    for (int i = 0; i < t->n; i++) {
        rl_put_str(w, t->a[i].name);
        rl_put_u8(w, t->a[i].kind);
        rl_put_u64(w, t->a[i].units);
    }
}

static int decode_allow(rl_allow_table *t, rl_rbuf *r)
{
    uint32_t n = rl_get_u32(r);
    if (n > RL_MAX_RULES)
        return -1;
    t->n = (int)n;
    for (uint32_t i = 0; i < n && !r->bad; i++) {
        rl_get_str(r, t->a[i].name, sizeof(t->a[i].name));
        t->a[i].kind = rl_get_u8(r);
        t->a[i].units = rl_get_u64(r);
    }
    return r->bad ? -1 : 0;
}

void rl_epoch_encode(const rl_epoch *ep, rl_wbuf *w)
{
    rl_put_u8(w, 1); /* format */
    rl_put_u32(w, ep->run);
    rl_put_i64(w, ep->until_ms);
    rl_put_u8(w, (uint8_t)ep->clean);
    encode_allow(&ep->allow, w);
    rl_put_u32(w, (uint32_t)ep->n_ph);
    for (int i = 0; i < ep->n_ph; i++) {
        const rl_phantom *p = &ep->ph[i];
        rl_put_u32(w, p->run_lo);
        rl_put_u32(w, p->run_hi);
        rl_put_i64(w, p->until_ms);
        rl_put_i64(w, p->horizon_ms);
        encode_allow(&p->allow, w);
    }
}

int rl_epoch_decode(rl_epoch *ep, rl_rbuf *r)
{
    memset(ep, 0, sizeof(*ep));
    if (rl_get_u8(r) != 1)
        return -1;
    ep->run = rl_get_u32(r);
    ep->until_ms = rl_get_i64(r);
    ep->clean = rl_get_u8(r);
    if (decode_allow(&ep->allow, r) != 0)
        return -1;
    uint32_t n = rl_get_u32(r);
    if (n > RL_MAX_PHANTOMS)
        return -1;
    ep->n_ph = (int)n;
    for (uint32_t i = 0; i < n && !r->bad; i++) {
        rl_phantom *p = &ep->ph[i];
        p->run_lo = rl_get_u32(r);
        p->run_hi = rl_get_u32(r);
        p->until_ms = rl_get_i64(r);
        p->horizon_ms = rl_get_i64(r);
        if (decode_allow(&p->allow, r) != 0)
            return -1;
    }
    return r->bad ? -1 : 0;
}

static int64_t horizon_of(const rl_allow_table *t)
{
    /* A window charge matters for as long as any window may be (a later
     * policy may lengthen it); a GCRA charge until it is paid off. */
    int64_t h = 0;
    for (int i = 0; i < t->n; i++) {
        int64_t ms = t->a[i].kind == RL_KIND_WINDOW ? 31LL * 86400000
                                                    : (int64_t)(t->a[i].units / NS_PER_MS) + 1;
        if (t->a[i].units > 0 && ms > h)
            h = ms;
    }
    return h;
}

/* Merges the two oldest phantoms into one that charges at least as much. */
static void merge_oldest(rl_epoch *ep)
{
    rl_phantom *a = &ep->ph[0], *b = &ep->ph[1];
    int64_t end_a = a->until_ms + a->horizon_ms, end_b = b->until_ms + b->horizon_ms;
    b->run_lo = a->run_lo < b->run_lo ? a->run_lo : b->run_lo;
    b->run_hi = a->run_hi > b->run_hi ? a->run_hi : b->run_hi;
    if (a->until_ms > b->until_ms)
        b->until_ms = a->until_ms;
    b->horizon_ms = (end_a > end_b ? end_a : end_b) - b->until_ms;
    /* Both charged: sum the allowances by name. */
    for (int i = 0; i < a->allow.n; i++) {
        rl_allow *x = &a->allow.a[i];
        int j = 0;
        while (j < b->allow.n &&
               !(b->allow.a[j].kind == x->kind && strcmp(b->allow.a[j].name, x->name) == 0))
            j++;
        if (j < b->allow.n)
            b->allow.a[j].units += x->units;
        else if (b->allow.n < RL_MAX_RULES)
            b->allow.a[b->allow.n++] = *x;
    }
    memmove(&ep->ph[0], &ep->ph[1], sizeof(ep->ph[0]) * (size_t)(ep->n_ph - 1));
    ep->n_ph--;
}

void rl_epoch_next_run(rl_epoch *ep, const rl_epoch *prev, const rl_policy *p, int64_t now_ms)
{
    rl_epoch old;
    if (prev)
        old = *prev;
    else
        memset(&old, 0, sizeof(old));
    memset(ep, 0, sizeof(*ep));
    ep->run = old.run + 1;
    ep->until_ms = old.until_ms; /* raised by the first epoch commit */
    for (int i = 0; i < old.n_ph; i++)
        if (old.ph[i].until_ms + old.ph[i].horizon_ms > now_ms)
            ep->ph[ep->n_ph++] = old.ph[i];
    if (prev && !old.clean && old.run > 0) {
        if (ep->n_ph == RL_MAX_PHANTOMS)
            merge_oldest(ep);
        rl_phantom *ph = &ep->ph[ep->n_ph++];
        ph->run_lo = ph->run_hi = old.run;
        ph->until_ms = old.until_ms;
        ph->allow = old.allow;
        ph->horizon_ms = horizon_of(&old.allow);
    }
    rl_allow_from_policy(p, &ep->allow);
}

int64_t rl_epoch_until_of(const rl_epoch *ep, uint32_t run)
{
    int64_t latest = ep->until_ms;
    for (int i = 0; i < ep->n_ph; i++) {
        if (run >= ep->ph[i].run_lo && run <= ep->ph[i].run_hi)
            return ep->ph[i].until_ms;
        if (ep->ph[i].until_ms > latest)
            latest = ep->ph[i].until_ms;
    }
    return latest;
}
