/* tk_store_row.c: ticket rows <-> tk_ticket, and the scoped loads. */
#include "tk_store_internal.h"
#include "xd/db.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *tk_col_str(xd_arena *a, sqlite3_stmt *st, int col)
{
    return xd_arena_strdup(a, xd_db_column_text(st, col));
}

int64_t tk_col_int(sqlite3_stmt *st, int col)
{
    return sqlite3_column_int64(st, col);
}

/* Steps JSON [{"q":..,"f":..,"p":..}] into d (strings in the arena). */
static void read_steps(xd_arena *a, const char *text, tk_diagnosis *d)
{
    json_t *arr = json_loads(text, 0, NULL);
    size_t i;
    json_t *it;
    json_array_foreach(arr, i, it)
    {
        if (d->n_steps >= TK_STEPS_MAX)
            break;
        tk_step *s = &d->steps[d->n_steps++];
        s->question = xd_arena_strdup(a, json_string_value(json_object_get(it, "q")));
        s->finding = xd_arena_strdup(a, json_string_value(json_object_get(it, "f")));
        s->problem = json_is_true(json_object_get(it, "p"));
    }
    json_decref(arr);
}

static void read_next(xd_arena *a, const char *text, tk_diagnosis *d)
{
    json_t *arr = json_loads(text, 0, NULL);
    size_t i;
    json_t *it;
    json_array_foreach(arr, i, it)
    {
        if (d->n_next >= TK_NEXT_MAX)
            break;
        d->next_steps[d->n_next++] = xd_arena_strdup(a, json_string_value(it));
    }
    json_decref(arr);
}

/* Length of s cut to at most TK_FINDING_MAX bytes on a UTF-8 boundary
 * (verify's texts are not ours to store unbounded). */
static size_t bounded_len(const char *s)
{
    size_t n = strlen(s);
    if (n <= TK_FINDING_MAX)
        return n;
    n = TK_FINDING_MAX;
    while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
        n--;
    return n;
}

static json_t *bounded_string(const char *s)
{
    s = s ? s : "";
    json_t *j = json_stringn(s, bounded_len(s));
    return j ? j : json_string("");
}

static char *steps_json(const tk_diagnosis *d)
{
    json_t *arr = json_array();
    for (int i = 0; i < d->n_steps && i < TK_STEPS_MAX; i++) {
        json_t *o = json_object();
        json_object_set_new(o, "q", bounded_string(d->steps[i].question));
        json_object_set_new(o, "f", bounded_string(d->steps[i].finding));
        json_object_set_new(o, "p", json_boolean(d->steps[i].problem));
        json_array_append_new(arr, o);
    }
    char *text = json_dumps(arr, JSON_COMPACT);
    json_decref(arr);
    return text;
}

static char *next_json(const tk_diagnosis *d)
{
    json_t *arr = json_array();
    for (int i = 0; i < d->n_next && i < TK_NEXT_MAX; i++)
        json_array_append_new(arr, bounded_string(d->next_steps[i]));
    char *text = json_dumps(arr, JSON_COMPACT);
    json_decref(arr);
    return text;
}

/* Text bound to a statement, at most TK_FINDING_MAX bytes (copied). */
static void bind_bounded(sqlite3_stmt *st, int idx, const char *s)
{
    s = s ? s : "";
    sqlite3_bind_text(st, idx, s, (int)bounded_len(s), SQLITE_TRANSIENT);
}

/* Binds f to ?2..?25 of FINDINGS_SET. The JSON texts are freed by SQLite. */
void tk_bind_findings(sqlite3_stmt *st, const tk_findings *f)
{
    const tk_diagnosis *d = &f->d;
    sqlite3_bind_int(st, 2, f->state);
    sqlite3_bind_int(st, 3, d->verdict);
    bind_bounded(st, 4, d->summary);
    sqlite3_bind_int(st, 5, d->record_found);
    sqlite3_bind_int(st, 6, d->record_state);
    sqlite3_bind_int(st, 7, d->reply_code);
    bind_bounded(st, 8, d->reply_enhanced);
    bind_bounded(st, 9, d->reply_text);
    bind_bounded(st, 10, d->remote_host);
    sqlite3_bind_int64(st, 11, d->delivered_ms);
    sqlite3_bind_int64(st, 12, d->bounced_ms);
    sqlite3_bind_int64(st, 13, d->suppressed_ms);
    sqlite3_bind_int(st, 14, d->failure_category);
    sqlite3_bind_int(st, 15, f->suppressed);
    sqlite3_bind_int(st, 16, f->domain_problem);
    bind_bounded(st, 17, d->case_note);
    sqlite3_bind_text(st, 18, steps_json(d), -1, free);
    sqlite3_bind_text(st, 19, next_json(d), -1, free);
    sqlite3_bind_int(st, 20, f->action);
    bind_bounded(st, 21, f->next_step);
    sqlite3_bind_int64(st, 22, f->checked_ms);
    sqlite3_bind_int(st, 23, f->attempts);
    bind_bounded(st, 24, f->last_error);
    sqlite3_bind_int64(st, 25, f->next_check_ms);
}

/* One row of TICKET_COLS into a new ticket in the arena. */
tk_ticket *tk_row_ticket(xd_arena *a, sqlite3_stmt *st)
{
    tk_ticket *t = xd_arena_alloc(a, sizeof(*t));
    t->id = tk_col_int(st, 0);
    t->org_id = tk_col_str(a, st, 1);
    t->status = (tk_status)tk_col_int(st, 2);
    t->status_changes = (int)tk_col_int(st, 3);
    t->issue_type = (tk_issue)tk_col_int(st, 4);
    t->occurred_at = tk_col_str(a, st, 5);
    t->occurred_ms = tk_col_int(st, 6);
    t->recipient = tk_col_str(a, st, 7);
    t->recipient_domain = tk_col_str(a, st, 8);
    t->module = tk_col_str(a, st, 9);
    t->other_domain_tried = (tk_other_domain)tk_col_int(st, 10);
    t->other_domain = tk_col_str(a, st, 11);
    t->description = tk_col_str(a, st, 12);
    t->additional_info = tk_col_str(a, st, 13);
    t->reporter = tk_col_str(a, st, 14);
    t->message_id = tk_col_str(a, st, 15);
    t->assignee = tk_col_str(a, st, 16);
    t->created_ms = tk_col_int(st, 17);
    t->updated_ms = tk_col_int(st, 18);
    t->resolved_ms = tk_col_int(st, 19);
    t->closed_ms = tk_col_int(st, 20);
    tk_findings *f = &t->findings;
    tk_diagnosis *d = &f->d;
    f->state = (tk_findings_state)tk_col_int(st, 21);
    d->verdict = (tk_verdict)tk_col_int(st, 22);
    d->summary = tk_col_str(a, st, 23);
    d->record_found = (int)tk_col_int(st, 24);
    d->record_state = (int)tk_col_int(st, 25);
    d->reply_code = (int)tk_col_int(st, 26);
    d->reply_enhanced = tk_col_str(a, st, 27);
    d->reply_text = tk_col_str(a, st, 28);
    d->remote_host = tk_col_str(a, st, 29);
    d->delivered_ms = tk_col_int(st, 30);
    d->bounced_ms = tk_col_int(st, 31);
    d->suppressed_ms = tk_col_int(st, 32);
    d->failure_category = (int)tk_col_int(st, 33);
    f->suppressed = (int)tk_col_int(st, 34);
    f->domain_problem = (int)tk_col_int(st, 35);
    d->case_note = tk_col_str(a, st, 36);
    read_steps(a, xd_db_column_text(st, 37), d);
    read_next(a, xd_db_column_text(st, 38), d);
    f->action = (tk_action)tk_col_int(st, 39);
    f->next_step = tk_col_str(a, st, 40);
    f->checked_ms = tk_col_int(st, 41);
    f->attempts = (int)tk_col_int(st, 42);
    f->last_error = tk_col_str(a, st, 43);
    f->next_check_ms = tk_col_int(st, 44);
    t->comment_count = (int)tk_col_int(st, 45);
    return t;
}

/* Reads ticket id (any org); *out NULL when missing. Lock held. */
xd_code tk_load_ticket(tk_store *s, int64_t id, int staff, xd_arena *a, tk_ticket **out,
                       xd_err *err)
{
    sqlite3_stmt *st = NULL;
    xd_code rc =
        xd_db_prepare(s->db, "SELECT " TICKET_COLS " FROM tickets t WHERE t.id = ?1", &st, err);
    if (rc != XD_OK)
        return rc;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int(st, STAFF_PARAM, staff);
    *out = NULL;
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW)
        *out = tk_row_ticket(a, st);
    else if (step != SQLITE_DONE)
        rc = xd_db_fail(s->db, step, "reading a ticket", err);
    sqlite3_finalize(st);
    return rc;
}

/* Visible comments of ticket id, oldest first. Lock held. */
xd_code tk_load_comments(tk_store *s, tk_ticket *t, int staff, xd_arena *a, xd_err *err)
{
    sqlite3_stmt *st = NULL;
    xd_code rc = xd_db_prepare(s->db,
                               "SELECT seq, author, body, internal, created_ms FROM comments "
                               "WHERE ticket_id = ?1 AND (internal = 0 OR ?2) ORDER BY seq",
                               &st, err);
    if (rc != XD_OK)
        return rc;
    sqlite3_bind_int64(st, 1, t->id);
    sqlite3_bind_int(st, 2, staff);
    t->comments = xd_arena_alloc(a, sizeof(tk_comment) * (size_t)(t->comment_count + 1));
    t->n_comments = 0;
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW && t->n_comments < t->comment_count) {
        tk_comment *c = &t->comments[t->n_comments++];
        c->seq = tk_col_int(st, 0);
        c->author = tk_col_str(a, st, 1);
        c->body = tk_col_str(a, st, 2);
        c->internal = (int)tk_col_int(st, 3);
        c->created_ms = tk_col_int(st, 4);
    }
    if (step != SQLITE_ROW && step != SQLITE_DONE)
        rc = xd_db_fail(s->db, step, "reading comments", err);
    sqlite3_finalize(st);
    return rc;
}

/* Ticket id if the scope may see it, else NOT_FOUND. Lock held. */
xd_code tk_load_scoped(tk_store *s, const tk_scope *scope, int64_t id, xd_arena *a, tk_ticket **out,
                       xd_err *err)
{
    xd_code rc = tk_load_ticket(s, id, scope->staff, a, out, err);
    if (rc != XD_OK)
        return rc;
    if (!*out || !tk_scope_allows(scope, (*out)->org_id)) {
        char name[24];
        tk_format_id(id, name, sizeof(name));
        *out = NULL;
        return xd_err_field(err, XD_NOT_FOUND, "ticket_id",
                            "ticket %s not found (check the id; tickets of other organizations "
                            "are not visible)",
                            name);
    }
    return XD_OK;
}
