/* queue_stats.c: QueueStats on the queue (see queue_stats.h). */
#include "queue_stats.h"

#include <string.h>

#include "queue_internal.h"
#include "xd/db.h"

/* Runs sql (optionally bound to org) and adds (state, n) rows to counts
 * (state -1, the outbox, to *one), or reads one integer into *one when
 * counts is NULL. Lock held. */
static xd_code query(snd_queue *q, const char *sql, const char *org, int64_t counts[16],
                     int64_t *one, xd_err *err)
{
    sqlite3_stmt *st = NULL;
    xd_code rc = xd_db_prepare(q->db, sql, &st, err);
    if (rc != XD_OK)
        return rc;
    if (org)
        xd_db_bind_text(st, 1, org);
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        if (!counts) {
            *one = sqlite3_column_int64(st, 0);
            continue;
        }
        int state = sqlite3_column_int(st, 0);
        if (state == -1)
            *one = sqlite3_column_int64(st, 1);
        else if (state >= 0 && state < 16)
            counts[state] += sqlite3_column_int64(st, 1);
    }
    sqlite3_finalize(st);
    return s == SQLITE_DONE ? XD_OK : xd_db_fail(q->db, s, "reading queue statistics", err);
}

xd_code snd_queue_stats_read(snd_queue *q, const char *org_id, snd_queue_stats *out, xd_err *err)
{
    memset(out, 0, sizeof *out);
    const char *org = org_id && org_id[0] ? org_id : NULL;
    pthread_mutex_lock(&q->mu);
    /* One read transaction, so the figures describe the same moment. A
     * savepoint nests in a transaction the queue may hold open. */
    xd_code rc = xd_db_exec(q->db, "SAVEPOINT queue_stats", err);
    if (rc != XD_OK) {
        pthread_mutex_unlock(&q->mu);
        return rc;
    }
    rc = query(q,
               org ? "SELECT state, n FROM queue_counts WHERE org_id = ?1"
                   : "SELECT state, sum(n) FROM queue_counts GROUP BY state",
               org, out->counts, &out->outbox_pending, err);
    if (rc == XD_OK)
        rc = query(q,
                   org ? "SELECT coalesce(min(born_ms), 0) FROM recipients "
                         "INDEXED BY recipients_waiting_age_by_org "
                         "WHERE org_id = ?1 AND state IN (1, 2)"
                       : "SELECT coalesce(min(born_ms), 0) FROM recipients "
                         "INDEXED BY recipients_waiting_age WHERE state IN (1, 2)",
                   org, NULL, &out->oldest_waiting_ms, err);
    xd_db_exec(q->db, "RELEASE queue_stats", NULL);
    pthread_mutex_unlock(&q->mu);
    return rc;
}
