/* tk_store_group.c: tickets grouped by recipient domain, with patterns. */
#include "tk_store_internal.h"
#include "xd/db.h"

#include <string.h>

#define GROUP_FILTER                                                                               \
    " (?1 = '' OR org_id = ?1) AND ((?2 >> status) & 1)"                                           \
    " AND (?3 = 0 OR created_ms >= ?3) AND (?4 = 0 OR created_ms < ?4)"

static void bind_group_filter(sqlite3_stmt *st, const tk_scope *scope, const tk_group_filter *f)
{
    unsigned mask = f->status_mask ? f->status_mask : ~(1u << TK_STATUS_CLOSED);
    xd_db_bind_text(st, 1, scope->org_id);
    sqlite3_bind_int64(st, 2, mask);
    sqlite3_bind_int64(st, 3, f->from_ms);
    sqlite3_bind_int64(st, 4, f->to_ms);
}

/* Per-domain detail (issue and verdict counts, newest ids). Lock held. */
static xd_code group_details(tk_store *s, const tk_scope *scope, const tk_group_filter *f,
                             tk_group *g, xd_err *err)
{
    static const char *const sql[] = {
        "SELECT issue_type, COUNT(*) FROM tickets WHERE" GROUP_FILTER
        " AND recipient_domain = ?5 GROUP BY issue_type",
        "SELECT f_verdict, COUNT(*) FROM tickets WHERE" GROUP_FILTER
        " AND recipient_domain = ?5 GROUP BY f_verdict",
        "SELECT id, 0 FROM tickets WHERE" GROUP_FILTER
        " AND recipient_domain = ?5 ORDER BY id DESC LIMIT 5",
    };
    for (int q = 0; q < 3; q++) {
        sqlite3_stmt *st = NULL;
        xd_code rc = xd_db_prepare(s->db, sql[q], &st, err);
        if (rc != XD_OK)
            return rc;
        bind_group_filter(st, scope, f);
        xd_db_bind_text(st, 5, g->domain);
        int step;
        while ((step = sqlite3_step(st)) == SQLITE_ROW) {
            int64_t k = tk_col_int(st, 0), n = tk_col_int(st, 1);
            if (q == 0 && k >= 0 && k < TK_ISSUE_COUNT)
                g->issue_counts[k] = (int)n;
            else if (q == 1 && k >= 0 && k < TK_VERDICT_COUNT)
                g->verdict_counts[k] = (int)n;
            else if (q == 2 && g->n_ids < TK_GROUP_IDS)
                g->ids[g->n_ids++] = k;
        }
        sqlite3_finalize(st);
        if (step != SQLITE_DONE)
            return xd_db_fail(s->db, step, "grouping tickets", err);
    }
    return XD_OK;
}

/* The domain-specific pattern, in plain words (see proto/ticket.proto). */
static void describe_pattern(xd_arena *a, tk_group *g, int flagged, int reached_recipients)
{
    g->pattern = "";
    if (flagged > 0) {
        g->domain_pattern = 1;
        g->pattern = xd_arena_printf(
            a,
            "verify found mail to %s failing for other recipients too (%d ticket%s): a problem "
            "with the domain's servers or filters; contact its IT",
            g->domain, flagged, flagged == 1 ? "" : "s");
    } else if (reached_recipients >= 2) {
        g->domain_pattern = 1;
        g->pattern = xd_arena_printf(
            a,
            "%d different recipients at %s report problems although our mail reached the "
            "domain's servers (accepted or rejected there): likely a domain-wide filter or "
            "policy; contact %s's IT",
            reached_recipients, g->domain, g->domain);
    }
}

xd_code tk_store_group_by_domain(tk_store *s, const tk_scope *scope, const tk_group_filter *f,
                                 xd_arena *a, tk_group **out, int *n_out, xd_err *err)
{
    sqlite3_stmt *st = NULL;
    *n_out = 0;
    pthread_mutex_lock(&s->lock);
    xd_code rc = xd_db_prepare(
        s->db,
        "SELECT recipient_domain, COUNT(*), SUM(status NOT IN (5, 6)), COUNT(DISTINCT org_id),"
        " COUNT(DISTINCT lower(recipient)), MAX(created_ms), SUM(f_domain_problem),"
        " COUNT(DISTINCT CASE WHEN f_verdict IN (2, 4, 8) THEN lower(recipient) END)"
        " FROM tickets WHERE" GROUP_FILTER " GROUP BY recipient_domain HAVING COUNT(*) >= ?5"
        " ORDER BY COUNT(*) DESC, recipient_domain LIMIT ?6",
        &st, err);
    if (rc != XD_OK)
        goto done;
    bind_group_filter(st, scope, f);
    sqlite3_bind_int(st, 5, f->min_tickets);
    sqlite3_bind_int(st, 6, f->max_domains);
    tk_group *groups = xd_arena_alloc(a, sizeof(tk_group) * (size_t)f->max_domains);
    int n = 0, step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW && n < f->max_domains) {
        tk_group *g = &groups[n++];
        g->domain = tk_col_str(a, st, 0);
        g->tickets = (int)tk_col_int(st, 1);
        g->unresolved = (int)tk_col_int(st, 2);
        g->organizations = (int)tk_col_int(st, 3);
        g->recipients = (int)tk_col_int(st, 4);
        g->latest_created_ms = tk_col_int(st, 5);
        describe_pattern(a, g, (int)tk_col_int(st, 6), (int)tk_col_int(st, 7));
    }
    if (step != SQLITE_ROW && step != SQLITE_DONE)
        rc = xd_db_fail(s->db, step, "grouping tickets", err);
    sqlite3_finalize(st);
    st = NULL;
    for (int i = 0; rc == XD_OK && i < n; i++)
        rc = group_details(s, scope, f, &groups[i], err);
    *out = groups;
    *n_out = rc == XD_OK ? n : 0;
done:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->lock);
    return rc;
}
