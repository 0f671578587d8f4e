/* tk_store_check.c: the re-check's reads and writes of pending findings. */
#include "tk_store_internal.h"
#include "xd/db.h"

xd_code tk_store_due_checks(tk_store *s, int64_t now_ms, int limit, xd_arena *a, tk_ticket ***out,
                            int *n_out, xd_err *err)
{
    sqlite3_stmt *st = NULL;
    *n_out = 0;
    pthread_mutex_lock(&s->lock);
    xd_code rc = xd_db_prepare(s->db,
                               "SELECT " TICKET_COLS " FROM tickets t WHERE t.f_state = 1"
                               " AND t.f_next_check_ms <= ?1 ORDER BY t.f_next_check_ms, t.id"
                               " LIMIT ?2",
                               &st, err);
    if (rc == XD_OK) {
        sqlite3_bind_int64(st, 1, now_ms);
        sqlite3_bind_int(st, 2, limit);
        sqlite3_bind_int(st, STAFF_PARAM, 1);
        tk_ticket **rows = (tk_ticket **)xd_arena_ptrs(a, (size_t)limit);
        int n = 0, step;
        while (n < limit && (step = sqlite3_step(st)) == SQLITE_ROW)
            rows[n++] = tk_row_ticket(a, st);
        if (n < limit && step != SQLITE_DONE)
            rc = xd_db_fail(s->db, step, "finding due checks", err);
        *out = rows;
        *n_out = n;
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static xd_code exec_bound(tk_store *s, const char *sql, int64_t id, int64_t a2, int64_t a3,
                          const char *what, xd_err *err)
{
    sqlite3_stmt *st = NULL;
    xd_code rc = xd_db_prepare(s->db, sql, &st, err);
    if (rc != XD_OK)
        return rc;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, a2);
    sqlite3_bind_int64(st, 3, a3);
    int step = sqlite3_step(st);
    if (step != SQLITE_DONE)
        rc = xd_db_fail(s->db, step, what, err);
    sqlite3_finalize(st);
    return rc;
}

xd_code tk_store_record_check(tk_store *s, int64_t id, const tk_findings *f, tk_status first_status,
                              const char *note, xd_err *err)
{
    int64_t now = xd_clock_now_ms(s->clock);
    sqlite3_stmt *st = NULL;
    pthread_mutex_lock(&s->lock);
    xd_code rc = xd_db_begin(s->db, err);
    if (rc != XD_OK)
        goto unlock;
    /* Only a still-pending ticket takes the result (two checkers may race). */
    rc = xd_db_prepare(s->db,
                       "UPDATE tickets SET " FINDINGS_SET " WHERE id = ?1 AND f_state = 1"
                       " RETURNING status, status_changes",
                       &st, err);
    if (rc != XD_OK)
        goto rollback;
    sqlite3_bind_int64(st, 1, id);
    tk_bind_findings(st, f);
    int step = sqlite3_step(st);
    int found = step == SQLITE_ROW;
    int status = found ? (int)tk_col_int(st, 0) : 0, changes = found ? (int)tk_col_int(st, 1) : 0;
    while (step == SQLITE_ROW)
        step = sqlite3_step(st);
    sqlite3_finalize(st);
    if (step != SQLITE_DONE) {
        rc = xd_db_fail(s->db, step, "recording the check", err);
        goto rollback;
    }
    if (found && f->state != TK_FINDINGS_PENDING) {
        if (status == TK_STATUS_OPEN && changes == 0 && first_status != TK_STATUS_OPEN)
            rc = exec_bound(s,
                            "UPDATE tickets SET status = ?2, updated_ms = ?3,"
                            " resolved_ms = CASE WHEN ?2 = 5 THEN ?3 ELSE resolved_ms END"
                            " WHERE id = ?1",
                            id, first_status, now, "applying the first status", err);
        int64_t seq = 0;
        int created = 0;
        if (rc == XD_OK && note && *note)
            rc = tk_insert_comment(s, id, "intake", note, 0, NULL, now, &seq, &created, err);
    }
    if (rc != XD_OK)
        goto rollback;
    rc = xd_db_commit(s->db, err);
    goto unlock;
rollback:
    xd_db_rollback(s->db);
unlock:
    pthread_mutex_unlock(&s->lock);
    return rc;
}
