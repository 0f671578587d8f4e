/*
 * tk_store_internal.h: what the tk_store_*.c files share and nobody else
 * sees: the store struct, the ticket column list, and row helpers.
 *
 * Memory: row helpers allocate in the arena passed. Thread-safety: every
 * helper expects the caller to hold store->lock.
 */
#ifndef TK_STORE_INTERNAL_H
#define TK_STORE_INTERNAL_H

#include <pthread.h>
#include <sqlite3.h>

#include "tk_store.h"

struct tk_store {
    sqlite3 *db;
    const xd_clock *clock;
    pthread_mutex_t lock;
};

/* Ticket columns in the order tk_row_ticket() expects; ?20 = caller is staff. */
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

/* Columns set from a tk_findings, parameters ?2..?24 (see tk_bind_findings). */
#define FINDINGS_SET                                                                               \
    "f_state = ?2, f_verdict = ?3, f_summary = ?4, f_record_found = ?5, f_record_state = ?6,"      \
    " f_reply_code = ?7, f_reply_enhanced = ?8, f_reply_text = ?9, f_remote_host = ?10,"           \
    " f_delivered_ms = ?11, f_bounced_ms = ?12, f_suppressed_ms = ?13,"                            \
    " f_failure_category = ?14, f_suppressed = ?15, f_domain_problem = ?16, f_case_note = ?17,"    \
    " f_steps = ?18, f_verify_next = ?19, f_action = ?20, f_next_step = ?21, f_checked_ms = ?22,"  \
    " f_attempts = ?23, f_last_error = ?24, f_next_check_ms = ?25"

/* Column text copied into the arena ("" for NULL) and integer columns. */
char *tk_col_str(xd_arena *a, sqlite3_stmt *st, int col);
int64_t tk_col_int(sqlite3_stmt *st, int col);

/* Binds f to ?2..?25 of FINDINGS_SET (strings bounded, copied). */
void tk_bind_findings(sqlite3_stmt *st, const tk_findings *f);

/* One row of TICKET_COLS into a new ticket in the arena. */
tk_ticket *tk_row_ticket(xd_arena *a, sqlite3_stmt *st);

/* Ticket id of any org; *out NULL when missing. staff: count internal comments. */
xd_code tk_load_ticket(tk_store *s, int64_t id, int staff, xd_arena *a, tk_ticket **out,
                       xd_err *err);

/* The comments of t the viewer may see, oldest first, into t->comments. */
xd_code tk_load_comments(tk_store *s, tk_ticket *t, int staff, xd_arena *a, xd_err *err);

/* Ticket id when the scope may see it, else NOT_FOUND (as if missing). */
xd_code tk_load_scoped(tk_store *s, const tk_scope *scope, int64_t id, xd_arena *a, tk_ticket **out,
                       xd_err *err);

/* Inside a transaction: adds a comment (seq = next) unless key exists;
 * refuses beyond TK_COMMENTS_MAX; touches updated_ms. *created = 0 for a
 * repeat; *seq_out = its seq. */
xd_code tk_insert_comment(tk_store *s, int64_t ticket_id, const char *author, const char *body,
                          int internal, const char *key, int64_t now, int64_t *seq_out,
                          int *created, xd_err *err);

#endif
