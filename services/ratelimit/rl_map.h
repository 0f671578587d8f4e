/*
 * rl_map.h: a string-keyed hash map (open addressing, linear probing,
 * backward-shift deletion) for the engine's in-memory state.
 *
 * The map stores (hash, value) only; key_of(value) gives the key string,
 * which the value owns. The map never frees values. Thread-safety: none; the
 * engine's mutex guards every map.
 */
#ifndef RL_MAP_H
#define RL_MAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct rl_map_slot {
    uint64_t hash; /* 0 = empty */
    void *value;
} rl_map_slot;

typedef const char *(*rl_map_key_fn)(const void *value);

typedef struct rl_map {
    rl_map_slot *slots;
    size_t cap; /* power of two */
    size_t count;
    rl_map_key_fn key_of;
} rl_map;

/* A fast 64-bit hash of n bytes (never 0). */
uint64_t rl_hash(const char *s, size_t n);

void rl_map_init(rl_map *m, rl_map_key_fn key_of);
void rl_map_free(rl_map *m); /* frees the table, not the values */

/* Grows the table for n entries at once (a restore); 0, -1 on OOM. */
int rl_map_reserve(rl_map *m, size_t n);

/* Returns the value for key (hash from rl_hash) or NULL. */
void *rl_map_get(const rl_map *m, const char *key, uint64_t hash);

/* Inserts value under its key (hash of key_of(value)); the key must not be
 * present. Returns 0, -1 on OOM. */
int rl_map_put(rl_map *m, uint64_t hash, void *value);

/* Removes key; returns its value or NULL. */
void *rl_map_del(rl_map *m, const char *key, uint64_t hash);

/* Iteration: *pos starts at 0; returns the next value or NULL at the end. */
void *rl_map_next(const rl_map *m, size_t *pos);

#endif
