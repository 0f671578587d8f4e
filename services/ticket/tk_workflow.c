/* tk_workflow.c: the ticket workflow table and its checks. */
#include "tk_workflow.h"

#include <stdio.h>
#include <string.h>

#define BIT(s) (1u << (s))

/* allowed[from] = set of statuses `from` may move to. */
static const unsigned allowed[TK_STATUS_COUNT] = {
    [TK_STATUS_OPEN] = BIT(TK_STATUS_INVESTIGATING) | BIT(TK_STATUS_WAITING_ON_CUSTOMER) |
                       BIT(TK_STATUS_WAITING_ON_RECIPIENT_IT) | BIT(TK_STATUS_RESOLVED),
    [TK_STATUS_INVESTIGATING] = BIT(TK_STATUS_WAITING_ON_CUSTOMER) |
                                BIT(TK_STATUS_WAITING_ON_RECIPIENT_IT) | BIT(TK_STATUS_RESOLVED),
    [TK_STATUS_WAITING_ON_CUSTOMER] = BIT(TK_STATUS_INVESTIGATING) |
                                      BIT(TK_STATUS_WAITING_ON_RECIPIENT_IT) |
                                      BIT(TK_STATUS_RESOLVED),
    [TK_STATUS_WAITING_ON_RECIPIENT_IT] =
        BIT(TK_STATUS_INVESTIGATING) | BIT(TK_STATUS_WAITING_ON_CUSTOMER) | BIT(TK_STATUS_RESOLVED),
    [TK_STATUS_RESOLVED] = BIT(TK_STATUS_CLOSED) | BIT(TK_STATUS_OPEN),
    [TK_STATUS_CLOSED] = BIT(TK_STATUS_OPEN),
};

static int valid_status(int s)
{
    return s > TK_STATUS_UNSPECIFIED && s < TK_STATUS_COUNT;
}

int tk_transition_allowed(tk_status from, tk_status to)
{
    if (!valid_status((int)from) || !valid_status((int)to))
        return 0;
    return (allowed[from] & BIT(to)) != 0;
}

void tk_allowed_targets(tk_status from, char *out, unsigned out_size)
{
    size_t used = 0;
    out[0] = '\0';
    for (int s = 1; s < TK_STATUS_COUNT; s++) {
        if (!tk_transition_allowed(from, (tk_status)s))
            continue;
        int n = snprintf(out + used, out_size - used, "%s%s", used ? ", " : "", tk_status_name(s));
        if (n < 0 || (size_t)n >= out_size - used)
            break;
        used += (size_t)n;
    }
    if (!out[0])
        snprintf(out, out_size, "none");
}

xd_code tk_check_transition(const char *ticket_label, tk_status from, tk_status to, xd_err *err)
{
    if (!valid_status((int)to))
        return xd_err_field(err, XD_INVALID_ARGUMENT, "status",
                            "status %d is not a ticket status: use OPEN, INVESTIGATING, "
                            "WAITING_ON_CUSTOMER, WAITING_ON_RECIPIENT_IT, RESOLVED or CLOSED",
                            (int)to);
    if (from == to || tk_transition_allowed(from, to))
        return XD_OK;
    char targets[160];
    tk_allowed_targets(from, targets, sizeof(targets));
    return xd_err_field(err, XD_FAILED_PRECONDITION, "status",
                        "ticket %s is %s and cannot move to %s; allowed from %s: %s", ticket_label,
                        tk_status_name(from), tk_status_name(to), tk_status_name(from), targets);
}
