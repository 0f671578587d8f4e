/* tk_model.c: names of the ticket enums and the human ticket id. */
#include "tk_model.h"

#include <ctype.h>
#include <stdio.h>

static const char *const status_names[] = {
    "UNSPECIFIED", "OPEN",   "INVESTIGATING", "WAITING_ON_CUSTOMER", "WAITING_ON_RECIPIENT_IT",
    "RESOLVED",    "CLOSED",
};
static const char *const issue_names[] = {
    "UNSPECIFIED", "NOT_RECEIVED",   "SPAM_FOLDER", "REJECTED",
    "FORMATTING",  "MISSING_BANNER", "OTHER",
};
static const char *const verdict_names[] = {
    "UNSPECIFIED", "NO_RECORD",  "DELIVERED",       "IN_PROGRESS", "BOUNCED",
    "SUPPRESSED",  "COMPLAINED", "INVALID_ADDRESS", "EXPIRED",     "DOMAIN_PROBLEM",
};
static const char *const action_names[] = {
    "UNSPECIFIED",          "AWAIT_CHECK",     "ESCALATE_TO_XENEGRADE",
    "CONTACT_RECIPIENT_IT", "CONFIRM_ADDRESS", "RESOLVE_WITH_EXPLANATION",
    "WAIT_FOR_RETRIES",     "REVIEW_MANUALLY",
};

#define NAME_OF(table, i)                                                                          \
    ((i) >= 0 && (unsigned)(i) < sizeof(table) / sizeof((table)[0]) ? (table)[i] : "?")

const char *tk_status_name(int status)
{
    return NAME_OF(status_names, status);
}

const char *tk_issue_name(int issue)
{
    return NAME_OF(issue_names, issue);
}

const char *tk_verdict_name(int verdict)
{
    return NAME_OF(verdict_names, verdict);
}

const char *tk_action_name(int action)
{
    return NAME_OF(action_names, action);
}

void tk_format_id(int64_t id, char *out, unsigned out_size)
{
    snprintf(out, out_size, "XD-%06lld", (long long)id);
}

int64_t tk_parse_id(const char *text)
{
    if (!text || toupper((unsigned char)text[0]) != 'X' || toupper((unsigned char)text[1]) != 'D' ||
        text[2] != '-')
        return 0;
    int64_t id = 0;
    int digits = 0;
    for (const char *p = text + 3; *p; p++) {
        if (!isdigit((unsigned char)*p) || ++digits > 12)
            return 0;
        id = id * 10 + (*p - '0');
    }
    return digits > 0 ? id : 0;
}
