/*
 * queue_stmt.c: the queue's prepared-statement cache (see queue_internal.h).
 * Parsing SQL was a fifth of the sender's CPU per message: each statement
 * is now prepared once per connection and reset for reuse. Keyed by the
 * SQL text (some is built at run time); a statement already in use (nested)
 * gets a fresh one that is finalized when done.
 */
#include <string.h>

#include "queue_internal.h"
#include "xd/db.h"

xd_code snd_q_prepare(snd_queue *q, const char *sql, sqlite3_stmt **out, xd_err *err)
{
    int free_slot = -1;
    for (int i = 0; i < SND_Q_STMTS; i++) {
        sqlite3_stmt *st = q->stmts[i].st;
        if (!st) {
            if (free_slot < 0)
                free_slot = i;
            continue;
        }
        if (!q->stmts[i].in_use && strcmp(sqlite3_sql(st), sql) == 0) {
            sqlite3_reset(st);
            sqlite3_clear_bindings(st);
            q->stmts[i].in_use = 1;
            *out = st;
            return XD_OK;
        }
    }
    xd_code rc = xd_db_prepare(q->db, sql, out, err);
    if (rc == XD_OK && free_slot >= 0) {
        q->stmts[free_slot].st = *out;
        q->stmts[free_slot].in_use = 1;
    }
    return rc;
}

void snd_q_done(snd_queue *q, sqlite3_stmt *st)
{
    if (!st)
        return;
    for (int i = 0; i < SND_Q_STMTS; i++) {
        if (q->stmts[i].st == st) {
            sqlite3_reset(st);
            q->stmts[i].in_use = 0;
            return;
        }
    }
    sqlite3_finalize(st);
}

void snd_q_stmts_free(snd_queue *q)
{
    for (int i = 0; i < SND_Q_STMTS; i++) {
        sqlite3_finalize(q->stmts[i].st);
        q->stmts[i].st = NULL;
        q->stmts[i].in_use = 0;
    }
}
