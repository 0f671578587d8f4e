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
    memset(b, 0, sizeof(*b));
}

/* Appends an item; takes over key and the buffer's bytes. */
static void batch_add(rl_batch *b, int kind, char *key, int64_t at_ms, rl_wbuf *w)
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
    b->items[b->n++] = (rl_item){kind, key, at_ms, w ? w->p : NULL, w ? w->len : 0};
}

static void encode_slot(const rl_slot *s, rl_wbuf *w)
{
    rl_put_u8(w, s->kind);
    rl_put_i64(w, s->tat_ns);
    rl_put_u32(w, s->win.n);
    for (uint32_t i = 0; i < s->win.n; i++) {
        rl_win_entry en = rl_window_at(&s->win, i);
        rl_put_i64(w, en.ts_ms);
        rl_put_u64(w, en.count);
    }
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
        if ((present = s != NULL)) {
            encode_slot(s, &w);
            s->dirty = 0;
        }
        break;
    }
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
    b->seq = e->seq;
    pthread_mutex_unlock(&e->mu);
    return b->n > before;
}

void rl_engine_durable(rl_engine *e, uint64_t seq, int ok)
{
    pthread_mutex_lock(&e->mu);
    if (ok) {
        if (seq > e->durable_seq)
            e->durable_seq = seq;
        e->store_failed = 0;
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

void rl_engine_restore_begin(rl_engine *e, size_t n_slots, size_t n_dedup)
{
    pthread_mutex_lock(&e->mu);
    rl_map_reserve(&e->slots, n_slots); /* best effort: maps also grow */
    rl_map_reserve(&e->dedup, n_dedup);
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

static void restore_slot(rl_engine *e, const char *key, rl_rbuf *r, uint64_t *bad)
{
    uint8_t kind = rl_get_u8(r);
    int64_t tat = rl_get_i64(r);
    uint32_t n = rl_get_u32(r);
    if (r->bad || kind < RL_KIND_WINDOW || kind > RL_KIND_GCRA) {
        (*bad)++;
        return;
    }
    rl_slot *s = rl_slot_make_locked(e, key, (rl_kind)kind);
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
    if (r->bad)
        (*bad)++;
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

void rl_engine_restore(rl_engine *e, int kind, const char *key, int64_t at_ms,
                       const unsigned char *blob, size_t len, uint64_t *bad)
{
    rl_rbuf r = {blob, len, 0, 0};
    pthread_mutex_lock(&e->mu);
    if (kind != RL_ITEM_POLICY)
        forget_locked(e, kind, key); /* a later record replaces an earlier one */
    if (!blob) {                     /* a delete record */
        pthread_mutex_unlock(&e->mu);
        return;
    }
    switch (kind) {
    case RL_ITEM_POLICY:
        restore_policy(e, &r, bad);
        break;
    case RL_ITEM_SLOT:
        restore_slot(e, key, &r, bad);
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
    pthread_mutex_unlock(&e->mu);
}
