/* tk_store_read.c: Get and List within the caller's scope. */
#include "tk_store_internal.h"
#include "xd/db.h"

xd_code tk_store_get(tk_store *s, const tk_scope *scope, int64_t id, int with_comments, xd_arena *a,
                     tk_ticket **out, xd_err *err)
{
    pthread_mutex_lock(&s->lock);
    xd_code rc = tk_load_scoped(s, scope, id, a, out, err);
    if (rc == XD_OK && with_comments)
        rc = tk_load_comments(s, *out, scope->staff, a, err);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

xd_code tk_store_list(tk_store *s, const tk_scope *scope, const tk_list_filter *f, xd_arena *a,
                      tk_ticket ***out, int *n_out, int64_t *next_before_id, xd_err *err)
{
    sqlite3_stmt *st = NULL;
    *n_out = 0;
    *next_before_id = 0;
    pthread_mutex_lock(&s->lock);
    xd_code rc =
        xd_db_prepare(s->db,
                      "SELECT " TICKET_COLS " FROM tickets t"
                      " WHERE (?1 = '' OR t.org_id = ?1) AND ((?2 >> t.status) & 1)"
                      " AND (?3 = 0 OR t.created_ms >= ?3) AND (?4 = 0 OR t.created_ms < ?4)"
                      " AND ((?5 >> t.issue_type) & 1) AND (?6 = '' OR t.recipient_domain = ?6)"
                      " AND (?7 = '' OR t.module = ?7) AND (?8 = 0 OR t.id < ?8)"
                      " ORDER BY t.id DESC LIMIT ?9",
                      &st, err);
    if (rc != XD_OK)
        goto done;
    xd_db_bind_text(st, 1, scope->org_id);
    sqlite3_bind_int64(st, 2, f->status_mask ? f->status_mask : 0xffffffffu);
    sqlite3_bind_int64(st, 3, f->from_ms);
    sqlite3_bind_int64(st, 4, f->to_ms);
    sqlite3_bind_int64(st, 5, f->issue_mask ? f->issue_mask : 0xffffffffu);
    xd_db_bind_text(st, 6, f->recipient_domain ? f->recipient_domain : "");
    xd_db_bind_text(st, 7, f->module ? f->module : "");
    sqlite3_bind_int64(st, 8, f->before_id);
    sqlite3_bind_int(st, 9, f->limit + 1); /* one more tells whether a next page exists */
    sqlite3_bind_int(st, STAFF_PARAM, scope->staff);
    tk_ticket **rows = (tk_ticket **)xd_arena_ptrs(a, (size_t)f->limit + 1);
    int n = 0, step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == f->limit) {
            *next_before_id = rows[n - 1]->id;
            break;
        }
        rows[n++] = tk_row_ticket(a, st);
    }
    if (step != SQLITE_ROW && step != SQLITE_DONE)
        rc = xd_db_fail(s->db, step, "listing tickets", err);
    *out = rows;
    *n_out = n;
done:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->lock);
    return rc;
}
