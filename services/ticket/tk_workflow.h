/*
 * tk_workflow.h: which status moves a ticket may make.
 *
 * open -> investigating -> waiting on customer / waiting on recipient IT ->
 * resolved -> closed, and reopen (resolved or closed -> open). The table is
 * in tk_workflow.c and documented in proto/ticket.proto.
 * Thread-safety: pure functions over a constant table.
 */
#ifndef TK_WORKFLOW_H
#define TK_WORKFLOW_H

#include "tk_model.h"
#include "xd/status.h"

/* 1 when a ticket in `from` may move to `to` (from == to is not a move). */
int tk_transition_allowed(tk_status from, tk_status to);

/* Writes the allowed targets of `from` as "INVESTIGATING, RESOLVED" into out. */
void tk_allowed_targets(tk_status from, char *out, unsigned out_size);

/* Checks a requested move: XD_OK when allowed or when from == to (a repeat);
 * INVALID_ARGUMENT for a status that is not one; FAILED_PRECONDITION naming
 * the allowed moves otherwise. */
xd_code tk_check_transition(const char *ticket_label, tk_status from, tk_status to, xd_err *err);

#endif
