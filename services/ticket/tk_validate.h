/*
 * tk_validate.h: validation of a new ticket's details.
 *
 * Every offending field is collected (not just the first), so support can
 * fix them all in one go; tk_problems_message() turns the list into the
 * INVALID_ARGUMENT message. Input strings are borrowed; results go to
 * caller structs. Thread-safety: pure functions.
 */
#ifndef TK_VALIDATE_H
#define TK_VALIDATE_H

#include <stddef.h>
#include <stdint.h>

#include "tk_model.h"

#define TK_PROBLEMS_MAX 16

typedef struct tk_problem {
    const char *field; /* proto field name, a string constant */
    char reason[224];  /* what is wrong and how to fix it */
} tk_problem;

typedef struct tk_problems {
    tk_problem items[TK_PROBLEMS_MAX];
    int n;
} tk_problems;

/* The details of a Create, as given (NULL counts as ""). */
typedef struct tk_create_input {
    const char *occurred_at;
    const char *recipient;
    const char *recipient_domain;
    const char *module;
    int other_domain_tried; /* tk_other_domain */
    const char *other_domain;
    int issue_type; /* tk_issue */
    const char *description;
    const char *additional_info;
    const char *reporter;
    const char *message_id;
    const char *idempotency_key;
} tk_create_input;

/* What validation derives. */
typedef struct tk_create_valid {
    int64_t occurred_ms;
    char recipient_domain[TK_DOMAIN_MAX + 1];
    char other_domain[TK_DOMAIN_MAX + 1]; /* normalised; "" unless YES */
} tk_create_valid;

/* Appends a problem (ignored beyond TK_PROBLEMS_MAX). */
void tk_problems_add(tk_problems *p, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Validates in against the clock reading now_ms. Fills *out and returns 0
 * when fine; otherwise returns the number of problems in *p (p is reset
 * first). */
int tk_validate_create(const tk_create_input *in, int64_t now_ms, tk_create_valid *out,
                       tk_problems *p);

/* AddComment: author and body required, key optional. Returns the number
 * of problems (p is reset first). */
int tk_validate_comment(const char *author, const char *body, const char *key, tk_problems *p);

/* Update: a known status (0 = unchanged), a clean assignee, a note with its
 * author; at least one change. Returns the number of problems. */
int tk_validate_update(int status, int set_assignee, const char *assignee, const char *note,
                       const char *author, tk_problems *p);

/* "3 ticket fields to fix (occurred_at, recipient, module): occurred_at has no
 * time zone ...; recipient ..." truncated to out_size; the field names always
 * come first so they survive truncation. */
void tk_problems_message(const tk_problems *p, char *out, size_t out_size);

#endif
