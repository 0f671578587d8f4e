/* rl_map.c: open-addressing string map; see rl_map.h. */
#include "rl_map.h"

#include <stdlib.h>
#include <string.h>

uint64_t rl_hash(const char *s, size_t n)
{
    /* FNV-1a with a final avalanche (splitmix64): cheap and well spread. */
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ULL;
    }
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebULL;
    h ^= h >> 31;
    return h ? h : 1;
}

void rl_map_init(rl_map *m, rl_map_key_fn key_of)
{
    memset(m, 0, sizeof(*m));
    m->key_of = key_of;
}

void rl_map_free(rl_map *m)
{
    free(m->slots);
    m->slots = NULL;
    m->cap = m->count = 0;
}

void *rl_map_get(const rl_map *m, const char *key, uint64_t hash)
{
    if (m->cap == 0)
        return NULL;
    size_t mask = m->cap - 1;
    for (size_t i = hash & mask;; i = (i + 1) & mask) {
        const rl_map_slot *s = &m->slots[i];
        if (s->hash == 0)
            return NULL;
        if (s->hash == hash && strcmp(m->key_of(s->value), key) == 0)
            return s->value;
    }
}

static void insert_slot(rl_map_slot *slots, size_t cap, rl_map_slot in)
{
    size_t mask = cap - 1;
    size_t i = in.hash & mask;
    while (slots[i].hash != 0)
        i = (i + 1) & mask;
    slots[i] = in;
}

static int grow_to(rl_map *m, size_t ncap);

static int grow(rl_map *m)
{
    return grow_to(m, m->cap ? m->cap * 2 : 64);
}

int rl_map_reserve(rl_map *m, size_t n)
{
    size_t ncap = m->cap ? m->cap : 64;
    while (n * 2 > ncap)
        ncap *= 2;
    return ncap > m->cap ? grow_to(m, ncap) : 0;
}

static int grow_to(rl_map *m, size_t ncap)
{
    rl_map_slot *ns = calloc(ncap, sizeof(*ns));
    if (!ns)
        return -1;
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].hash)
            insert_slot(ns, ncap, m->slots[i]);
    free(m->slots);
    m->slots = ns;
    m->cap = ncap;
    return 0;
}

int rl_map_put(rl_map *m, uint64_t hash, void *value)
{
    /* Keep the load at or below 1/2: a miss (every new request id) then
     * probes ~2.5 slots instead of ~8.5 at 3/4. */
    if ((m->count + 1) * 2 > m->cap && grow(m) != 0)
        return -1;
    insert_slot(m->slots, m->cap, (rl_map_slot){hash, value});
    m->count++;
    return 0;
}

void *rl_map_del(rl_map *m, const char *key, uint64_t hash)
{
    if (m->cap == 0)
        return NULL;
    size_t mask = m->cap - 1;
    size_t i = hash & mask;
    for (;; i = (i + 1) & mask) {
        if (m->slots[i].hash == 0)
            return NULL;
        if (m->slots[i].hash == hash && strcmp(m->key_of(m->slots[i].value), key) == 0)
            break;
    }
    void *value = m->slots[i].value;
    /* Backward-shift: move later members of the probe run into the hole. */
    size_t hole = i;
    for (size_t j = (i + 1) & mask; m->slots[j].hash != 0; j = (j + 1) & mask) {
        size_t home = m->slots[j].hash & mask;
        size_t dist_j = (j - home) & mask;
        size_t dist_hole = (hole - home) & mask;
        if (dist_hole < dist_j) {
            m->slots[hole] = m->slots[j];
            hole = j;
        }
    }
    m->slots[hole].hash = 0;
    m->slots[hole].value = NULL;
    m->count--;
    return value;
}

void *rl_map_next(const rl_map *m, size_t *pos)
{
    while (*pos < m->cap) {
        size_t i = (*pos)++;
        if (m->slots[i].hash)
            return m->slots[i].value;
    }
    return NULL;
}
