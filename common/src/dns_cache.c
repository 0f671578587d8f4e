/* dns_cache.c: chained hash table + LRU list of DNS answers (see dns_cache.h). */
#include "dns_cache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct entry {
    struct entry *hnext;       /* bucket chain */
    struct entry *prev, *next; /* LRU list, most recent first */
    int type;
    char name[XD_DNS_NAME_MAX + 1];
    int64_t expires_ms;
    xd_dns_answer answer;
} entry;

struct dns_cache {
    pthread_mutex_t mu;
    const xd_clock *clock;
    size_t max, count, nbuckets;
    entry **buckets;
    entry lru; /* sentinel: lru.next is the newest, lru.prev the oldest */
};

int dns_answer_copy(xd_dns_answer *dst, const xd_dns_answer *src)
{
    *dst = *src;
    dst->mx = NULL;
    dst->addr = NULL;
    dst->txt = NULL;
    if (src->mx && src->n) {
        dst->mx = malloc(src->n * sizeof(*dst->mx));
        if (!dst->mx)
            goto fail;
        memcpy(dst->mx, src->mx, src->n * sizeof(*dst->mx));
    }
    if (src->addr && src->n) {
        dst->addr = malloc(src->n * sizeof(*dst->addr));
        if (!dst->addr)
            goto fail;
        memcpy(dst->addr, src->addr, src->n * sizeof(*dst->addr));
    }
    if (src->txt && src->n) {
        dst->txt = calloc(src->n, sizeof(*dst->txt));
        if (!dst->txt)
            goto fail;
        for (size_t i = 0; i < src->n; i++) {
            dst->txt[i].data = malloc(src->txt[i].len + 1);
            if (!dst->txt[i].data)
                goto fail;
            memcpy(dst->txt[i].data, src->txt[i].data, src->txt[i].len + 1);
            dst->txt[i].len = src->txt[i].len;
        }
    }
    return 0;
fail:
    xd_dns_answer_free(dst);
    memset(dst, 0, sizeof(*dst));
    return -1;
}

static uint64_t key_hash(int type, const char *name)
{
    uint64_t h = 1469598103934665603ULL ^ (uint64_t)type;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        h ^= *p;
        h *= 1099511628211ULL;
    }
    return h;
}

dns_cache *dns_cache_new(size_t max_entries, const xd_clock *clock)
{
    dns_cache *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->max = max_entries;
    c->nbuckets = max_entries * 2 + 1;
    c->buckets = calloc(c->nbuckets, sizeof(*c->buckets));
    if (!c->buckets) {
        free(c);
        return NULL;
    }
    c->clock = clock;
    c->lru.next = c->lru.prev = &c->lru;
    pthread_mutex_init(&c->mu, NULL);
    return c;
}

static void entry_free(entry *e)
{
    xd_dns_answer_free(&e->answer);
    free(e);
}

/* Unlinks e from its bucket and the LRU list; the caller frees it. */
static void unlink_entry(dns_cache *c, entry *e)
{
    entry **pp = &c->buckets[key_hash(e->type, e->name) % c->nbuckets];
    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    e->prev->next = e->next;
    e->next->prev = e->prev;
    c->count--;
}

static void lru_push_front(dns_cache *c, entry *e)
{
    e->next = c->lru.next;
    e->prev = &c->lru;
    c->lru.next->prev = e;
    c->lru.next = e;
}

static entry *find(dns_cache *c, int type, const char *name)
{
    for (entry *e = c->buckets[key_hash(type, name) % c->nbuckets]; e; e = e->hnext) {
        if (e->type == type && strcmp(e->name, name) == 0)
            return e;
    }
    return NULL;
}

void dns_cache_free(dns_cache *cache)
{
    if (!cache)
        return;
    entry *e = cache->lru.next;
    while (e != &cache->lru) {
        entry *next = e->next;
        entry_free(e);
        e = next;
    }
    free(cache->buckets);
    pthread_mutex_destroy(&cache->mu);
    free(cache);
}

int dns_cache_get(dns_cache *cache, int type, const char *name, xd_dns_answer *out)
{
    int hit = 0;
    int64_t now = xd_clock_now_ms(cache->clock);
    pthread_mutex_lock(&cache->mu);
    entry *e = find(cache, type, name);
    if (e && e->expires_ms <= now) {
        unlink_entry(cache, e);
        entry_free(e);
        e = NULL;
    }
    if (e && dns_answer_copy(out, &e->answer) == 0) {
        out->from_cache = 1;
        out->ttl_ms = e->expires_ms - now;
        e->prev->next = e->next; /* most recently used goes to the front */
        e->next->prev = e->prev;
        lru_push_front(cache, e);
        hit = 1;
    }
    pthread_mutex_unlock(&cache->mu);
    return hit;
}

void dns_cache_put(dns_cache *cache, int type, const char *name, const xd_dns_answer *answer,
                   int64_t ttl_ms)
{
    if (ttl_ms <= 0 || strlen(name) > XD_DNS_NAME_MAX)
        return;
    entry *fresh = calloc(1, sizeof(*fresh));
    if (!fresh || dns_answer_copy(&fresh->answer, answer) != 0) {
        free(fresh);
        return;
    }
    fresh->type = type;
    strcpy(fresh->name, name);
    fresh->answer.from_cache = 0;
    fresh->expires_ms = xd_clock_now_ms(cache->clock) + ttl_ms;
    pthread_mutex_lock(&cache->mu);
    entry *old = find(cache, type, name);
    if (old) {
        unlink_entry(cache, old);
        entry_free(old);
    }
    if (cache->count >= cache->max) {
        entry *oldest = cache->lru.prev;
        unlink_entry(cache, oldest);
        entry_free(oldest);
    }
    fresh->hnext = cache->buckets[key_hash(type, name) % cache->nbuckets];
    cache->buckets[key_hash(type, name) % cache->nbuckets] = fresh;
    lru_push_front(cache, fresh);
    cache->count++;
    pthread_mutex_unlock(&cache->mu);
}
