/* tk_validate.c: every rule a new ticket's details must meet. */
#include "tk_validate.h"
#include "tk_address.h"
#include "tk_text.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* A problem is reported at most one hour into the future (clock skew). */
#define FUTURE_SLACK_MS (60LL * 60 * 1000)

void tk_problems_add(tk_problems *p, const char *field, const char *fmt, ...)
{
    if (p->n >= TK_PROBLEMS_MAX)
        return;
    tk_problem *it = &p->items[p->n++];
    it->field = field;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(it->reason, sizeof(it->reason), fmt, ap);
    va_end(ap);
}

static const char *str(const char *s)
{
    return s ? s : "";
}

/* Checks an optional or required single/multi-line text field. */
static void check_text(tk_problems *p, const char *field, const char *value, int required,
                       size_t max, int multi_line)
{
    size_t len = strlen(value);
    if (required && !tk_text_has_content(value))
        tk_problems_add(p, field, "%s is required", field);
    else if (len > max)
        tk_problems_add(p, field, "%s is %zu bytes; at most %zu are allowed", field, len, max);
    else if (!tk_text_clean(value, multi_line))
        tk_problems_add(p, field, "%s must be UTF-8 text without control characters%s", field,
                        multi_line ? " (tab and line breaks are fine)" : " or line breaks");
}

int tk_validate_create(const tk_create_input *in, int64_t now_ms, tk_create_valid *out,
                       tk_problems *p)
{
    char why[192];
    memset(p, 0, sizeof(*p));
    memset(out, 0, sizeof(*out));

    const char *when = str(in->occurred_at);
    if (strlen(when) > TK_TIME_TEXT_MAX)
        tk_problems_add(p, "occurred_at", "occurred_at is too long for a date and time");
    else if (tk_parse_time(when, &out->occurred_ms, why, sizeof(why)) != 0)
        tk_problems_add(p, "occurred_at", "occurred_at %s", why);
    else if (out->occurred_ms > now_ms + FUTURE_SLACK_MS)
        tk_problems_add(p, "occurred_at",
                        "occurred_at is in the future: give when the problem happened");

    const char *rcpt = str(in->recipient);
    int rcpt_ok = 0;
    if (!tk_text_clean(rcpt, 0))
        tk_problems_add(p, "recipient", "recipient must not contain control characters");
    else if (tk_address_domain(rcpt, out->recipient_domain, sizeof(out->recipient_domain), why,
                               sizeof(why)) != 0)
        tk_problems_add(p, "recipient", "recipient %s", why);
    else
        rcpt_ok = 1;

    const char *given_domain = str(in->recipient_domain);
    if (*given_domain) {
        char norm[TK_DOMAIN_MAX + 1];
        if (!tk_text_clean(given_domain, 0) ||
            tk_domain_normalize(given_domain, norm, sizeof(norm), why, sizeof(why)) != 0)
            tk_problems_add(p, "recipient_domain",
                            "recipient_domain is not a domain name; leave it empty to derive it "
                            "from recipient");
        else if (rcpt_ok && strcmp(norm, out->recipient_domain) != 0)
            tk_problems_add(p, "recipient_domain",
                            "recipient_domain %s does not match the recipient's domain %s; "
                            "leave it empty or correct it",
                            norm, out->recipient_domain);
    }

    check_text(p, "module", str(in->module), 1, TK_MODULE_MAX, 0);

    const char *other = str(in->other_domain);
    switch (in->other_domain_tried) {
    case TK_OTHER_YES:
        if (!*other)
            tk_problems_add(p, "other_domain",
                            "other_domain is required when other_domain_tried is YES: name the "
                            "other recipient domain tried");
        else if (!tk_text_clean(other, 0) ||
                 tk_domain_normalize(other, out->other_domain, sizeof(out->other_domain), why,
                                     sizeof(why)) != 0)
            tk_problems_add(p, "other_domain", "other_domain is not a domain name: it %s",
                            tk_text_clean(other, 0) ? why : "has control characters");
        else if (rcpt_ok && strcmp(out->other_domain, out->recipient_domain) == 0)
            tk_problems_add(p, "other_domain",
                            "other_domain %s is the recipient's own domain: name a different "
                            "domain, or answer NO",
                            out->other_domain);
        break;
    case TK_OTHER_NO:
    case TK_OTHER_UNKNOWN:
        if (*other)
            tk_problems_add(p, "other_domain",
                            "other_domain must be empty unless other_domain_tried is YES");
        break;
    default:
        tk_problems_add(p, "other_domain_tried",
                        "other_domain_tried is required: YES (and other_domain), NO or UNKNOWN");
    }

    if (in->issue_type <= TK_ISSUE_UNSPECIFIED || in->issue_type >= TK_ISSUE_COUNT)
        tk_problems_add(p, "issue_type",
                        "issue_type is required: NOT_RECEIVED, SPAM_FOLDER, REJECTED, "
                        "FORMATTING, MISSING_BANNER or OTHER");

    check_text(p, "description", str(in->description), 1, TK_TEXT_MAX, 1);
    check_text(p, "additional_info", str(in->additional_info), 0, TK_TEXT_MAX, 1);
    check_text(p, "reporter", str(in->reporter), 1, TK_NAME_MAX, 0);
    check_text(p, "message_id", str(in->message_id), 0, TK_KEY_MAX, 0);
    check_text(p, "idempotency_key", str(in->idempotency_key), 0, TK_KEY_MAX, 0);
    return p->n;
}

int tk_validate_comment(const char *author, const char *body, const char *key, tk_problems *p)
{
    memset(p, 0, sizeof(*p));
    check_text(p, "author", str(author), 1, TK_NAME_MAX, 0);
    check_text(p, "body", str(body), 1, TK_TEXT_MAX, 1);
    check_text(p, "idempotency_key", str(key), 0, TK_KEY_MAX, 0);
    return p->n;
}

int tk_validate_update(int status, int set_assignee, const char *assignee, const char *note,
                       const char *author, tk_problems *p)
{
    memset(p, 0, sizeof(*p));
    if (status < 0 || status >= TK_STATUS_COUNT)
        tk_problems_add(p, "status",
                        "status %d is not a ticket status: use OPEN, INVESTIGATING, "
                        "WAITING_ON_CUSTOMER, WAITING_ON_RECIPIENT_IT, RESOLVED or CLOSED",
                        status);
    if (set_assignee)
        check_text(p, "assignee", str(assignee), 0, TK_NAME_MAX, 0);
    check_text(p, "note", str(note), 0, TK_TEXT_MAX, 1);
    if (*str(note))
        check_text(p, "author", str(author), 1, TK_NAME_MAX, 0);
    if (status == TK_STATUS_UNSPECIFIED && !set_assignee && !tk_text_has_content(str(note)))
        tk_problems_add(p, "status", "nothing to update: give a status, an assignee or a note");
    return p->n;
}

void tk_problems_message(const tk_problems *p, char *out, size_t out_size)
{
    size_t used = 0;
#define PUT(...)                                                                                   \
    do {                                                                                           \
        int n_ = snprintf(out + used, out_size - used, __VA_ARGS__);                               \
        if (n_ < 0 || (size_t)n_ >= out_size - used) {                                             \
            used = out_size - 1;                                                                   \
            goto done;                                                                             \
        }                                                                                          \
        used += (size_t)n_;                                                                        \
    } while (0)
    out[0] = '\0';
    PUT("%d ticket field%s to fix (", p->n, p->n == 1 ? "" : "s");
    for (int i = 0; i < p->n; i++)
        PUT("%s%s", i ? ", " : "", p->items[i].field);
    PUT(")");
    for (int i = 0; i < p->n; i++)
        PUT("%s%s", i ? "; " : ": ", p->items[i].reason);
done:
#undef PUT
    return;
}
