/*
 * tk_access.h: the tenant rule: which tickets a caller may see and change.
 *
 * An organization sees only its own tickets (another's answers NOT_FOUND,
 * like a missing one). Xenegrade staff see all: ROLE_OPERATOR, ROLE_SERVICE
 * (suite-internal callers), and ROLE_SUPPORT / ROLE_ADMIN callers whose
 * organization is the configured Xenegrade organization. Only staff read or
 * write internal comments and set assignees. ROLE_MODULE keys may not use
 * tickets at all. Strings are copied into the scope.
 * Thread-safety: pure functions.
 */
#ifndef TK_ACCESS_H
#define TK_ACCESS_H

#include "tk_model.h"
#include "xd/status.h"

/* xd.Role numbers (envelope.proto). */
enum {
    TK_ROLE_UNSPECIFIED = 0,
    TK_ROLE_MODULE = 1,
    TK_ROLE_SUPPORT = 2,
    TK_ROLE_ADMIN = 3,
    TK_ROLE_OPERATOR = 4,
    TK_ROLE_SERVICE = 5,
};

typedef struct tk_scope {
    /* The one organization the call may touch; "" = every organization
     * (staff without an org_id filter). */
    char org_id[TK_ORG_MAX + 1];
    int staff; /* Xenegrade staff: all orgs, internal comments, assignee */
} tk_scope;

/* Builds the scope of a call from the caller (org, role), the request's
 * org_id field (may be NULL/"") and the configured staff organization.
 * PERMISSION_DENIED when the role may not use tickets, when a non-staff
 * caller has no organization, or names another organization in org_id. */
xd_code tk_scope_for(const char *caller_org, int role, const char *requested_org,
                     const char *staff_org, tk_scope *out, xd_err *err);

/* 1 when the scope may see a ticket of org_id. */
int tk_scope_allows(const tk_scope *scope, const char *org_id);

#endif
