/* tk_access.c: the tenant rule (see tk_access.h). */
#include "tk_access.h"
#include "xd/util.h"

#include <string.h>

xd_code tk_scope_for(const char *caller_org, int role, const char *requested_org,
                     const char *staff_org, tk_scope *out, xd_err *err)
{
    caller_org = caller_org ? caller_org : "";
    requested_org = requested_org ? requested_org : "";
    memset(out, 0, sizeof(*out));
    if (role != TK_ROLE_SUPPORT && role != TK_ROLE_ADMIN && role != TK_ROLE_OPERATOR &&
        role != TK_ROLE_SERVICE)
        return xd_err_set(err, XD_PERMISSION_DENIED,
                          "tickets need a support, admin or operator key; this call's role (%d) "
                          "may not use them",
                          role);
    if (strlen(caller_org) > TK_ORG_MAX || strlen(requested_org) > TK_ORG_MAX)
        return xd_err_field(err, XD_INVALID_ARGUMENT, "org_id",
                            "org_id is longer than %d characters", TK_ORG_MAX);
    int staff = role == TK_ROLE_OPERATOR || role == TK_ROLE_SERVICE ||
                (staff_org && *staff_org && *caller_org && strcmp(caller_org, staff_org) == 0);
    out->staff = staff;
    if (staff) {
        xd_strlcpy(out->org_id, requested_org, sizeof(out->org_id));
        return XD_OK;
    }
    if (!*caller_org)
        return xd_err_set(err, XD_PERMISSION_DENIED,
                          "the call carries no organization: tickets are filed and read on "
                          "behalf of one organization");
    if (*requested_org && strcmp(requested_org, caller_org) != 0)
        return xd_err_field(err, XD_PERMISSION_DENIED, "org_id",
                            "org_id names another organization: leave it empty (your key acts "
                            "for its own organization only)");
    xd_strlcpy(out->org_id, caller_org, sizeof(out->org_id));
    return XD_OK;
}

int tk_scope_allows(const tk_scope *scope, const char *org_id)
{
    if (scope->staff && !scope->org_id[0])
        return 1;
    return org_id && strcmp(scope->org_id, org_id) == 0;
}
