/* rpc_dedup.c: request-id table with FIFO eviction (see rpc_dedup.h). */
#include "rpc_dedup.h"
#include "xd/clock.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEDUP_ID_MAX 64 /* the server passes 64-hex-digit digests */

typedef struct dedup_entry {
    char id[DEDUP_ID_MAX + 1];
    int running;
    int waiters; /* duplicates waiting: the entry must outlive them */
    unsigned char *reply;
    size_t len;
    int64_t born_ms;
    struct dedup_entry *hash_next;
    struct dedup_entry *fifo_next;
} dedup_entry;

struct rpc_dedup {
    pthread_mutex_t lock;
    pthread_cond_t done;
    dedup_entry **buckets;
    size_t n_buckets;
    dedup_entry *fifo_head, *fifo_tail; /* oldest first */
    int n_entries, max_entries;
    size_t bytes, max_bytes;
    int64_t ttl_ms;
};

static size_t hash_id(const char *s)
{
    size_t h = 1469598103934665603ULL;
    while (*s)
        h = (h ^ (unsigned char)*s++) * 1099511628211ULL;
    return h;
}

rpc_dedup *rpc_dedup_new(int max_entries, size_t max_bytes, int64_t ttl_ms)
{
    rpc_dedup *d = calloc(1, sizeof(*d));
    if (!d)
        abort();
    d->n_buckets = (size_t)max_entries * 2 + 1;
    d->buckets = calloc(d->n_buckets, sizeof(*d->buckets));
    if (!d->buckets)
        abort();
    d->max_entries = max_entries;
    d->max_bytes = max_bytes;
    d->ttl_ms = ttl_ms;
    pthread_mutex_init(&d->lock, NULL);
    xd_cond_init_monotonic(&d->done);
    return d;
}

void rpc_dedup_free(rpc_dedup *d)
{
    if (!d)
        return;
    for (dedup_entry *e = d->fifo_head, *next; e; e = next) {
        next = e->fifo_next;
        free(e->reply);
        free(e);
    }
    free(d->buckets);
    pthread_mutex_destroy(&d->lock);
    pthread_cond_destroy(&d->done);
    free(d);
}

static dedup_entry *lookup(rpc_dedup *d, const char *id)
{
    for (dedup_entry *e = d->buckets[hash_id(id) % d->n_buckets]; e; e = e->hash_next)
        if (strcmp(e->id, id) == 0)
            return e;
    return NULL;
}

static void unlink_hash(rpc_dedup *d, dedup_entry *victim)
{
    dedup_entry **pp = &d->buckets[hash_id(victim->id) % d->n_buckets];
    while (*pp != victim)
        pp = &(*pp)->hash_next;
    *pp = victim->hash_next;
}

/* Drops finished entries from the old end while over a bound or too old. */
static void evict(rpc_dedup *d, int64_t now_ms)
{
    while (d->fifo_head && !d->fifo_head->running && d->fifo_head->waiters == 0 &&
           (d->n_entries >= d->max_entries || d->bytes > d->max_bytes ||
            now_ms - d->fifo_head->born_ms > d->ttl_ms)) {
        dedup_entry *victim = d->fifo_head;
        d->fifo_head = victim->fifo_next;
        if (!d->fifo_head)
            d->fifo_tail = NULL;
        unlink_hash(d, victim);
        d->bytes -= victim->len;
        d->n_entries--;
        free(victim->reply);
        free(victim);
    }
}

rpc_dedup_result rpc_dedup_begin(rpc_dedup *d, const char *id, int64_t wait_ms,
                                 unsigned char **reply_out, size_t *len_out)
{
    if (strlen(id) > DEDUP_ID_MAX)
        return RPC_DEDUP_NEW; /* the server rejects such ids before asking */
    int64_t now = xd_monotonic_ms();
    pthread_mutex_lock(&d->lock);
    evict(d, now);
    dedup_entry *e = lookup(d, id);
    if (!e) {
        e = calloc(1, sizeof(*e));
        if (!e)
            abort();
        strcpy(e->id, id);
        e->running = 1;
        e->born_ms = now;
        size_t b = hash_id(id) % d->n_buckets;
        e->hash_next = d->buckets[b];
        d->buckets[b] = e;
        if (d->fifo_tail)
            d->fifo_tail->fifo_next = e;
        else
            d->fifo_head = e;
        d->fifo_tail = e;
        d->n_entries++;
        pthread_mutex_unlock(&d->lock);
        return RPC_DEDUP_NEW;
    }
    struct timespec until;
    xd_monotonic_deadline(wait_ms, &until);
    /* Running or waited-for entries are never evicted: e stays valid. */
    e->waiters++;
    while (e->running)
        if (pthread_cond_timedwait(&d->done, &d->lock, &until) != 0)
            break;
    rpc_dedup_result result = RPC_DEDUP_TIMEOUT;
    if (!e->running) {
        *reply_out = malloc(e->len ? e->len : 1);
        if (!*reply_out)
            abort();
        memcpy(*reply_out, e->reply, e->len);
        *len_out = e->len;
        result = RPC_DEDUP_DONE;
    }
    e->waiters--;
    pthread_mutex_unlock(&d->lock);
    return result;
}

void rpc_dedup_finish(rpc_dedup *d, const char *id, const unsigned char *reply, size_t len)
{
    unsigned char *copy = malloc(len ? len : 1);
    if (!copy)
        abort();
    memcpy(copy, reply, len);
    pthread_mutex_lock(&d->lock);
    dedup_entry *e = lookup(d, id);
    if (e && e->running) {
        e->reply = copy;
        e->len = len;
        e->running = 0;
        d->bytes += len;
        copy = NULL;
    }
    pthread_cond_broadcast(&d->done);
    pthread_mutex_unlock(&d->lock);
    free(copy);
}
