/*
 * rpc_dedup.h (internal to common): remembers recent request ids and their
 * packed replies, so a request that NNG re-sends is answered, not re-run.
 *
 * Bounded by entry count, total reply bytes and age; entries still running
 * are never evicted. Thread-safety: all functions lock the table.
 */
#ifndef XD_RPC_DEDUP_H
#define XD_RPC_DEDUP_H

#include <stddef.h>
#include <stdint.h>

typedef struct rpc_dedup rpc_dedup;

typedef enum rpc_dedup_result {
    RPC_DEDUP_NEW = 0, /* first sighting: caller runs it, then calls rpc_dedup_finish */
    RPC_DEDUP_DONE,    /* a finished duplicate: *reply_out holds a malloc'd copy */
    RPC_DEDUP_TIMEOUT, /* still running elsewhere when wait_ms ran out */
} rpc_dedup_result;

rpc_dedup *rpc_dedup_new(int max_entries, size_t max_bytes, int64_t ttl_ms);
void rpc_dedup_free(rpc_dedup *d);

/* Claims id. On a duplicate that is still running, waits up to wait_ms for
 * it. On RPC_DEDUP_DONE the caller owns *reply_out (free()). */
rpc_dedup_result rpc_dedup_begin(rpc_dedup *d, const char *id, int64_t wait_ms,
                                 unsigned char **reply_out, size_t *len_out);

/* Stores the reply for id (copied) and wakes duplicates waiting for it. */
void rpc_dedup_finish(rpc_dedup *d, const char *id, const unsigned char *reply, size_t len);

#endif
