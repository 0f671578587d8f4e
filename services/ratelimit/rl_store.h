/*
 * rl_store.h: SQLite persistence for the ratelimit engine.
 *
 * A writer thread (and any caller that must wait, as group-commit leader)
 * collects every dirty object from the engine and appends it to a log table
 * in one transaction (WAL, synchronous=FULL), then declares that journal
 * sequence durable: waiting callers reply and the headroom promised in the
 * committed records may be used (rl_headroom.h). A background compactor
 * folds the log into the item table. A clean close replaces everything with
 * one exact snapshot (large chunks, fast to restore) and a clean epoch.
 * Start-up loads the policy, the previous run's epoch, the snapshot, the
 * items and the log into a new engine, charging what an unclean stop may
 * have hidden (restored counts never below what was replied).
 *
 * The store owns its SQLite connections and thread; the engine it creates
 * is owned by the caller and must outlive rl_store_close. Thread-safety:
 * open and close from one thread; the writer runs on its own.
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

/* Flushes what is dirty, stops the writer, writes the exact snapshot of a
 * clean stop, closes the database. NULL ok. */
void rl_store_close(rl_store *st);

/* Commits what is dirty, then folds the whole journal log into the state
 * table now instead of in the background and checkpoints the WAL (for
 * tests and operations). Safe
 * to call from any thread while the store is open. Returns the log records
 * folded, or -1 on a database error. */
int64_t rl_store_compact(rl_store *st);

/* Transactions committed and items written so far (for Health/benchmarks). */
void rl_store_counts(rl_store *st, uint64_t *commits, uint64_t *items);

#endif
