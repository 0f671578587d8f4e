/* tk_store.c: tickets and comments in SQLite (see tk_store.h). */
#include "tk_store.h"
#include "tk_workflow.h"
#include "xd/db.h"
#include "xd/log.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tk_store {
    sqlite3 *db;
    const xd_clock *clock;
    pthread_mutex_t lock;
};

static const char *const migrations[] = {
    /* 0 -> 1: tickets with their findings, and comments. */
    "CREATE TABLE tickets ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " org_id TEXT NOT NULL,"
    " idem_key TEXT NOT NULL,"
    " fingerprint TEXT NOT NULL,"
    " status INTEGER NOT NULL,"
    " status_changes INTEGER NOT NULL DEFAULT 0,"
    " issue_type INTEGER NOT NULL,"
    " occurred_at TEXT NOT NULL,"
    " occurred_ms INTEGER NOT NULL,"
    " recipient TEXT NOT NULL,"
    " recipient_domain TEXT NOT NULL,"
    " module TEXT NOT NULL,"
    " other_domain_tried INTEGER NOT NULL,"
    " other_domain TEXT NOT NULL,"
    " description TEXT NOT NULL,"
    " additional_info TEXT NOT NULL,"
    " reporter TEXT NOT NULL,"
    " message_id TEXT NOT NULL,"
    " assignee TEXT NOT NULL DEFAULT '',"
    " created_ms INTEGER NOT NULL,"
    " updated_ms INTEGER NOT NULL,"
    " resolved_ms INTEGER NOT NULL DEFAULT 0,"
    " closed_ms INTEGER NOT NULL DEFAULT 0,"
    " f_state INTEGER NOT NULL,"
    " f_verdict INTEGER NOT NULL DEFAULT 0,"
    " f_summary TEXT NOT NULL DEFAULT '',"
    " f_record_found INTEGER NOT NULL DEFAULT 0,"
    " f_record_state INTEGER NOT NULL DEFAULT 0,"
    " f_reply_code INTEGER NOT NULL DEFAULT 0,"
    " f_reply_enhanced TEXT NOT NULL DEFAULT '',"
    " f_reply_text TEXT NOT NULL DEFAULT '',"
    " f_remote_host TEXT NOT NULL DEFAULT '',"
    " f_delivered_ms INTEGER NOT NULL DEFAULT 0,"
    " f_bounced_ms INTEGER NOT NULL DEFAULT 0,"
    " f_suppressed_ms INTEGER NOT NULL DEFAULT 0,"
    " f_failure_category INTEGER NOT NULL DEFAULT 0,"
    " f_suppressed INTEGER NOT NULL DEFAULT 0,"
    " f_domain_problem INTEGER NOT NULL DEFAULT 0,"
    " f_case_note TEXT NOT NULL DEFAULT '',"
    " f_steps TEXT NOT NULL DEFAULT '[]',"
    " f_verify_next TEXT NOT NULL DEFAULT '[]',"
    " f_action INTEGER NOT NULL DEFAULT 0,"
    " f_next_step TEXT NOT NULL DEFAULT '',"
    " f_checked_ms INTEGER NOT NULL DEFAULT 0,"
    " f_attempts INTEGER NOT NULL DEFAULT 0,"
    " f_last_error TEXT NOT NULL DEFAULT '',"
    " f_next_check_ms INTEGER NOT NULL DEFAULT 0,"
    " UNIQUE (org_id, idem_key));"
    "CREATE INDEX tickets_org ON tickets (org_id, id);"
    "CREATE INDEX tickets_domain ON tickets (recipient_domain, id);"
    "CREATE INDEX tickets_due ON tickets (f_state, f_next_check_ms);"
    "CREATE TABLE comments ("
    " ticket_id INTEGER NOT NULL REFERENCES tickets (id),"
    " seq INTEGER NOT NULL,"
    " author TEXT NOT NULL,"
    " body TEXT NOT NULL,"
    " internal INTEGER NOT NULL,"
    " created_ms INTEGER NOT NULL,"
    " idem_key TEXT,"
    " PRIMARY KEY (ticket_id, seq),"
    " UNIQUE (ticket_id, idem_key));",
};

/* Ticket columns in the order read_ticket() expects; ?20 = caller is staff. */
#define TICKET_COLS                                                                                \
    "t.id, t.org_id, t.status, t.status_changes, t.issue_type, t.occurred_at, t.occurred_ms,"      \
    " t.recipient, t.recipient_domain, t.module, t.other_domain_tried, t.other_domain,"            \
    " t.description, t.additional_info, t.reporter, t.message_id, t.assignee, t.created_ms,"       \
    " t.updated_ms, t.resolved_ms, t.closed_ms, t.f_state, t.f_verdict, t.f_summary,"              \
    " t.f_record_found, t.f_record_state, t.f_reply_code, t.f_reply_enhanced, t.f_reply_text,"     \
    " t.f_remote_host, t.f_delivered_ms, t.f_bounced_ms, t.f_suppressed_ms,"                       \
    " t.f_failure_category, t.f_suppressed, t.f_domain_problem, t.f_case_note, t.f_steps,"         \
    " t.f_verify_next, t.f_action, t.f_next_step, t.f_checked_ms, t.f_attempts, t.f_last_error,"   \
    " t.f_next_check_ms,"                                                                          \
    " (SELECT COUNT(*) FROM comments c WHERE c.ticket_id = t.id AND (c.internal = 0 OR ?20))"

#define STAFF_PARAM 20

/* Columns set from a tk_findings, parameters ?2..?24 (see bind_findings). */
#define FINDINGS_SET                                                                               \
    "f_state = ?2, f_verdict = ?3, f_summary = ?4, f_record_found = ?5, f_record_state = ?6,"      \
    " f_reply_code = ?7, f_reply_enhanced = ?8, f_reply_text = ?9, f_remote_host = ?10,"           \
    " f_delivered_ms = ?11, f_bounced_ms = ?12, f_suppressed_ms = ?13,"                            \
    " f_failure_category = ?14, f_suppressed = ?15, f_domain_problem = ?16, f_case_note = ?17,"    \
    " f_steps = ?18, f_verify_next = ?19, f_action = ?20, f_next_step = ?21, f_checked_ms = ?22,"  \
    " f_attempts = ?23, f_last_error = ?24, f_next_check_ms = ?25"

xd_code tk_store_open(const char *path, const xd_clock *clock, tk_store **out, xd_err *err)
{
    tk_store *s = calloc(1, sizeof(*s));
    if (!s)
        return xd_err_set(err, XD_INTERNAL, "out of memory");
    xd_code rc = xd_db_open(path, migrations, (int)(sizeof(migrations) / sizeof(migrations[0])),
                            NULL, &s->db, err);
    if (rc != XD_OK) {
        free(s);
        return rc;
    }
    s->clock = clock;
    pthread_mutex_init(&s->lock, NULL);
    *out = s;
    return XD_OK;
}

void tk_store_close(tk_store *store)
{
    if (!store)
        return;
    xd_db_close(store->db);
    pthread_mutex_destroy(&store->lock);
    free(store);
}

/* ------------------------------------------------------------ helpers */

static char *col_str(xd_arena *a, sqlite3_stmt *st, int col)
{
    return xd_arena_strdup(a, xd_db_column_text(st, col));
}

static int64_t col_int(sqlite3_stmt *st, int col)
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
static void bind_findings(sqlite3_stmt *st, const tk_findings *f)
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
static tk_ticket *read_ticket(xd_arena *a, sqlite3_stmt *st)
{
    tk_ticket *t = xd_arena_alloc(a, sizeof(*t));
    t->id = col_int(st, 0);
    t->org_id = col_str(a, st, 1);
    t->status = (tk_status)col_int(st, 2);
    t->status_changes = (int)col_int(st, 3);
    t->issue_type = (tk_issue)col_int(st, 4);
    t->occurred_at = col_str(a, st, 5);
    t->occurred_ms = col_int(st, 6);
    t->recipient = col_str(a, st, 7);
    t->recipient_domain = col_str(a, st, 8);
    t->module = col_str(a, st, 9);
    t->other_domain_tried = (tk_other_domain)col_int(st, 10);
    t->other_domain = col_str(a, st, 11);
    t->description = col_str(a, st, 12);
    t->additional_info = col_str(a, st, 13);
    t->reporter = col_str(a, st, 14);
    t->message_id = col_str(a, st, 15);
    t->assignee = col_str(a, st, 16);
    t->created_ms = col_int(st, 17);
    t->updated_ms = col_int(st, 18);
    t->resolved_ms = col_int(st, 19);
    t->closed_ms = col_int(st, 20);
    tk_findings *f = &t->findings;
    tk_diagnosis *d = &f->d;
    f->state = (tk_findings_state)col_int(st, 21);
    d->verdict = (tk_verdict)col_int(st, 22);
    d->summary = col_str(a, st, 23);
    d->record_found = (int)col_int(st, 24);
    d->record_state = (int)col_int(st, 25);
    d->reply_code = (int)col_int(st, 26);
    d->reply_enhanced = col_str(a, st, 27);
    d->reply_text = col_str(a, st, 28);
    d->remote_host = col_str(a, st, 29);
    d->delivered_ms = col_int(st, 30);
    d->bounced_ms = col_int(st, 31);
    d->suppressed_ms = col_int(st, 32);
    d->failure_category = (int)col_int(st, 33);
    f->suppressed = (int)col_int(st, 34);
    f->domain_problem = (int)col_int(st, 35);
    d->case_note = col_str(a, st, 36);
    read_steps(a, xd_db_column_text(st, 37), d);
    read_next(a, xd_db_column_text(st, 38), d);
    f->action = (tk_action)col_int(st, 39);
    f->next_step = col_str(a, st, 40);
    f->checked_ms = col_int(st, 41);
    f->attempts = (int)col_int(st, 42);
    f->last_error = col_str(a, st, 43);
    f->next_check_ms = col_int(st, 44);
    t->comment_count = (int)col_int(st, 45);
    return t;
}

static void label(int64_t id, char *out, unsigned size)
{
    tk_format_id(id, out, size);
}

/* Reads ticket id (any org); *out NULL when missing. Lock held. */
static xd_code load_ticket(tk_store *s, int64_t id, int staff, xd_arena *a, tk_ticket **out,
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
        *out = read_ticket(a, st);
    else if (step != SQLITE_DONE)
        rc = xd_db_fail(s->db, step, "reading a ticket", err);
    sqlite3_finalize(st);
    return rc;
}

/* Visible comments of ticket id, oldest first. Lock held. */
static xd_code load_comments(tk_store *s, tk_ticket *t, int staff, xd_arena *a, xd_err *err)
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
        c->seq = col_int(st, 0);
        c->author = col_str(a, st, 1);
        c->body = col_str(a, st, 2);
        c->internal = (int)col_int(st, 3);
        c->created_ms = col_int(st, 4);
    }
    if (step != SQLITE_ROW && step != SQLITE_DONE)
        rc = xd_db_fail(s->db, step, "reading comments", err);
    sqlite3_finalize(st);
    return rc;
}

/* Ticket id if the scope may see it, else NOT_FOUND. Lock held. */
static xd_code load_scoped(tk_store *s, const tk_scope *scope, int64_t id, xd_arena *a,
                           tk_ticket **out, xd_err *err)
{
    xd_code rc = load_ticket(s, id, scope->staff, a, out, err);
    if (rc != XD_OK)
        return rc;
    if (!*out || !tk_scope_allows(scope, (*out)->org_id)) {
        char name[24];
        label(id, name, sizeof(name));
        *out = NULL;
        return xd_err_field(err, XD_NOT_FOUND, "ticket_id",
                            "ticket %s not found (check the id; tickets of other organizations "
                            "are not visible)",
                            name);
    }
    return XD_OK;
}

/* ------------------------------------------------------------- create */

/* Ticket id of (org, key) and whether its fingerprint matches. Lock held. */
static xd_code find_key(tk_store *s, const char *org, const char *key, const char *fingerprint,
                        int64_t *id_out, xd_err *err)
{
    sqlite3_stmt *st = NULL;
    xd_code rc = xd_db_prepare(
        s->db, "SELECT id, fingerprint FROM tickets WHERE org_id = ?1 AND idem_key = ?2", &st, err);
    if (rc != XD_OK)
        return rc;
    xd_db_bind_text(st, 1, org);
    xd_db_bind_text(st, 2, key);
    *id_out = 0;
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
        *id_out = col_int(st, 0);
        if (strcmp(xd_db_column_text(st, 1), fingerprint) != 0) {
            char name[24];
            label(*id_out, name, sizeof(name));
            rc = xd_err_field(err, XD_ALREADY_EXISTS, "idempotency_key",
                              "idempotency key already used for ticket %s with different "
                              "details: use a new key for a new ticket",
                              name);
        }
    } else if (step != SQLITE_DONE) {
        rc = xd_db_fail(s->db, step, "looking up the idempotency key", err);
    }
    sqlite3_finalize(st);
    return rc;
}

xd_code tk_store_find_repeat(tk_store *s, const char *org_id, const char *idem_key,
                             const char *fingerprint, int staff, xd_arena *a, tk_ticket **out,
                             xd_err *err)
{
    pthread_mutex_lock(&s->lock);
    int64_t id = 0;
    *out = NULL;
    xd_code rc = find_key(s, org_id, idem_key, fingerprint, &id, err);
    if (rc == XD_OK && id)
        rc = load_ticket(s, id, staff, a, out, err);
    if (rc == XD_OK && *out)
        rc = load_comments(s, *out, staff, a, err);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static xd_code insert_ticket(tk_store *s, const tk_ticket *t, const char *key,
                             const char *fingerprint, int64_t now, int64_t *id_out, xd_err *err)
{
    sqlite3_stmt *st = NULL;
    xd_code rc = xd_db_prepare(
        s->db,
        "INSERT INTO tickets (org_id, idem_key, fingerprint, status, issue_type, occurred_at,"
        " occurred_ms, recipient, recipient_domain, module, other_domain_tried, other_domain,"
        " description, additional_info, reporter, message_id, created_ms, updated_ms,"
        " resolved_ms, f_state)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,"
        " ?17, ?18, ?19)",
        &st, err);
    if (rc != XD_OK)
        return rc;
    xd_db_bind_text(st, 1, t->org_id);
    xd_db_bind_text(st, 2, key);
    xd_db_bind_text(st, 3, fingerprint);
    sqlite3_bind_int(st, 4, t->status);
    sqlite3_bind_int(st, 5, t->issue_type);
    xd_db_bind_text(st, 6, t->occurred_at);
    sqlite3_bind_int64(st, 7, t->occurred_ms);
    xd_db_bind_text(st, 8, t->recipient);
    xd_db_bind_text(st, 9, t->recipient_domain);
    xd_db_bind_text(st, 10, t->module);
    sqlite3_bind_int(st, 11, t->other_domain_tried);
    xd_db_bind_text(st, 12, t->other_domain ? t->other_domain : "");
    xd_db_bind_text(st, 13, t->description);
    xd_db_bind_text(st, 14, t->additional_info ? t->additional_info : "");
    xd_db_bind_text(st, 15, t->reporter);
    xd_db_bind_text(st, 16, t->message_id ? t->message_id : "");
    sqlite3_bind_int64(st, 17, now);
    sqlite3_bind_int64(st, 18, t->status == TK_STATUS_RESOLVED ? now : 0);
    sqlite3_bind_int(st, 19, t->findings.state);
    int step = sqlite3_step(st);
    if (step != SQLITE_DONE)
        rc = xd_db_fail(s->db, step, "storing the ticket", err);
    sqlite3_finalize(st);
    if (rc != XD_OK)
        return rc;
    *id_out = sqlite3_last_insert_rowid(s->db);

    rc = xd_db_prepare(s->db, "UPDATE tickets SET " FINDINGS_SET " WHERE id = ?1", &st, err);
    if (rc != XD_OK)
        return rc;
    sqlite3_bind_int64(st, 1, *id_out);
    bind_findings(st, &t->findings);
    step = sqlite3_step(st);
    if (step != SQLITE_DONE)
        rc = xd_db_fail(s->db, step, "storing the findings", err);
    sqlite3_finalize(st);
    return rc;
}

xd_code tk_store_create(tk_store *s, const tk_ticket *t, const char *key, const char *fingerprint,
                        xd_arena *a, tk_ticket **out, int *created, xd_err *err)
{
    int64_t now = xd_clock_now_ms(s->clock);
    int64_t id = 0;
    *created = 0;
    pthread_mutex_lock(&s->lock);
    xd_code rc = xd_db_begin(s->db, err);
    if (rc == XD_OK)
        rc = find_key(s, t->org_id, key, fingerprint, &id, err);
    if (rc == XD_OK && !id) {
        rc = insert_ticket(s, t, key, fingerprint, now, &id, err);
        *created = rc == XD_OK;
    }
    if (rc == XD_OK)
        rc = xd_db_commit(s->db, err);
    else
        xd_db_rollback(s->db);
    /* Staff view: the creator sees what it filed, internal notes excepted. */
    if (rc == XD_OK)
        rc = load_ticket(s, id, 0, a, out, err);
    if (rc == XD_OK && *out)
        rc = load_comments(s, *out, 0, a, err);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

/* ---------------------------------------------------------------- get */

xd_code tk_store_get(tk_store *s, const tk_scope *scope, int64_t id, int with_comments, xd_arena *a,
                     tk_ticket **out, xd_err *err)
{
    pthread_mutex_lock(&s->lock);
    xd_code rc = load_scoped(s, scope, id, a, out, err);
    if (rc == XD_OK && with_comments)
        rc = load_comments(s, *out, scope->staff, a, err);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

/* --------------------------------------------------------------- list */

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
        rows[n++] = read_ticket(a, st);
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

/* ------------------------------------------------------------- update */

/* Inserts a comment (seq = next) unless key already exists; lock held,
 * inside a transaction. *seq_out = its seq, *created = 0 for a repeat. */
static xd_code insert_comment(tk_store *s, int64_t ticket_id, const char *author, const char *body,
                              int internal, const char *key, int64_t now, int64_t *seq_out,
                              int *created, xd_err *err)
{
    sqlite3_stmt *st = NULL;
    xd_code rc;
    *created = 0;
    if (key && *key) {
        rc = xd_db_prepare(s->db, "SELECT seq FROM comments WHERE ticket_id = ?1 AND idem_key = ?2",
                           &st, err);
        if (rc != XD_OK)
            return rc;
        sqlite3_bind_int64(st, 1, ticket_id);
        xd_db_bind_text(st, 2, key);
        int step = sqlite3_step(st);
        *seq_out = step == SQLITE_ROW ? col_int(st, 0) : 0;
        sqlite3_finalize(st);
        if (step != SQLITE_ROW && step != SQLITE_DONE)
            return xd_db_fail(s->db, step, "looking up the comment key", err);
        if (*seq_out)
            return XD_OK;
    }
    /* Bounded, so a ticket (and its Get reply) stays a readable size. */
    rc = xd_db_prepare(s->db, "SELECT COUNT(*) FROM comments WHERE ticket_id = ?1", &st, err);
    if (rc != XD_OK)
        return rc;
    sqlite3_bind_int64(st, 1, ticket_id);
    int64_t count = sqlite3_step(st) == SQLITE_ROW ? col_int(st, 0) : 0;
    sqlite3_finalize(st);
    if (count >= TK_COMMENTS_MAX)
        return xd_err_set(err, XD_RESOURCE_EXHAUSTED,
                          "this ticket already has %d comments, the most one ticket keeps: file "
                          "a new ticket that refers to it",
                          TK_COMMENTS_MAX);
    rc = xd_db_prepare(s->db,
                       "INSERT INTO comments (ticket_id, seq, author, body, internal, created_ms,"
                       " idem_key) VALUES (?1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM comments"
                       " WHERE ticket_id = ?1), ?2, ?3, ?4, ?5, ?6) RETURNING seq",
                       &st, err);
    if (rc != XD_OK)
        return rc;
    sqlite3_bind_int64(st, 1, ticket_id);
    xd_db_bind_text(st, 2, author);
    xd_db_bind_text(st, 3, body);
    sqlite3_bind_int(st, 4, internal ? 1 : 0);
    sqlite3_bind_int64(st, 5, now);
    xd_db_bind_text(st, 6, key && *key ? key : NULL);
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
        *seq_out = col_int(st, 0);
        *created = 1;
        step = sqlite3_step(st);
    }
    if (step != SQLITE_DONE)
        rc = xd_db_fail(s->db, step, "storing the comment", err);
    sqlite3_finalize(st);
    if (rc != XD_OK)
        return rc;
    rc = xd_db_prepare(s->db, "UPDATE tickets SET updated_ms = ?2 WHERE id = ?1", &st, err);
    if (rc != XD_OK)
        return rc;
    sqlite3_bind_int64(st, 1, ticket_id);
    sqlite3_bind_int64(st, 2, now);
    step = sqlite3_step(st);
    if (step != SQLITE_DONE)
        rc = xd_db_fail(s->db, step, "touching the ticket", err);
    sqlite3_finalize(st);
    return rc;
}

static xd_code apply_update(tk_store *s, const tk_ticket *cur, const tk_update *u, int64_t now,
                            int *changed, xd_err *err)
{
    tk_status to = u->status ? u->status : cur->status;
    int moves = to != cur->status;
    const char *assignee = u->set_assignee ? (u->assignee ? u->assignee : "") : cur->assignee;
    int reassign = strcmp(assignee, cur->assignee) != 0;
    if (!moves && !reassign)
        return XD_OK;
    sqlite3_stmt *st = NULL;
    xd_code rc =
        xd_db_prepare(s->db,
                      "UPDATE tickets SET status = ?2, assignee = ?3, updated_ms = ?4,"
                      " status_changes = status_changes + ?5,"
                      " resolved_ms = CASE WHEN ?5 AND ?2 = 5 THEN ?4 WHEN ?5 AND ?2 = 1 THEN 0"
                      " ELSE resolved_ms END,"
                      " closed_ms = CASE WHEN ?5 AND ?2 = 6 THEN ?4 WHEN ?5 AND ?2 = 1 THEN 0"
                      " ELSE closed_ms END"
                      " WHERE id = ?1",
                      &st, err);
    if (rc != XD_OK)
        return rc;
    sqlite3_bind_int64(st, 1, cur->id);
    sqlite3_bind_int(st, 2, to);
    xd_db_bind_text(st, 3, assignee);
    sqlite3_bind_int64(st, 4, now);
    sqlite3_bind_int(st, 5, moves);
    int step = sqlite3_step(st);
    if (step != SQLITE_DONE)
        rc = xd_db_fail(s->db, step, "updating the ticket", err);
    sqlite3_finalize(st);
    *changed = rc == XD_OK;
    return rc;
}

xd_code tk_store_update(tk_store *s, const tk_scope *scope, int64_t id, const tk_update *u,
                        xd_arena *a, tk_ticket **out, int *changed, xd_err *err)
{
    int64_t now = xd_clock_now_ms(s->clock);
    *changed = 0;
    if (u->set_assignee && !scope->staff)
        return xd_err_field(err, XD_PERMISSION_DENIED, "assignee",
                            "only Xenegrade staff assign tickets: leave assignee out");
    pthread_mutex_lock(&s->lock);
    tk_ticket *cur = NULL;
    xd_code rc = xd_db_begin(s->db, err);
    if (rc != XD_OK)
        goto unlock;
    rc = load_scoped(s, scope, id, a, &cur, err);
    if (rc == XD_OK && u->status) {
        char name[24];
        label(id, name, sizeof(name));
        rc = tk_check_transition(name, cur->status, u->status, err);
    }
    if (rc == XD_OK)
        rc = apply_update(s, cur, u, now, changed, err);
    if (rc == XD_OK && u->note && *u->note) {
        int64_t seq = 0;
        int created = 0;
        rc = insert_comment(s, id, u->author, u->note, 0, u->note_key, now, &seq, &created, err);
        *changed = *changed || created;
    }
    if (rc == XD_OK)
        rc = xd_db_commit(s->db, err);
    else
        xd_db_rollback(s->db);
    if (rc == XD_OK)
        rc = load_ticket(s, id, scope->staff, a, out, err);
    if (rc == XD_OK)
        rc = load_comments(s, *out, scope->staff, a, err);
unlock:
    pthread_mutex_unlock(&s->lock);
    return rc;
}

xd_code tk_store_add_comment(tk_store *s, const tk_scope *scope, int64_t id, const char *author,
                             const char *body, int internal, const char *key, xd_arena *a,
                             tk_comment **out, int *created, xd_err *err)
{
    int64_t now = xd_clock_now_ms(s->clock);
    *created = 0;
    if (internal && !scope->staff)
        return xd_err_field(err, XD_PERMISSION_DENIED, "internal",
                            "only Xenegrade staff add internal comments: set internal = false");
    pthread_mutex_lock(&s->lock);
    tk_ticket *cur = NULL;
    int64_t seq = 0;
    xd_code rc = xd_db_begin(s->db, err);
    if (rc != XD_OK)
        goto unlock;
    rc = load_scoped(s, scope, id, a, &cur, err);
    if (rc == XD_OK)
        rc = insert_comment(s, id, author, body, internal, key, now, &seq, created, err);
    if (rc == XD_OK)
        rc = xd_db_commit(s->db, err);
    else
        xd_db_rollback(s->db);
    if (rc != XD_OK)
        goto unlock;
    sqlite3_stmt *st = NULL;
    rc = xd_db_prepare(s->db,
                       "SELECT author, body, internal, created_ms FROM comments"
                       " WHERE ticket_id = ?1 AND seq = ?2",
                       &st, err);
    if (rc != XD_OK)
        goto unlock;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, seq);
    if (sqlite3_step(st) == SQLITE_ROW) {
        tk_comment *c = xd_arena_alloc(a, sizeof(*c));
        c->seq = seq;
        c->author = col_str(a, st, 0);
        c->body = col_str(a, st, 1);
        c->internal = (int)col_int(st, 2);
        c->created_ms = col_int(st, 3);
        *out = c;
    } else {
        rc = xd_err_set(err, XD_INTERNAL, "comment %lld vanished after storing", (long long)seq);
    }
    sqlite3_finalize(st);
unlock:
    pthread_mutex_unlock(&s->lock);
    return rc;
}

/* ----------------------------------------------------------- grouping */

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
            int64_t k = col_int(st, 0), n = col_int(st, 1);
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
        g->domain = col_str(a, st, 0);
        g->tickets = (int)col_int(st, 1);
        g->unresolved = (int)col_int(st, 2);
        g->organizations = (int)col_int(st, 3);
        g->recipients = (int)col_int(st, 4);
        g->latest_created_ms = col_int(st, 5);
        describe_pattern(a, g, (int)col_int(st, 6), (int)col_int(st, 7));
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

/* ------------------------------------------------------------ re-check */

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
            rows[n++] = read_ticket(a, st);
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
    bind_findings(st, f);
    int step = sqlite3_step(st);
    int found = step == SQLITE_ROW;
    int status = found ? (int)col_int(st, 0) : 0, changes = found ? (int)col_int(st, 1) : 0;
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
            rc = insert_comment(s, id, "intake", note, 0, NULL, now, &seq, &created, err);
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
