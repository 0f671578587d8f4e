/*
 * tk_store.h: the ticket database (SQLite, <data_dir>/ticket.db).
 *
 * Owns the tables tickets and comments. Every mutation is one transaction
 * and returns only after its commit (WAL, synchronous=FULL via xd_db_open).
 * Every read and write is limited to the caller's scope (tk_access.h): a
 * ticket outside it answers NOT_FOUND.
 *
 * Memory: results are allocated in the xd_arena the caller passes and live
 * as long as it; inputs are borrowed for the call.
 * Thread-safety: one connection behind a mutex; any thread may call.
 */
#ifndef TK_STORE_H
#define TK_STORE_H

#include <stdint.h>

#include "tk_access.h"
#include "tk_model.h"
#include "xd/arena.h"
#include "xd/clock.h"
#include "xd/status.h"

typedef struct tk_store tk_store;

/* Opens (creating and migrating) the database at path. clock stamps times. */
xd_code tk_store_open(const char *path, const xd_clock *clock, tk_store **out, xd_err *err);
void tk_store_close(tk_store *store);

/* Looks for an earlier Create by org with idem_key. *out = NULL when none;
 * ALREADY_EXISTS when the key was used for a ticket with other details
 * (fingerprint differs). */
xd_code tk_store_find_repeat(tk_store *store, const char *org_id, const char *idem_key,
                             const char *fingerprint, int staff, xd_arena *arena, tk_ticket **out,
                             xd_err *err);

/* Stores ticket t (id, times and comments ignored: set here) with its
 * findings. When a concurrent Create with the same key won, returns that
 * ticket with *created = 0 (or ALREADY_EXISTS as above). */
xd_code tk_store_create(tk_store *store, const tk_ticket *t, const char *idem_key,
                        const char *fingerprint, xd_arena *arena, tk_ticket **out, int *created,
                        xd_err *err);

/* One ticket within scope, with the comments the scope may see when
 * with_comments. NOT_FOUND otherwise. */
xd_code tk_store_get(tk_store *store, const tk_scope *scope, int64_t id, int with_comments,
                     xd_arena *arena, tk_ticket **out, xd_err *err);

typedef struct tk_list_filter {
    unsigned status_mask; /* bit per tk_status; 0 = all */
    unsigned issue_mask;  /* bit per tk_issue; 0 = all */
    const char *recipient_domain;
    const char *module;
    int64_t from_ms, to_ms; /* created range; 0 = unbounded */
    int64_t before_id;      /* cursor: ids below this; 0 = from the newest */
    int limit;              /* 1..200 */
} tk_list_filter;

/* Tickets within scope matching f, newest first. *next_before_id is the
 * cursor for the next page, 0 when this was the last. */
xd_code tk_store_list(tk_store *store, const tk_scope *scope, const tk_list_filter *f,
                      xd_arena *arena, tk_ticket ***out, int *n_out, int64_t *next_before_id,
                      xd_err *err);

typedef struct tk_update {
    tk_status status; /* UNSPECIFIED = unchanged */
    int set_assignee; /* 1: assignee replaces the current one */
    const char *assignee;
    const char *note;     /* optional comment visible to the organization */
    const char *author;   /* of the note */
    const char *note_key; /* idempotency key of the note (request id) */
} tk_update;

/* Applies u to ticket id within scope. Status moves follow tk_workflow
 * (FAILED_PRECONDITION names the allowed ones); setting the assignee needs
 * staff. *changed = 0 when nothing changed (a repeat). */
xd_code tk_store_update(tk_store *store, const tk_scope *scope, int64_t id, const tk_update *u,
                        xd_arena *arena, tk_ticket **out, int *changed, xd_err *err);

/* Adds a comment; internal ones need staff. A repeat of key returns the
 * first comment with *created = 0. */
xd_code tk_store_add_comment(tk_store *store, const tk_scope *scope, int64_t id, const char *author,
                             const char *body, int internal, const char *key, xd_arena *arena,
                             tk_comment **out, int *created, xd_err *err);

typedef struct tk_group_filter {
    unsigned status_mask; /* 0 = all but CLOSED */
    int64_t from_ms, to_ms;
    int min_tickets; /* >= 1 */
    int max_domains; /* 1..500 */
} tk_group_filter;

#define TK_GROUP_IDS 5

typedef struct tk_group {
    const char *domain;
    int tickets, unresolved, organizations, recipients;
    int issue_counts[TK_ISSUE_COUNT];
    int verdict_counts[TK_VERDICT_COUNT];
    int domain_pattern;
    const char *pattern; /* plain words, "" when none */
    int64_t latest_created_ms;
    int64_t ids[TK_GROUP_IDS];
    int n_ids;
} tk_group;

/* Tickets within scope grouped by recipient domain, most tickets first. */
xd_code tk_store_group_by_domain(tk_store *store, const tk_scope *scope, const tk_group_filter *f,
                                 xd_arena *arena, tk_group **out, int *n_out, xd_err *err);

/* Tickets whose findings are pending and due at now_ms (at most limit). */
xd_code tk_store_due_checks(tk_store *store, int64_t now_ms, int limit, xd_arena *arena,
                            tk_ticket ***out, int *n_out, xd_err *err);

/* Records a re-check of ticket id. f->state PENDING: only attempts,
 * last_error and next_check_ms change. Otherwise the findings are stored;
 * when nobody has moved the ticket since filing (still OPEN), its status
 * becomes first_status; note (if any) is added as a visible comment by
 * "intake". Ignored when the findings are no longer pending. */
xd_code tk_store_record_check(tk_store *store, int64_t id, const tk_findings *f,
                              tk_status first_status, const char *note, xd_err *err);

#endif
