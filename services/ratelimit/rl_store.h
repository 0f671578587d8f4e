/*
 * rl_store.h: SQLite persistence for the ratelimit engine.
 *
 * One table of items (kind, key) -> blob written by one writer thread with
 * group commit: it collects every dirty object from the engine, writes them
 * in one transaction (WAL, synchronous=FULL) and then declares that journal
 * sequence durable, releasing the callers waiting to reply. Start-up loads
 * the policy, then every item, into a new engine (see rl_engine.h for why the
 * restored counts never under-count a reply that was sent).
 *
 * The store owns its SQLite connection and thread; the engine it creates is
 * owned by the caller and must outlive rl_store_close. Thread-safety: open
 * and close from one thread; the writer runs on its own.
 */
#ifndef RL_STORE_H
#define RL_STORE_H

#include <stdint.h>
#include "rl_engine.h"
#include "xd/clock.h"
#include "xd/status.h"

typedef struct rl_store rl_store;

typedef struct rl_restore_stats {
    uint64_t items;     /* rows read */
    uint64_t bad;       /* rows skipped as unreadable */
    int64_t elapsed_ms; /* time to open and restore */
    uint64_t policy_version;
} rl_restore_stats;

typedef struct rl_store_options {
    const char *db_path;
    /* JSON of the policy file, or NULL. When it differs from the stored
     * policy it is applied as a new version (the file wins at start-up). */
    const char *policy_file_json;
    rl_engine_options engine;
    const xd_clock *clock;     /* for sweeping and pruning */
    int64_t sweep_interval_ms; /* 0 = 1000 */
    int sync_normal;           /* 1 = synchronous=NORMAL (NOT crash-safe for power loss) */
} rl_store_options;

/* Opens (creating) the database, restores an engine from it and starts the
 * writer. On success writes *engine_out and *out. */
xd_code rl_store_open(const rl_store_options *opt, rl_engine **engine_out, rl_store **out,
                      rl_restore_stats *stats, xd_err *err);

/* Flushes what is dirty, stops the writer, closes the database. NULL ok. */
void rl_store_close(rl_store *st);

/* Transactions committed and items written so far (for Health/benchmarks). */
void rl_store_counts(rl_store *st, uint64_t *commits, uint64_t *items);

#endif
