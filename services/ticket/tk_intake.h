/*
 * tk_intake.h: the intake check's judgement: from verify's diagnosis of the
 * recipient (a plain tk_diagnosis) to the ticket's first status and a
 * suggested next step in plain words.
 *
 * No I/O: the caller asks verify (handlers / re-check) and hands the answer
 * in. Memory: tk_assessment holds its text inline; tk_intake_findings()
 * borrows the diagnosis and the assessment, which must outlive the findings.
 * Thread-safety: pure functions.
 */
#ifndef TK_INTAKE_H
#define TK_INTAKE_H

#include <stdint.h>

#include "tk_model.h"
#include "xd/status.h"

/* What the ticket says about the problem, for the wording. */
typedef struct tk_intake_facts {
    const char *recipient;
    const char *recipient_domain;
    const char *module;
    tk_issue issue_type;
} tk_intake_facts;

typedef struct tk_assessment {
    tk_status first_status;
    tk_action action;
    int suppressed;     /* the recipient is on the suppression list */
    int domain_problem; /* the domain fails for others too */
    char next_step[1024];
} tk_assessment;

/* Judges a diagnosis verify gave. */
void tk_intake_assess(const tk_intake_facts *facts, const tk_diagnosis *d, tk_assessment *out);

/* verify could not be asked (why = its error): stored OPEN, findings pending. */
void tk_intake_pending(const char *why, tk_assessment *out);

/* verify refused the question for good (why = its error). */
void tk_intake_failed(const char *why, tk_assessment *out);

/* PENDING for errors that may pass (verify down, slow, overloaded, not built
 * yet, internal); FAILED for answers that will not change (invalid argument,
 * not found, out of range). */
tk_findings_state tk_intake_error_state(xd_code code);

/* Fills findings from a diagnosis (NULL unless COMPLETE) and an assessment. */
void tk_intake_findings(tk_findings_state state, const tk_diagnosis *d, const tk_assessment *a,
                        int64_t now_ms, int attempts, const char *last_error, tk_findings *out);

#endif
