/* tk_store_write.c: Create, Update and AddComment in the store. */
#include "tk_store_internal.h"
#include "xd/db.h"
#include "tk_workflow.h"

#include <stdio.h>
#include <string.h>

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
        *id_out = tk_col_int(st, 0);
        if (strcmp(xd_db_column_text(st, 1), fingerprint) != 0) {
            char name[24];
            tk_format_id(*id_out, name, sizeof(name));
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
        rc = tk_load_ticket(s, id, staff, a, out, err);
    if (rc == XD_OK && *out)
        rc = tk_load_comments(s, *out, staff, a, err);
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
    tk_bind_findings(st, &t->findings);
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
        rc = tk_load_ticket(s, id, 0, a, out, err);
    if (rc == XD_OK && *out)
        rc = tk_load_comments(s, *out, 0, a, err);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

/* Inserts a comment (seq = next) unless key already exists; lock held,
 * inside a transaction. *seq_out = its seq, *created = 0 for a repeat. */
xd_code tk_insert_comment(tk_store *s, int64_t ticket_id, const char *author, const char *body,
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
        *seq_out = step == SQLITE_ROW ? tk_col_int(st, 0) : 0;
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
    int64_t count = sqlite3_step(st) == SQLITE_ROW ? tk_col_int(st, 0) : 0;
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
        *seq_out = tk_col_int(st, 0);
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
    rc = tk_load_scoped(s, scope, id, a, &cur, err);
    if (rc == XD_OK && u->status) {
        char name[24];
        tk_format_id(id, name, sizeof(name));
        rc = tk_check_transition(name, cur->status, u->status, err);
    }
    if (rc == XD_OK)
        rc = apply_update(s, cur, u, now, changed, err);
    if (rc == XD_OK && u->note && *u->note) {
        int64_t seq = 0;
        int created = 0;
        rc = tk_insert_comment(s, id, u->author, u->note, 0, u->note_key, now, &seq, &created, err);
        *changed = *changed || created;
    }
    if (rc == XD_OK)
        rc = xd_db_commit(s->db, err);
    else
        xd_db_rollback(s->db);
    if (rc == XD_OK)
        rc = tk_load_ticket(s, id, scope->staff, a, out, err);
    if (rc == XD_OK)
        rc = tk_load_comments(s, *out, scope->staff, a, err);
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
    rc = tk_load_scoped(s, scope, id, a, &cur, err);
    if (rc == XD_OK)
        rc = tk_insert_comment(s, id, author, body, internal, key, now, &seq, created, err);
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
        c->author = tk_col_str(a, st, 0);
        c->body = tk_col_str(a, st, 1);
        c->internal = (int)tk_col_int(st, 2);
        c->created_ms = tk_col_int(st, 3);
        *out = c;
    } else {
        rc = xd_err_set(err, XD_INTERNAL, "comment %lld vanished after storing", (long long)seq);
    }
    sqlite3_finalize(st);
unlock:
    pthread_mutex_unlock(&s->lock);
    return rc;
}
