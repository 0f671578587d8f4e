/* rl_journal.c: the engine's side of durability: serializing dirty state
 * into batches for the store, durable sequence numbers, and restoring state
 * at start-up; see rl_engine.h. */
#include "rl_engine_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void rl_batch_free(rl_batch *b)
{
    for (size_t i = 0; i < b->n; i++) {
        free(b->items[i].key);
        free(b->items[i].blob);
    }
    free(b->items);
    free(b->allow);
    memset(b, 0, sizeof(*b));
}

/* Appends an item; takes over key and the buffer's bytes. */
static rl_item *batch_add(rl_batch *b, int kind, char *key, int64_t at_ms, rl_wbuf *w)
{
    if (b->n == b->cap) {
        size_t ncap = b->cap ? b->cap * 2 : 256;
        rl_item *ni = realloc(b->items, ncap * sizeof(*ni));
        if (!ni)
            abort(); /* the journal cannot drop a change */
        b->items = ni;
        b->cap = ncap;
    }
    if (w && w->oom)
        abort();
    b->items[b->n] = (rl_item){kind, key, at_ms, w ? w->p : NULL, w ? w->len : 0, 0, 0};
    return &b->items[b->n++];
}

/* Format 2 (kind | 0x80): the records, then the run that wrote them and the
 * headroom the key may grant beyond them (0 in an exact snapshot). */
static void encode_slot(const rl_slot *s, rl_wbuf *w, uint32_t run, uint64_t headroom)
{
    rl_put_u8(w, (uint8_t)(s->kind | 0x80));
    rl_put_i64(w, s->tat_ns);
    rl_put_u32(w, s->win.n);
    for (uint32_t i = 0; i < s->win.n; i++) {
        rl_win_entry en = rl_window_at(&s->win, i);
        rl_put_i64(w, en.ts_ms);
        rl_put_u64(w, en.count);
    }
    rl_put_u32(w, run);
    rl_put_u64(w, headroom);
}

/* The epoch record, promising no grant of this run after until_ms (raised
 * to now + RL_EPOCH_EXTEND_MS); b remembers what becomes usable once it is
 * durable. */
static void collect_epoch(rl_engine *e, rl_batch *b)
{
    int64_t until = e->last_now_ms + RL_EPOCH_EXTEND_MS;
    if (until > e->epoch.until_ms)
        e->epoch.until_ms = until;
    rl_wbuf w = {0};
    rl_epoch_encode(&e->epoch, &w);
    char *key = strdup("epoch");
    if (!b->allow)
        b->allow = malloc(sizeof(*b->allow));
    if (!key || !b->allow)
        abort(); /* the journal cannot drop a change */
    *b->allow = e->epoch.allow;
    b->until_ms = e->epoch.until_ms;
    batch_add(b, RL_ITEM_EPOCH, key, 0, &w);
    e->epoch_dirty = 0;
}

/* Serializes the current state of one dirty key (or a delete). */
static void collect_one(rl_engine *e, rl_batch *b, rl_dirty *dt)
{
    rl_wbuf w = {0};
    uint64_t h = rl_hash(dt->key, strlen(dt->key));
    int64_t at = 0;
    int present = 1;
    switch (dt->kind) {
    case RL_ITEM_POLICY:
        rl_put_u64(&w, e->policy_version);
        rl_put_str(&w, e->policy_json);
        e->policy_dirty = 0;
        break;
    case RL_ITEM_SLOT: {
        rl_slot *s = rl_map_get(&e->slots, dt->key, h);
        if (s) {
            /* The record promises next_h more; until it is durable the key
             * may not go past what the older record or this one covers. */
            uint64_t head = s->next_h;
            uint64_t allow = rl_allow_for_key(&e->allow_durable, s->key, s->kind);
            uint64_t hw = s->used + head < s->used ? UINT64_MAX : s->used + head;
            hw = hw + allow < hw ? UINT64_MAX : hw + allow;
            if (s->hw == RL_HW_UNSET || hw < s->hw)
                s->hw = hw;
            encode_slot(s, &w, e->epoch.run, head);
            s->dirty = 0;
            rl_item *it = batch_add(b, dt->kind, dt->key, 0, &w);
            it->gen = s->gen;
            it->hw = hw;
            dt->key = NULL;
            return;
        }
        present = 0;
        break;
    }
    case RL_ITEM_EPOCH:
        free(dt->key);
        dt->key = NULL;
        collect_epoch(e, b);
        return;
    case RL_ITEM_LEASE: {
        rl_lease *l = rl_map_get(&e->leases, dt->key, h);
        if ((present = l != NULL)) {
            rl_lease_encode(l, &w);
            l->dirty = 0;
        }
        break;
    }
    case RL_ITEM_REP: {
        rl_rep *r = rl_map_get(&e->reps, dt->key, h);
        if ((present = r != NULL)) {
            rl_rep_encode(r, &w);
            r->dirty = 0;
        }
        break;
    }
    case RL_ITEM_DEDUP: {
        rl_dedup *d = rl_map_get(&e->dedup, dt->key, h);
        if ((present = d != NULL)) {
            rl_dedup_encode(d, &w);
            at = d->at_ms;
            d->dirty = 0;
        }
        break;
    }
    case RL_ITEM_EVENT: {
        rl_event *ev = rl_map_get(&e->events, dt->key, h);
        if ((present = ev != NULL)) {
            rl_put_u8(&w, 1);
            at = ev->at_ms;
            ev->dirty = 0;
        }
        break;
    }
    }
    batch_add(b, dt->kind, dt->key, at, present ? &w : NULL);
    dt->key = NULL;
}

void rl_engine_attach_store(rl_engine *e, rl_flush_fn flush, void *arg)
{
    pthread_mutex_lock(&e->mu);
    e->store_attached = 1;
    e->flush = flush;
    e->flush_arg = arg;
    e->durable_seq = e->seq;
    /* The run's first commit carries its epoch record. */
    rl_touch_locked(e, RL_ITEM_EPOCH, "epoch", &e->epoch_dirty);
    pthread_mutex_unlock(&e->mu);
}

static void deadline_in(struct timespec *ts, int64_t ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (ms % 1000) * 1000000;
    if (ts->tv_nsec >= 1000000000) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000;
    }
}

void rl_engine_wait_work(rl_engine *e, int64_t timeout_ms)
{
    struct timespec ts;
    deadline_in(&ts, timeout_ms);
    pthread_mutex_lock(&e->mu);
    while (e->n_dirty == 0 && !e->wake) {
        if (pthread_cond_timedwait(&e->work_cv, &e->mu, &ts) == ETIMEDOUT)
            break;
    }
    e->wake = 0;
    pthread_mutex_unlock(&e->mu);
}

int rl_engine_collect(rl_engine *e, rl_batch *b)
{
    pthread_mutex_lock(&e->mu);
    size_t before = b->n;
    for (size_t i = 0; i < e->n_dirty; i++)
        collect_one(e, b, &e->dirty[i]);
    e->n_dirty = 0;
    /* Extend the time promise ahead of need while grants flow. */
    int64_t now = e->last_now_ms;
    if (e->store_attached && e->until_durable - now < RL_EPOCH_EXTEND_MS / 2 &&
        now - e->last_grant_ms < RL_EPOCH_EXTEND_MS &&
        e->epoch.until_ms - now < RL_EPOCH_EXTEND_MS / 2)
        collect_epoch(e, b);
    b->seq = e->seq;
    pthread_mutex_unlock(&e->mu);
    return b->n > before;
}

void rl_engine_durable(rl_engine *e, const rl_batch *b, int ok)
{
    pthread_mutex_lock(&e->mu);
    if (ok) {
        if (b->seq > e->durable_seq)
            e->durable_seq = b->seq;
        e->store_failed = 0;
        /* Headroom in the committed records may be used now. */
        for (size_t i = 0; i < b->n; i++) {
            const rl_item *it = &b->items[i];
            if (it->kind != RL_ITEM_SLOT || !it->gen)
                continue;
            rl_slot *s = rl_map_get(&e->slots, it->key, rl_hash(it->key, strlen(it->key)));
            if (s && s->gen == it->gen)
                s->hw = it->hw;
        }
        if (b->allow) {
            if (b->until_ms > e->until_durable)
                e->until_durable = b->until_ms;
            e->allow_durable = *b->allow;
            rl_reserve_refresh_locked(e);
        }
    } else {
        e->store_failed = 1;
    }
    pthread_cond_broadcast(&e->durable_cv);
    pthread_mutex_unlock(&e->mu);
}

int rl_engine_wait_durable(rl_engine *e, uint64_t seq, int64_t timeout_ms)
{
    struct timespec ts;
    deadline_in(&ts, timeout_ms);
    int rc = 0;
    pthread_mutex_lock(&e->mu);
    while (e->store_attached && e->durable_seq < seq) {
        if (!e->flushing && e->flush && !e->store_failed) {
            /* Lead the next group commit ourselves: it takes everything
             * dirty so far, including what other waiters need. */
            e->flushing = 1;
            pthread_mutex_unlock(&e->mu);
            e->flush(e->flush_arg);
            pthread_mutex_lock(&e->mu);
            e->flushing = 0;
            pthread_cond_broadcast(&e->durable_cv);
            continue;
        }
        if (e->store_failed || pthread_cond_timedwait(&e->durable_cv, &e->mu, &ts) == ETIMEDOUT) {
            rc = e->durable_seq >= seq ? 0 : -1;
            break;
        }
    }
    pthread_mutex_unlock(&e->mu);
    return rc;
}

static int by_age(const void *a, const void *b)
{
    const rl_dedup *x = *(rl_dedup *const *)a, *y = *(rl_dedup *const *)b;
    return x->at_ms < y->at_ms ? -1 : x->at_ms > y->at_ms;
}

void rl_engine_restore_begin(rl_engine *e, size_t n_slots, size_t n_dedup,
                             const unsigned char *epoch, size_t epoch_len, int64_t now_ms)
{
    pthread_mutex_lock(&e->mu);
    rl_map_reserve(&e->slots, n_slots); /* best effort: maps also grow */
    rl_map_reserve(&e->dedup, n_dedup);
    rl_epoch prev;
    rl_rbuf r = {epoch, epoch_len, 0, 0};
    int have = epoch && rl_epoch_decode(&prev, &r) == 0;
    if (epoch && !have) {
        /* Unreadable: assume the worst run we can describe, one that
         * stopped uncleanly just now with the current allowances. */
        memset(&prev, 0, sizeof(prev));
        prev.run = 1;
        prev.until_ms = now_ms + RL_EPOCH_EXTEND_MS;
        rl_allow_from_policy(e->policy, &prev.allow);
        have = 1;
    }
    rl_epoch_next_run(&e->epoch, have ? &prev : NULL, e->policy, now_ms);
    e->restoring = 1;
    pthread_mutex_unlock(&e->mu);
}

static int ev_by_age(const void *a, const void *b)
{
    const rl_event *x = *(rl_event *const *)a, *y = *(rl_event *const *)b;
    return x->at_ms < y->at_ms ? -1 : x->at_ms > y->at_ms;
}

void rl_engine_restore_done(rl_engine *e)
{
    pthread_mutex_lock(&e->mu);
    e->restoring = 0;
    /* Request ids and event ids were restored into their maps only; link
     * them oldest first for expiry. */
    size_t n = e->dedup.count, pos = 0, i = 0;
    rl_dedup **v = n ? malloc(n * sizeof(*v)) : NULL;
    if (n && !v)
        abort();
    void *x;
    while ((x = rl_map_next(&e->dedup, &pos)))
        v[i++] = x;
    if (n)
        qsort(v, n, sizeof(*v), by_age);
    e->dedup_head = e->dedup_tail = NULL;
    for (i = 0; i < n; i++) {
        v[i]->next = NULL;
        if (e->dedup_tail)
            e->dedup_tail->next = v[i];
        else
            e->dedup_head = v[i];
        e->dedup_tail = v[i];
    }
    free(v);
    size_t ne = e->events.count;
    rl_event **ev = ne ? malloc(ne * sizeof(*ev)) : NULL;
    if (ne && !ev)
        abort();
    pos = 0;
    i = 0;
    while ((x = rl_map_next(&e->events, &pos)))
        ev[i++] = x;
    if (ne)
        qsort(ev, ne, sizeof(*ev), ev_by_age);
    e->event_head = e->event_tail = NULL;
    for (i = 0; i < ne; i++) {
        ev[i]->next = NULL;
        if (e->event_tail)
            e->event_tail->next = ev[i];
        else
            e->event_head = ev[i];
        e->event_tail = ev[i];
    }
    free(ev);
    /* Oldest beyond dedup_max go (the rows stay until their TTL prune). */
    while (e->dedup_head && e->dedup.count > e->opt.dedup_max) {
        rl_dedup *d = e->dedup_head;
        e->dedup_head = d->next;
        if (!e->dedup_head)
            e->dedup_tail = NULL;
        rl_map_del(&e->dedup, d->id, rl_hash(d->id, strlen(d->id)));
        rl_dedup_free(d);
    }
    pthread_mutex_unlock(&e->mu);
}

void rl_engine_journal_policy(rl_engine *e)
{
    pthread_mutex_lock(&e->mu);
    e->policy_dirty = 1;
    rl_touch_locked(e, RL_ITEM_POLICY, "current", NULL);
    pthread_mutex_unlock(&e->mu);
}

void rl_engine_wake(rl_engine *e)
{
    pthread_mutex_lock(&e->mu);
    e->wake = 1;
    pthread_cond_broadcast(&e->work_cv);
    pthread_mutex_unlock(&e->mu);
}

static void restore_slot(rl_engine *e, const char *key, rl_rbuf *r, int fresh, uint64_t *bad)
{
    uint8_t format = rl_get_u8(r);
    uint8_t kind = format & 0x7f;
    int64_t tat = rl_get_i64(r);
    uint32_t n = rl_get_u32(r);
    if (r->bad || kind < RL_KIND_WINDOW || kind > RL_KIND_GCRA) {
        (*bad)++;
        return;
    }
    rl_slot *s = fresh ? rl_slot_insert_locked(e, key, (rl_kind)kind)
                       : rl_slot_make_locked(e, key, (rl_kind)kind);
    if (!s) {
        (*bad)++;
        return;
    }
    s->tat_ns = tat;
    for (uint32_t i = 0; i < n && !r->bad; i++) {
        int64_t ts = rl_get_i64(r);
        uint64_t c = rl_get_u64(r);
        /* Records come back as stored (granule 1 ms): merging them again
         * could only move stamps later, which is never needed. */
        if (!r->bad && rl_window_add(&s->win, ts, c, e->opt.window_max_entries, 1) != 0)
            abort(); /* out of memory at start-up */
        if (ts > e->last_now_ms)
            e->last_now_ms = ts;
    }
    uint32_t run = 0; /* format 1 records came from exact runs */
    uint64_t headroom = 0;
    if (format & 0x80) {
        run = rl_get_u32(r);
        headroom = rl_get_u64(r);
    }
    if (r->bad) {
        (*bad)++; /* keep what was read, and charge as for an absent key */
        run = 0;
    }
    if (rl_reserve_charge_locked(e, s, run, headroom) != 0)
        abort(); /* out of memory at start-up */
}

static void restore_dedup(rl_engine *e, const char *key, int64_t at, rl_rbuf *r, uint64_t *bad)
{
    rl_dedup *d = rl_dedup_decode(key, at, r);
    if (!d) {
        (*bad)++;
        return;
    }
    /* Linked into the age order by rl_engine_restore_done. */
    if (rl_map_put(&e->dedup, rl_hash(d->id, strlen(d->id)), d) != 0)
        abort();
}

/* Drops the current object of (kind, key), so a later journal record
 * replaces it (or a delete record removes it). */
static void forget_locked(rl_engine *e, int kind, const char *key)
{
    uint64_t h = rl_hash(key, strlen(key));
    switch (kind) {
    case RL_ITEM_SLOT: {
        rl_slot *s = rl_map_del(&e->slots, key, h);
        if (s) {
            rl_window_free(&s->win);
            free(s->conns);
            free(s);
        }
        break;
    }
    case RL_ITEM_LEASE: {
        rl_lease *l = rl_map_get(&e->leases, key, h);
        if (l)
            rl_lease_drop_locked(e, l);
        break;
    }
    case RL_ITEM_REP:
        rl_rep_free(rl_map_del(&e->reps, key, h));
        break;
    case RL_ITEM_DEDUP:
        rl_dedup_free(rl_map_del(&e->dedup, key, h));
        break;
    case RL_ITEM_EVENT:
        free(rl_map_del(&e->events, key, h));
        break;
    }
}

static void restore_policy(rl_engine *e, rl_rbuf *r, uint64_t *bad)
{
    uint64_t version = rl_get_u64(r);
    uint32_t n = rl_get_u32(r);
    char *json = NULL;
    rl_policy *p = NULL;
    xd_err err;
    if (r->bad || n > RL_POLICY_MAX_JSON || r->len - r->pos < n) {
        (*bad)++;
        return;
    }
    json = malloc(n + 1);
    if (!json)
        abort();
    memcpy(json, r->p + r->pos, n);
    json[n] = '\0';
    if (rl_policy_parse(json, &p, &err) != XD_OK) {
        (*bad)++;
        free(json);
        return;
    }
    free(e->policy);
    free(e->policy_json);
    e->policy = p;
    e->policy_json = json;
    e->policy_version = version;
}

/* fresh: the key cannot be present yet (a snapshot into an empty engine). */
static void restore_locked(rl_engine *e, int kind, const char *key, int64_t at_ms,
                           const unsigned char *blob, size_t len, int fresh, uint64_t *bad)
{
    rl_rbuf r = {blob, len, 0, 0};
    if (kind != RL_ITEM_POLICY && !fresh)
        forget_locked(e, kind, key); /* a later record replaces an earlier one */
    if (!blob)                       /* a delete record */
        return;
    switch (kind) {
    case RL_ITEM_POLICY:
        restore_policy(e, &r, bad);
        break;
    case RL_ITEM_SLOT:
        restore_slot(e, key, &r, fresh, bad);
        break;
    case RL_ITEM_LEASE:
        rl_lease_restore_locked(e, key, blob, len, bad);
        break;
    case RL_ITEM_REP: {
        rl_rep *rep = calloc(1, sizeof(*rep));
        if (!rep)
            abort();
        snprintf(rep->key, sizeof(rep->key), "%s", key);
        if (rl_rep_decode(rep, &r) != 0 ||
            rl_map_put(&e->reps, rl_hash(rep->key, strlen(rep->key)), rep) != 0) {
            (*bad)++;
            rl_rep_free(rep);
        }
        break;
    }
    case RL_ITEM_DEDUP:
        restore_dedup(e, key, at_ms, &r, bad);
        break;
    case RL_ITEM_EVENT: {
        rl_event *ev = calloc(1, sizeof(*ev));
        if (!ev)
            abort();
        snprintf(ev->id, sizeof(ev->id), "%s", key);
        ev->at_ms = at_ms;
        if (rl_map_put(&e->events, rl_hash(ev->id, strlen(ev->id)), ev) != 0)
            abort();
        break;
    }
    default:
        (*bad)++;
    }
}

void rl_engine_restore(rl_engine *e, int kind, const char *key, int64_t at_ms,
                       const unsigned char *blob, size_t len, int fresh, uint64_t *bad)
{
    pthread_mutex_lock(&e->mu);
    restore_locked(e, kind, key, at_ms, blob, len, fresh, bad);
    pthread_mutex_unlock(&e->mu);
}

/* Snapshot chunk: items of u8 kind, str key, i64 at_ms, u32 length, blob. */
void rl_engine_restore_chunk(rl_engine *e, const unsigned char *p, size_t len, uint64_t *items,
                             uint64_t *bad)
{
    rl_rbuf r = {p, len, 0, 0};
    char key[RL_KEY_MAX + 1];
    pthread_mutex_lock(&e->mu);
    while (r.pos < r.len && !r.bad) {
        int kind = rl_get_u8(&r);
        rl_get_str(&r, key, sizeof(key));
        int64_t at = rl_get_i64(&r);
        uint32_t n = rl_get_u32(&r);
        if (r.bad || n > r.len - r.pos) {
            (*bad)++;
            break;
        }
        restore_locked(e, kind, key, at, r.p + r.pos, n, 1, bad);
        r.pos += n;
        (*items)++;
    }
    pthread_mutex_unlock(&e->mu);
}

typedef struct snap {
    rl_wbuf buf;
    size_t chunk_bytes;
    uint64_t n;
    rl_chunk_fn fn;
    void *arg;
    int failed;
} snap;

static void snap_flush(snap *sn)
{
    if (sn->buf.oom)
        sn->failed = -1;
    if (!sn->failed && sn->n > 0)
        sn->failed = sn->fn(sn->arg, sn->buf.p, sn->buf.len, sn->n);
    sn->buf.len = 0;
    sn->n = 0;
}

static void snap_add(snap *sn, int kind, const char *key, int64_t at, rl_wbuf *w)
{
    rl_put_u8(&sn->buf, (uint8_t)kind);
    rl_put_str(&sn->buf, key);
    rl_put_i64(&sn->buf, at);
    rl_put_u32(&sn->buf, (uint32_t)w->len);
    rl_put_bytes(&sn->buf, w->p, w->len);
    w->len = 0;
    sn->n++;
    if (sn->buf.len >= sn->chunk_bytes)
        snap_flush(sn);
}

int rl_engine_snapshot(rl_engine *e, size_t chunk_bytes, rl_chunk_fn fn, void *arg,
                       unsigned char **epoch, size_t *epoch_len)
{
    snap sn = {{0}, chunk_bytes, 0, fn, arg, 0};
    rl_wbuf w = {0};
    void *v;
    size_t pos;
    pthread_mutex_lock(&e->mu);
    pos = 0;
    while (!sn.failed && (v = rl_map_next(&e->slots, &pos))) {
        const rl_slot *s = v;
        if (s->kind != RL_KIND_WINDOW && s->kind != RL_KIND_GCRA)
            continue; /* connection slots come back with their leases */
        encode_slot(s, &w, e->epoch.run, 0);
        snap_add(&sn, RL_ITEM_SLOT, s->key, 0, &w);
    }
    pos = 0;
    while (!sn.failed && (v = rl_map_next(&e->leases, &pos))) {
        rl_lease_encode(v, &w);
        snap_add(&sn, RL_ITEM_LEASE, ((const rl_lease *)v)->id, 0, &w);
    }
    pos = 0;
    while (!sn.failed && (v = rl_map_next(&e->reps, &pos))) {
        rl_rep_encode(v, &w);
        snap_add(&sn, RL_ITEM_REP, ((const rl_rep *)v)->key, 0, &w);
    }
    for (const rl_dedup *d = e->dedup_head; d && !sn.failed; d = d->next) {
        rl_dedup_encode(d, &w);
        snap_add(&sn, RL_ITEM_DEDUP, d->id, d->at_ms, &w);
    }
    for (const rl_event *ev = e->event_head; ev && !sn.failed; ev = ev->next) {
        rl_put_u8(&w, 1);
        snap_add(&sn, RL_ITEM_EVENT, ev->id, ev->at_ms, &w);
    }
    if (!sn.failed)
        snap_flush(&sn);
    if (w.oom)
        sn.failed = -1;
    rl_wbuf_free(&w);
    rl_wbuf_free(&sn.buf);
    /* The clean epoch: nothing beyond the snapshot was granted. */
    rl_epoch ep = e->epoch;
    ep.clean = 1;
    rl_wbuf ew = {0};
    rl_epoch_encode(&ep, &ew);
    pthread_mutex_unlock(&e->mu);
    if (ew.oom)
        sn.failed = -1;
    *epoch = ew.p;
    *epoch_len = ew.len;
    return sn.failed;
}

void rl_engine_policy_blob(rl_engine *e, unsigned char **blob, size_t *len)
{
    rl_wbuf w = {0};
    pthread_mutex_lock(&e->mu);
    rl_put_u64(&w, e->policy_version);
    rl_put_str(&w, e->policy_json);
    pthread_mutex_unlock(&e->mu);
    *blob = w.oom ? NULL : w.p;
    *len = w.oom ? 0 : w.len;
    if (w.oom)
        rl_wbuf_free(&w);
}
