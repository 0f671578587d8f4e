/*
 * queue_batch.c: group commit of the queue's writes (see queue_internal.h).
 *
 * Every commit costs an fsync of the WAL (synchronous=FULL), a few ms here,
 * and the queue has one connection: one commit per Submit, claim and copy
 * outcome made the fsync the ceiling of the whole sender. Writers now share
 * one open transaction: each runs inside its own SAVEPOINT (so a failing
 * write undoes only itself), then either commits, or, when another writer
 * is already queued for the lock, leaves the commit to it and waits until
 * the transaction holding its changes is committed (at most BATCH_WAIT_MS,
 * then it commits itself). No caller returns before its changes are
 * durable: "stored" still means on disk, and a worker still commits each
 * outcome before its next SMTP transaction.
 */
#include <errno.h>
#include <stdio.h>
#include <time.h>

#include "queue_internal.h"
#include "xd/clock.h"
#include "xd/db.h"
#include "xd/util.h"

#define BATCH_MAX     256 /* writes per transaction */
#define BATCH_WAIT_MS 5   /* longest wait for a later writer's commit */

void snd_qtx_init(snd_queue *q)
{
    xd_cond_init_monotonic(&q->committed);
    atomic_init(&q->writers_waiting, 0);
}

void snd_qtx_fini(snd_queue *q)
{
    pthread_cond_destroy(&q->committed);
}

static int exec(snd_queue *q, const char *sql)
{
    return sqlite3_exec(q->db, sql, NULL, NULL, NULL);
}

/* Ends the open transaction (COMMIT, or ROLLBACK when ok is 0) and wakes
 * the writers waiting for it. Lock held. */
static void close_tx(snd_queue *q, int ok)
{
    int rc = ok ? exec(q, "COMMIT") : SQLITE_ERROR;
    if (rc != SQLITE_OK) {
        snprintf(q->fail_msg, sizeof q->fail_msg, "%s",
                 ok ? sqlite3_errmsg(q->db) : "the shared transaction was rolled back");
        xd_db_rollback(q->db);
    }
    q->gen_committed[q->gen % SND_QTX_OUTCOMES] = rc == SQLITE_OK;
    q->ended_gen = q->gen;
    q->tx_open = 0;
    pthread_cond_broadcast(&q->committed);
}

/* 1 when transaction g committed, 0 when it failed, -1 while it is open.
 * Once g ended, later transactions may commit or fail too: only g's own
 * outcome says whether its writes are on disk. One ended too long ago to be
 * remembered counts as failed: the caller says UNAVAILABLE and a retry with
 * the idempotency key gets the first answer. Lock held. */
static int gen_outcome(const snd_queue *q, uint64_t g)
{
    if (q->ended_gen < g)
        return -1;
    if (q->ended_gen - g >= SND_QTX_OUTCOMES)
        return 0;
    return q->gen_committed[g % SND_QTX_OUTCOMES];
}

static xd_code commit_failed(const snd_queue *q, xd_err *err)
{
    return xd_err_set(err, XD_UNAVAILABLE, "the queue could not commit: %s", q->fail_msg);
}

xd_code snd_qtx_flush_locked(snd_queue *q, xd_err *err)
{
    if (!q->tx_open)
        return XD_OK;
    uint64_t mine = q->gen;
    close_tx(q, 1);
    return gen_outcome(q, mine) == 1 ? XD_OK : commit_failed(q, err);
}

static xd_code begin_op(snd_queue *q, int commit_pending, xd_err *err)
{
    atomic_fetch_add(&q->writers_waiting, 1);
    pthread_mutex_lock(&q->mu);
    atomic_fetch_sub(&q->writers_waiting, 1);
    if (commit_pending && q->tx_open && q->tx_ops > 0) {
        xd_code rc = snd_qtx_flush_locked(q, err);
        if (rc != XD_OK) {
            pthread_mutex_unlock(&q->mu);
            return rc;
        }
    }
    if (q->tx_open && sqlite3_get_autocommit(q->db))
        close_tx(q, 0); /* SQLite rolled the batch back (full disk, I/O) */
    if (!q->tx_open) {
        xd_code rc = xd_db_begin(q->db, err);
        if (rc != XD_OK) {
            pthread_mutex_unlock(&q->mu);
            return rc;
        }
        q->tx_open = 1;
        q->tx_ops = 0;
        q->gen++;
    }
    q->op_changes = sqlite3_total_changes(q->db);
    q->op_must_wait = 0;
    q->op_no_wait = 0;
    int s = exec(q, "SAVEPOINT snd_op");
    if (s != SQLITE_OK) {
        xd_code rc = xd_db_fail(q->db, s, "starting a write", err);
        if (sqlite3_get_autocommit(q->db))
            close_tx(q, 0);
        pthread_mutex_unlock(&q->mu);
        return rc;
    }
    return XD_OK;
}

xd_code snd_qtx_begin(snd_queue *q, xd_err *err)
{
    return begin_op(q, 0, err);
}

xd_code snd_qtx_begin_committed(snd_queue *q, xd_err *err)
{
    return begin_op(q, 1, err);
}

void snd_qtx_must_wait(snd_queue *q)
{
    q->op_must_wait = 1;
}

void snd_qtx_no_wait(snd_queue *q)
{
    q->op_no_wait = 1;
}

xd_code snd_qtx_end(snd_queue *q, xd_code rc, xd_err *err)
{
    int changed = sqlite3_total_changes(q->db) != q->op_changes;
    if (rc == XD_OK) {
        exec(q, "RELEASE snd_op");
    } else {
        exec(q, "ROLLBACK TO snd_op");
        exec(q, "RELEASE snd_op");
    }
    uint64_t mine = q->gen;
    if ((!changed || rc != XD_OK || q->op_no_wait) && !q->op_must_wait &&
        !sqlite3_get_autocommit(q->db)) {
        /* Nothing of ours to make durable (a claim that found no work, a
         * refused write) or nothing that must be (a claim): no wait.
         * Commit the writes so far unless a writer queued behind will. */
        if (atomic_load(&q->writers_waiting) == 0)
            close_tx(q, 1);
        pthread_mutex_unlock(&q->mu);
        return rc;
    }
    if (sqlite3_get_autocommit(q->db)) {
        /* SQLite rolled the whole transaction back (I/O error, full disk):
         * every write in it is lost, which its waiters must learn. */
        if (q->tx_open)
            close_tx(q, 0);
    } else {
        q->tx_ops++;
        if (atomic_load(&q->writers_waiting) > 0 && q->tx_ops < BATCH_MAX) {
            struct timespec ts;
            xd_monotonic_deadline(BATCH_WAIT_MS, &ts);
            while (gen_outcome(q, mine) < 0)
                if (pthread_cond_timedwait(&q->committed, &q->mu, &ts) == ETIMEDOUT)
                    break;
        }
        if (gen_outcome(q, mine) < 0)
            close_tx(q, 1); /* nobody took it over: commit now */
    }
    /* A failed commit is the storage's state (full, read-only, I/O), not
     * the request's: UNAVAILABLE, so callers retry. */
    if (rc == XD_OK && gen_outcome(q, mine) != 1)
        rc = commit_failed(q, err);
    pthread_mutex_unlock(&q->mu);
    return rc;
}
