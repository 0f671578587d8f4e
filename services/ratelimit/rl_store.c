/* rl_store.c: SQLite persistence with a group-commit writer; see rl_store.h. */
#include "rl_store.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "rl_codec.h"
#include "xd/db.h"
#include "xd/log.h"

static const char *const MIGRATIONS[] = {
    "CREATE TABLE rl_item ("
    " kind INTEGER NOT NULL,"
    " key TEXT NOT NULL,"
    " at_ms INTEGER NOT NULL DEFAULT 0,"
    " blob BLOB NOT NULL,"
    " PRIMARY KEY (kind, key)) WITHOUT ROWID;"
    "CREATE INDEX rl_item_at ON rl_item (kind, at_ms);",
    /* Group commits append here (sequential pages, cheap to commit); the
     * background compactor folds the log into rl_item in large chunks. */
    "CREATE TABLE rl_log ("
    " seq INTEGER PRIMARY KEY,"
    " kind INTEGER NOT NULL,"
    " key TEXT NOT NULL,"
    " at_ms INTEGER NOT NULL DEFAULT 0,"
    " blob BLOB);",
    /* Written by a clean stop: the whole state in large chunks (fast to
     * restore); rl_item and rl_log then hold only what came after it. */
    "CREATE TABLE rl_snap ("
    " chunk INTEGER PRIMARY KEY,"
    " items INTEGER NOT NULL,"
    " blob BLOB NOT NULL);",
};

#define SNAP_CHUNK_BYTES (1 << 20)
#define RL_ID_KEY_MAX    200 /* request ids are at most 128 characters */

#define COMPACT_CHUNK 1024
/* WAL pages (about 4 KiB each) after which the writer thread checkpoints. */
#define CHECKPOINT_PAGES 4000

struct rl_store {
    sqlite3 *db;
    sqlite3 *ckpt; /* second connection: checkpoints run beside commits */
    int sync_normal;
    sqlite3_stmt *upsert, *del, *prune, *append, *log_read, *log_trim;
    atomic_llong log_rows; /* appended and not yet compacted (approximate) */
    rl_engine *engine;
    const xd_clock *clock;
    int64_t sweep_interval_ms, dedup_ttl_ms;
    uint32_t dedup_max; /* request ids the engine keeps */
    pthread_t thread;
    pthread_mutex_t db_mu;   /* one committer at a time */
    pthread_mutex_t ckpt_mu; /* the connections are NOMUTEX: one user of ckpt at a time */
    rl_batch pending;        /* collected, not yet committed (kept on failure) */
    atomic_int stop;
    atomic_ullong commits, items;
    atomic_int wal_pages; /* WAL size after the last commit */
};

static xd_code write_batch(rl_store *st, const rl_batch *b, xd_err *err)
{
    xd_code rc = xd_db_begin(st->db, err);
    if (rc != XD_OK)
        return rc;
    for (size_t i = 0; i < b->n; i++) {
        const rl_item *it = &b->items[i];
        /* Policy and epoch are single rows, replaced in place. */
        int in_place = it->kind == RL_ITEM_POLICY || it->kind == RL_ITEM_EPOCH;
        sqlite3_stmt *s = !in_place ? st->append : it->blob ? st->upsert : st->del;
        sqlite3_reset(s);
        sqlite3_bind_int(s, 1, it->kind);
        sqlite3_bind_text(s, 2, it->key, -1, SQLITE_STATIC);
        if (s != st->del) {
            sqlite3_bind_int64(s, 3, it->at_ms);
            if (it->blob)
                sqlite3_bind_blob(s, 4, it->blob, (int)it->blob_len, SQLITE_STATIC);
            else
                sqlite3_bind_null(s, 4);
        }
        int src = sqlite3_step(s);
        if (src != SQLITE_DONE) {
            rc = xd_db_fail(st->db, src, "writing ratelimit state", err);
            sqlite3_reset(s);
            xd_db_rollback(st->db);
            return rc;
        }
        sqlite3_reset(s);
    }
    rc = xd_db_commit(st->db, err);
    if (rc != XD_OK) {
        xd_db_rollback(st->db);
        return rc;
    }
    atomic_fetch_add(&st->commits, 1);
    atomic_fetch_add(&st->items, b->n);
    atomic_fetch_add(&st->log_rows, (long long)b->n);
    return XD_OK;
}

/* Maintenance transactions (compaction, pruning) only move or drop data
 * that is already durable, so they commit without an fsync: WAL frames are
 * ordered, the next synchronous=FULL commit's fsync makes them durable too,
 * and a power loss before it rolls the whole transaction back, leaving the
 * log records in place. Replies never wait on these. Call with db_mu held. */
static void relaxed_sync(rl_store *st, int on)
{
    const char *sql =
        on || st->sync_normal ? "PRAGMA synchronous = NORMAL" : "PRAGMA synchronous = FULL";
    xd_err err;
    if (xd_db_exec(st->db, sql, &err) != XD_OK)
        XD_WARN("ratelimit store: %s", err.message);
}

/* Folds the oldest COMPACT_CHUNK log records into rl_item (later records
 * win: they are applied in order) and drops them from the log, in one
 * transaction. Returns the records moved, or -1 on error. */
static int compact_chunk_tx(rl_store *st);

static int compact_chunk(rl_store *st)
{
    relaxed_sync(st, 1);
    int moved = compact_chunk_tx(st);
    relaxed_sync(st, 0);
    return moved;
}

static int compact_chunk_tx(rl_store *st)
{
    xd_err err;
    xd_err_clear(&err);
    if (xd_db_begin(st->db, &err) != XD_OK)
        return -1;
    int moved = 0, src;
    sqlite3_int64 last = 0;
    sqlite3_reset(st->log_read);
    sqlite3_bind_int(st->log_read, 1, COMPACT_CHUNK);
    while ((src = sqlite3_step(st->log_read)) == SQLITE_ROW) {
        last = sqlite3_column_int64(st->log_read, 0);
        int has_blob = sqlite3_column_type(st->log_read, 4) != SQLITE_NULL;
        sqlite3_stmt *s = has_blob ? st->upsert : st->del;
        sqlite3_reset(s);
        sqlite3_bind_int(s, 1, sqlite3_column_int(st->log_read, 1));
        sqlite3_bind_text(s, 2, (const char *)sqlite3_column_text(st->log_read, 2), -1,
                          SQLITE_TRANSIENT);
        if (has_blob) {
            sqlite3_bind_int64(s, 3, sqlite3_column_int64(st->log_read, 3));
            sqlite3_bind_blob(s, 4, sqlite3_column_blob(st->log_read, 4),
                              sqlite3_column_bytes(st->log_read, 4), SQLITE_TRANSIENT);
        }
        int wrc = sqlite3_step(s);
        sqlite3_reset(s);
        if (wrc != SQLITE_DONE) {
            src = wrc;
            break;
        }
        moved++;
    }
    sqlite3_reset(st->log_read);
    if (src != SQLITE_DONE) {
        xd_db_fail(st->db, src, "compacting the ratelimit log", &err);
        XD_WARN("%s", err.message);
        xd_db_rollback(st->db);
        return -1;
    }
    sqlite3_reset(st->log_trim);
    sqlite3_bind_int64(st->log_trim, 1, last);
    src = sqlite3_step(st->log_trim);
    sqlite3_reset(st->log_trim);
    if (src != SQLITE_DONE || xd_db_commit(st->db, &err) != XD_OK) {
        xd_db_rollback(st->db);
        return -1;
    }
    atomic_fetch_sub(&st->log_rows, moved);
    return moved;
}

static void prune(rl_store *st, int64_t now)
{
    relaxed_sync(st, 1);
    sqlite3_reset(st->prune);
    sqlite3_bind_int64(st->prune, 1, now - st->dedup_ttl_ms);
    int rc = sqlite3_step(st->prune);
    sqlite3_reset(st->prune);
    if (rc != SQLITE_DONE)
        XD_WARN("pruning old request ids failed: %s", sqlite3_errmsg(st->db));
    relaxed_sync(st, 0);
}

/* Copies WAL pages into the database file on the second connection, so the
 * random writes and fsyncs of a checkpoint never run inside a commit that a
 * reply waits for (the main connection has auto-checkpoints off). PASSIVE:
 * commits go on meanwhile. */
static void checkpoint(rl_store *st)
{
    int log_pages = 0, done = 0;
    pthread_mutex_lock(&st->ckpt_mu);
    int rc =
        sqlite3_wal_checkpoint_v2(st->ckpt, NULL, SQLITE_CHECKPOINT_PASSIVE, &log_pages, &done);
    if (rc != SQLITE_OK && rc != SQLITE_BUSY)
        XD_WARN("ratelimit store: checkpoint failed: %s", sqlite3_errmsg(st->ckpt));
    else
        atomic_store(&st->wal_pages, 0); /* the next commit reports the size again */
    pthread_mutex_unlock(&st->ckpt_mu);
}

/* Called by SQLite after each commit on the main connection with the WAL's
 * size in pages; replaces the automatic checkpoint. */
static int on_wal_commit(void *arg, sqlite3 *db, const char *schema, int pages)
{
    (void)db;
    (void)schema;
    atomic_store(&((rl_store *)arg)->wal_pages, pages);
    return SQLITE_OK;
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

/* Collects what is dirty and commits it; a failed batch is kept and
 * retried first, so durable sequences only ever advance over committed
 * changes. Returns 0 on success. */
static int flush(void *arg)
{
    rl_store *st = arg;
    int rc = 0;
    pthread_mutex_lock(&st->db_mu);
    rl_engine_collect(st->engine, &st->pending);
    if (st->pending.n > 0) {
        xd_err err;
        xd_err_clear(&err);
        if (write_batch(st, &st->pending, &err) != XD_OK) {
            XD_ERROR("ratelimit store: %s (will retry)", err.message);
            rl_engine_durable(st->engine, NULL, 0);
            rc = -1;
            goto out;
        }
    }
    rl_engine_durable(st->engine, &st->pending, 1);
    rl_batch_free(&st->pending);
out:
    pthread_mutex_unlock(&st->db_mu);
    return rc;
}

/* Background: commits what nobody waits for, retries failures, sweeps idle
 * state and prunes old request ids. */
static void *writer_main(void *arg)
{
    rl_store *st = arg;
    int64_t next_sweep = xd_monotonic_ms() + st->sweep_interval_ms;
    while (!atomic_load(&st->stop)) {
        rl_engine_wait_work(st->engine, 100);
        if (flush(st) != 0)
            sleep_ms(50);
        /* Compact a little at a time so commits never wait long. */
        for (int k = 0;
             k < 8 && atomic_load(&st->log_rows) > COMPACT_CHUNK && !atomic_load(&st->stop); k++) {
            pthread_mutex_lock(&st->db_mu);
            int moved = compact_chunk(st);
            pthread_mutex_unlock(&st->db_mu);
            if (moved <= 0)
                break;
        }
        if (atomic_load(&st->wal_pages) >= CHECKPOINT_PAGES)
            checkpoint(st);
        if (xd_monotonic_ms() >= next_sweep) {
            int64_t now = xd_clock_now_ms(st->clock);
            rl_engine_sweep(st->engine, now, 20000);
            pthread_mutex_lock(&st->db_mu);
            prune(st, now);
            pthread_mutex_unlock(&st->db_mu);
            next_sweep = xd_monotonic_ms() + st->sweep_interval_ms;
        }
    }
    flush(st); /* last changes before closing */
    checkpoint(st);
    return NULL;
}

static xd_code restore_all(rl_store *st, const rl_engine_options *eopt, const char *file_json,
                           rl_restore_stats *stats, xd_err *err)
{
    sqlite3_stmt *q = NULL;
    rl_policy *policy = NULL;
    char *stored_json = NULL;
    uint64_t version = 0;
    xd_code rc = xd_db_prepare(st->db, "SELECT blob FROM rl_item WHERE kind = 1", &q, err);
    if (rc != XD_OK)
        return rc;
    if (sqlite3_step(q) == SQLITE_ROW) {
        const unsigned char *blob = sqlite3_column_blob(q, 0);
        int len = sqlite3_column_bytes(q, 0);
        rl_rbuf r = {blob, (size_t)len, 0, 0};
        version = rl_get_u64(&r);
        uint32_t n = rl_get_u32(&r);
        if (!r.bad && n <= (uint32_t)(len - (int)r.pos) && (stored_json = malloc(n + 1))) {
            memcpy(stored_json, blob + r.pos, n);
            stored_json[n] = '\0';
        }
    }
    sqlite3_finalize(q);
    const char *json = stored_json;
    if (file_json && (!stored_json || strcmp(file_json, stored_json) != 0)) {
        json = file_json;
        version++;
    } else if (!stored_json) {
        json = rl_policy_default_json();
        version = 1;
    }
    rc = rl_policy_parse(json, &policy, err);
    if (rc != XD_OK) {
        free(stored_json);
        return rc;
    }
    rc = rl_engine_new(eopt, policy, json, version, &st->engine, err);
    int policy_changed = json != stored_json;
    free(stored_json);
    if (rc != XD_OK)
        return rc;
    rc =
        xd_db_prepare(st->db,
                      "SELECT kind, count(*) FROM rl_item WHERE kind BETWEEN 2 AND 6 GROUP BY kind "
                      "UNION ALL SELECT 0, coalesce(sum(items), 0) FROM rl_snap",
                      &q, err);
    if (rc != XD_OK)
        return rc;
    size_t n_slots = 0, n_dedup = 0;
    while (sqlite3_step(q) == SQLITE_ROW) {
        int kind = sqlite3_column_int(q, 0);
        size_t n = (size_t)sqlite3_column_int64(q, 1);
        if (kind == RL_ITEM_SLOT || kind == RL_ITEM_LEASE)
            n_slots += n;
        else if (kind == RL_ITEM_DEDUP)
            n_dedup += n;
        else if (kind == 0) /* a snapshot: sized for the larger of the two */
            n_slots += n, n_dedup += n / 2;
    }
    sqlite3_finalize(q);
    /* The previous run's epoch decides what a crash may have hidden. */
    rc = xd_db_prepare(st->db, "SELECT blob FROM rl_item WHERE kind = 7", &q, err);
    if (rc != XD_OK)
        return rc;
    int has_epoch = sqlite3_step(q) == SQLITE_ROW;
    rl_engine_restore_begin(
        st->engine, n_slots, n_dedup, has_epoch ? sqlite3_column_blob(q, 0) : NULL,
        has_epoch ? (size_t)sqlite3_column_bytes(q, 0) : 0, xd_clock_now_ms(st->clock));
    sqlite3_finalize(q);
    /* First the snapshot of the last clean stop. */
    rc = xd_db_prepare(st->db, "SELECT blob FROM rl_snap ORDER BY chunk", &q, err);
    if (rc != XD_OK)
        return rc;
    int src;
    while ((src = sqlite3_step(q)) == SQLITE_ROW)
        rl_engine_restore_chunk(st->engine, sqlite3_column_blob(q, 0),
                                (size_t)sqlite3_column_bytes(q, 0), &stats->items, &stats->bad);
    sqlite3_finalize(q);
    int fresh = stats->items == 0; /* rl_item keys are unique: no lookups needed */
    if (src != SQLITE_DONE)
        return xd_db_fail(st->db, src, "reading the ratelimit snapshot", err);
    /* Primary-key order (no sort, no index lookups: `+kind` keeps the
     * planner off rl_item_at, whose random lookups thrash the page cache on
     * large tables): the engine re-orders request ids by time itself.
     * Request ids past their TTL are skipped. */
    int64_t cutoff = xd_clock_now_ms(st->clock) - st->dedup_ttl_ms;
    /* Only the newest dedup_max request ids are kept: find the oldest of
     * them on the (kind, at_ms) index alone (it ends with the key, which
     * breaks ties), and skip older rows. */
    rc = xd_db_prepare(st->db,
                       "SELECT at_ms, key FROM rl_item WHERE kind = 5 "
                       "ORDER BY at_ms DESC, key DESC LIMIT 1 OFFSET ?1",
                       &q, err);
    if (rc != XD_OK)
        return rc;
    sqlite3_bind_int64(q, 1, (sqlite3_int64)st->dedup_max - 1);
    int64_t id_at = cutoff;
    char id_key[RL_ID_KEY_MAX + 1] = "";
    if (sqlite3_step(q) == SQLITE_ROW && sqlite3_column_int64(q, 0) > cutoff) {
        id_at = sqlite3_column_int64(q, 0);
        snprintf(id_key, sizeof(id_key), "%s", (const char *)sqlite3_column_text(q, 1));
    }
    sqlite3_finalize(q);
    rc = xd_db_prepare(st->db,
                       "SELECT kind, key, at_ms, blob FROM rl_item WHERE +kind BETWEEN 2 AND 6 "
                       "AND (kind NOT IN (5, 6) OR at_ms >= ?1) "
                       "AND (kind != 5 OR (at_ms, key) >= (?2, ?3))",
                       &q, err);
    if (rc != XD_OK)
        return rc;
    sqlite3_bind_int64(q, 1, cutoff);
    sqlite3_bind_int64(q, 2, id_at);
    sqlite3_bind_text(q, 3, id_key, -1, SQLITE_TRANSIENT);
    while ((src = sqlite3_step(q)) == SQLITE_ROW) {
        rl_engine_restore(st->engine, sqlite3_column_int(q, 0),
                          (const char *)sqlite3_column_text(q, 1), sqlite3_column_int64(q, 2),
                          sqlite3_column_blob(q, 3), (size_t)sqlite3_column_bytes(q, 3), fresh,
                          &stats->bad);
        stats->items++;
    }
    sqlite3_finalize(q);
    if (src != SQLITE_DONE)
        return xd_db_fail(st->db, src, "reading ratelimit state", err);
    /* Then the log, oldest first: later records replace earlier state. */
    rc = xd_db_prepare(st->db, "SELECT kind, key, at_ms, blob FROM rl_log ORDER BY seq", &q, err);
    if (rc != XD_OK)
        return rc;
    while ((src = sqlite3_step(q)) == SQLITE_ROW) {
        int null_blob = sqlite3_column_type(q, 3) == SQLITE_NULL;
        rl_engine_restore(st->engine, sqlite3_column_int(q, 0),
                          (const char *)sqlite3_column_text(q, 1), sqlite3_column_int64(q, 2),
                          null_blob ? NULL : sqlite3_column_blob(q, 3),
                          (size_t)sqlite3_column_bytes(q, 3), 0, &stats->bad);
        stats->items++;
        atomic_fetch_add(&st->log_rows, 1);
    }
    sqlite3_finalize(q);
    if (src != SQLITE_DONE)
        return xd_db_fail(st->db, src, "reading the ratelimit log", err);
    rl_engine_restore_done(st->engine);
    stats->policy_version = version;
    rl_engine_attach_store(st->engine, flush, st);
    if (policy_changed) /* store the policy that now applies */
        rl_engine_journal_policy(st->engine);
    return XD_OK;
}

/* Finalizes the statements, closes both connections and frees st: the part
 * of tear-down that a failed open and a close share. */
static void store_release(rl_store *st)
{
    sqlite3_finalize(st->upsert);
    sqlite3_finalize(st->del);
    sqlite3_finalize(st->prune);
    sqlite3_finalize(st->append);
    sqlite3_finalize(st->log_read);
    sqlite3_finalize(st->log_trim);
    xd_db_close(st->db);
    xd_db_close(st->ckpt);
    pthread_mutex_destroy(&st->db_mu);
    pthread_mutex_destroy(&st->ckpt_mu);
    free(st);
}

xd_code rl_store_open(const rl_store_options *opt, rl_engine **engine_out, rl_store **out,
                      rl_restore_stats *stats, xd_err *err)
{
    int64_t t0 = xd_monotonic_ms();
    memset(stats, 0, sizeof(*stats));
    rl_store *st = calloc(1, sizeof(*st));
    if (!st)
        return xd_err_set(err, XD_RESOURCE_EXHAUSTED, "out of memory");
    st->clock = opt->clock ? opt->clock : xd_clock_system();
    pthread_mutex_init(&st->db_mu, NULL);
    pthread_mutex_init(&st->ckpt_mu, NULL);
    st->sweep_interval_ms = opt->sweep_interval_ms ? opt->sweep_interval_ms : 1000;
    st->dedup_ttl_ms = opt->engine.dedup_ttl_ms ? opt->engine.dedup_ttl_ms : 24LL * 3600 * 1000;
    st->dedup_max = opt->engine.dedup_max ? opt->engine.dedup_max : 1000000;
    xd_db_options dbo = {.synchronous_normal = opt->sync_normal};
    xd_code rc = xd_db_open(opt->db_path, MIGRATIONS,
                            (int)(sizeof(MIGRATIONS) / sizeof(*MIGRATIONS)), &dbo, &st->db, err);
    if (rc != XD_OK)
        goto fail;
    st->sync_normal = opt->sync_normal;
    sqlite3_wal_hook(st->db, on_wal_commit, st);
    if ((rc = xd_db_open(opt->db_path, MIGRATIONS, (int)(sizeof(MIGRATIONS) / sizeof(*MIGRATIONS)),
                         &dbo, &st->ckpt, err)) != XD_OK)
        goto fail;
    if ((rc = xd_db_prepare(st->db,
                            "INSERT INTO rl_item (kind, key, at_ms, blob) VALUES (?1, ?2, ?3, ?4) "
                            "ON CONFLICT (kind, key) DO UPDATE SET at_ms = excluded.at_ms, "
                            "blob = excluded.blob",
                            &st->upsert, err)) != XD_OK ||
        (rc = xd_db_prepare(st->db, "DELETE FROM rl_item WHERE kind = ?1 AND key = ?2", &st->del,
                            err)) != XD_OK ||
        (rc = xd_db_prepare(st->db, "DELETE FROM rl_item WHERE kind IN (5, 6) AND at_ms < ?1",
                            &st->prune, err)) != XD_OK ||
        (rc = xd_db_prepare(st->db,
                            "INSERT INTO rl_log (kind, key, at_ms, blob) VALUES (?1, ?2, ?3, ?4)",
                            &st->append, err)) != XD_OK ||
        (rc = xd_db_prepare(st->db,
                            "SELECT seq, kind, key, at_ms, blob FROM rl_log ORDER BY seq LIMIT ?1",
                            &st->log_read, err)) != XD_OK ||
        (rc = xd_db_prepare(st->db, "DELETE FROM rl_log WHERE seq <= ?1", &st->log_trim, err)) !=
            XD_OK)
        goto fail;
    if ((rc = restore_all(st, &opt->engine, opt->policy_file_json, stats, err)) != XD_OK)
        goto fail;
    if (pthread_create(&st->thread, NULL, writer_main, st) != 0) {
        rc = xd_err_set(err, XD_INTERNAL, "cannot start the ratelimit writer thread");
        goto fail;
    }
    stats->elapsed_ms = xd_monotonic_ms() - t0;
    *engine_out = st->engine;
    *out = st;
    return XD_OK;
fail:
    rl_engine_free(st->engine);
    store_release(st);
    return rc;
}

typedef struct snap_writer {
    rl_store *st;
    sqlite3_stmt *ins;
    int64_t chunk;
} snap_writer;

static int snap_chunk(void *arg, const unsigned char *p, size_t len, uint64_t n_items)
{
    snap_writer *w = arg;
    sqlite3_reset(w->ins);
    sqlite3_bind_int64(w->ins, 1, ++w->chunk);
    sqlite3_bind_int64(w->ins, 2, (sqlite3_int64)n_items);
    sqlite3_bind_blob(w->ins, 3, p, (int)len, SQLITE_STATIC);
    int rc = sqlite3_step(w->ins);
    sqlite3_reset(w->ins);
    return rc == SQLITE_DONE ? 0 : -1;
}

static int put_item(rl_store *st, int kind, const char *key, const unsigned char *blob, size_t len)
{
    sqlite3_reset(st->upsert);
    sqlite3_bind_int(st->upsert, 1, kind);
    sqlite3_bind_text(st->upsert, 2, key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st->upsert, 3, 0);
    sqlite3_bind_blob(st->upsert, 4, blob, (int)len, SQLITE_STATIC);
    int rc = sqlite3_step(st->upsert);
    sqlite3_reset(st->upsert);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* A clean stop replaces everything stored by one exact snapshot (no
 * headroom) and a clean epoch record, in one transaction: the next start
 * reads a few large rows and charges nothing for this run. On failure the
 * journal stays as it was, which restores conservatively. */
static void write_snapshot(rl_store *st)
{
    xd_err err;
    xd_err_clear(&err);
    snap_writer w = {st, NULL, 0};
    unsigned char *epoch = NULL, *policy = NULL;
    size_t epoch_len = 0, policy_len = 0;
    int64_t t0 = xd_monotonic_ms();
    pthread_mutex_lock(&st->db_mu);
    if (xd_db_begin(st->db, &err) != XD_OK)
        goto out;
    if (xd_db_exec(st->db, "DELETE FROM rl_snap; DELETE FROM rl_item; DELETE FROM rl_log", &err) !=
            XD_OK ||
        xd_db_prepare(st->db, "INSERT INTO rl_snap (chunk, items, blob) VALUES (?1, ?2, ?3)",
                      &w.ins, &err) != XD_OK)
        goto fail;
    rl_engine_policy_blob(st->engine, &policy, &policy_len);
    if (rl_engine_snapshot(st->engine, SNAP_CHUNK_BYTES, snap_chunk, &w, &epoch, &epoch_len) != 0 ||
        !policy || !epoch || put_item(st, RL_ITEM_POLICY, "current", policy, policy_len) != 0 ||
        put_item(st, RL_ITEM_EPOCH, "epoch", epoch, epoch_len) != 0) {
        xd_db_fail(st->db, sqlite3_errcode(st->db), "writing the ratelimit snapshot", &err);
        goto fail;
    }
    if (xd_db_commit(st->db, &err) != XD_OK)
        goto fail;
    atomic_store(&st->log_rows, 0);
    XD_INFO("ratelimit snapshot: %lld chunks in %lld ms", (long long)w.chunk,
            (long long)(xd_monotonic_ms() - t0));
    goto out;
fail:
    XD_WARN("ratelimit store: no snapshot at stop (%s); the journal restores conservatively",
            err.message);
    xd_db_rollback(st->db);
out:
    sqlite3_finalize(w.ins);
    free(epoch);
    free(policy);
    pthread_mutex_unlock(&st->db_mu);
}

void rl_store_close(rl_store *st)
{
    if (!st)
        return;
    atomic_store(&st->stop, 1);
    rl_engine_wake(st->engine);
    pthread_join(st->thread, NULL);
    write_snapshot(st);
    checkpoint(st);
    XD_INFO("ratelimit store closed: %llu group commits, %llu journal records",
            (unsigned long long)atomic_load(&st->commits),
            (unsigned long long)atomic_load(&st->items));
    rl_batch_free(&st->pending);
    store_release(st);
}

int64_t rl_store_compact(rl_store *st)
{
    if (flush(st) != 0)
        return -1;
    int64_t total = 0;
    for (;;) {
        pthread_mutex_lock(&st->db_mu);
        int moved = compact_chunk(st);
        pthread_mutex_unlock(&st->db_mu);
        if (moved < 0)
            return -1;
        if (moved == 0)
            break;
        total += moved;
        /* Keep the WAL bounded as the background writer does. */
        if (atomic_load(&st->wal_pages) >= CHECKPOINT_PAGES)
            checkpoint(st);
    }
    checkpoint(st);
    return total;
}

void rl_store_counts(rl_store *st, uint64_t *commits, uint64_t *items)
{
    *commits = atomic_load(&st->commits);
    *items = atomic_load(&st->items);
}
