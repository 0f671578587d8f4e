/*
 * dns_cache.h (internal to common): the TTL-bounded, size-bounded answer
 * cache behind xd_dns. Keys are (query type, lower-case name).
 *
 * The cache owns deep copies of what it is given and hands out deep copies,
 * so callers never share memory with it. Thread-safety: every function
 * locks the cache.
 */
#ifndef XD_DNS_CACHE_H
#define XD_DNS_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "xd/clock.h"
#include "xd/dns.h"

typedef struct dns_cache dns_cache;

/* NULL when out of memory; max_entries must be > 0. */
dns_cache *dns_cache_new(size_t max_entries, const xd_clock *clock);
void dns_cache_free(dns_cache *cache);

/* Returns 1 and a copy in *out (from_cache = 1, ttl_ms = time left) when a
 * live entry exists; 0 otherwise (expired entries are dropped). */
int dns_cache_get(dns_cache *cache, int type, const char *name, xd_dns_answer *out);

/* Stores a copy of answer for ttl_ms (nothing when ttl_ms <= 0), replacing
 * an entry with the same key and evicting the least recently used one when
 * full. Silently skips on out of memory: a cache may forget. */
void dns_cache_put(dns_cache *cache, int type, const char *name, const xd_dns_answer *answer,
                   int64_t ttl_ms);

/* Deep copy; returns 0, or -1 when out of memory (dst is then zeroed). */
int dns_answer_copy(xd_dns_answer *dst, const xd_dns_answer *src);

#endif
