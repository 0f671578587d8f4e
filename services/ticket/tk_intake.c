/* tk_intake.c: diagnosis verdict -> first status and suggested next step. */
#include "tk_intake.h"
#include "xd/clock.h"

#include <stdio.h>
#include <string.h>

static const char *or_unknown(const char *s, const char *fallback)
{
    return s && *s ? s : fallback;
}

/* "550 5.1.1 User unknown" or "no SMTP reply recorded". */
static void describe_reply(const tk_diagnosis *d, char *out, size_t size)
{
    if (d->reply_code <= 0) {
        snprintf(out, size, "no SMTP reply recorded");
        return;
    }
    snprintf(out, size, "%d%s%s%s%.200s", d->reply_code,
             d->reply_enhanced && *d->reply_enhanced ? " " : "",
             d->reply_enhanced ? d->reply_enhanced : "", d->reply_text && *d->reply_text ? " " : "",
             d->reply_text ? d->reply_text : "");
}

static void describe_time(int64_t ms, char *out, size_t size)
{
    if (ms <= 0)
        snprintf(out, size, "an unrecorded time");
    else
        xd_format_rfc3339(ms, out, (unsigned)size);
}

static void set(tk_assessment *out, tk_status status, tk_action action)
{
    out->first_status = status;
    out->action = action;
}

static void assess_bounce(const tk_intake_facts *f, const tk_diagnosis *d, const char *reply,
                          const char *host, tk_assessment *out)
{
    switch (d->failure_category) {
    case TK_FAIL_INVALID_RECIPIENT:
    case TK_FAIL_MAILBOX_DISABLED:
        set(out, TK_STATUS_WAITING_ON_CUSTOMER, TK_ACTION_CONFIRM_ADDRESS);
        snprintf(out->next_step, sizeof(out->next_step),
                 "Rejected by %s (%s): the mailbox %s does not exist or is disabled. Ask the "
                 "customer to confirm the recipient's address, then resend.",
                 host, reply, f->recipient);
        return;
    case TK_FAIL_MAILBOX_FULL:
        set(out, TK_STATUS_WAITING_ON_CUSTOMER, TK_ACTION_CONTACT_RECIPIENT_IT);
        snprintf(out->next_step, sizeof(out->next_step),
                 "Rejected by %s (%s): the recipient's mailbox is full. Ask the recipient to free "
                 "space, then resend.",
                 host, reply);
        return;
    case TK_FAIL_CONTENT_BLOCK:
    case TK_FAIL_POLICY_BLOCK:
    case TK_FAIL_RATE_LIMITED:
    case TK_FAIL_TLS_FAILURE:
        set(out, TK_STATUS_WAITING_ON_RECIPIENT_IT, TK_ACTION_CONTACT_RECIPIENT_IT);
        snprintf(out->next_step, sizeof(out->next_step),
                 "Rejected by %s's server %s (%s): its filters or policy refused mail from "
                 "XenDirect. Ask %s's IT to whitelist XenDirect's sending domain and IP "
                 "addresses, then resend.",
                 f->recipient_domain, host, reply, f->recipient_domain);
        return;
    default:
        set(out, TK_STATUS_INVESTIGATING, TK_ACTION_ESCALATE_TO_XENEGRADE);
        snprintf(out->next_step, sizeof(out->next_step),
                 "Bounced (%s from %s) for a reason on the sending side or not classified. "
                 "Escalate to Xenegrade with this ticket.",
                 reply, host);
    }
}

void tk_intake_assess(const tk_intake_facts *f, const tk_diagnosis *d, tk_assessment *out)
{
    memset(out, 0, sizeof(*out));
    char reply[320], when[40];
    describe_reply(d, reply, sizeof(reply));
    const char *host = or_unknown(d->remote_host, "the recipient's server");
    const char *module = or_unknown(f->module, "the sending module");
    switch (d->verdict) {
    case TK_VERDICT_NO_RECORD:
        set(out, TK_STATUS_INVESTIGATING, TK_ACTION_ESCALATE_TO_XENEGRADE);
        snprintf(out->next_step, sizeof(out->next_step),
                 "No record of an email to %s around the reported time: it was never sent by "
                 "XenDirect. Escalate to Xenegrade with this ticket, and check that %s was "
                 "actually triggered for this recipient.",
                 f->recipient, module);
        return;
    case TK_VERDICT_DELIVERED:
        describe_time(d->delivered_ms, when, sizeof(when));
        if (f->issue_type == TK_ISSUE_FORMATTING || f->issue_type == TK_ISSUE_MISSING_BANNER) {
            set(out, TK_STATUS_INVESTIGATING, TK_ACTION_ESCALATE_TO_XENEGRADE);
            snprintf(out->next_step, sizeof(out->next_step),
                     "Delivered: accepted by %s at %s (%s), so the problem is in the content. "
                     "Escalate to Xenegrade with a copy of the email as received.",
                     host, when, reply);
            return;
        }
        set(out, TK_STATUS_WAITING_ON_RECIPIENT_IT, TK_ACTION_CONTACT_RECIPIENT_IT);
        snprintf(out->next_step, sizeof(out->next_step),
                 "Delivered: accepted by the recipient's server %s at %s (%s). Ask the recipient "
                 "to check spam/junk and quarantine, and ask %s's IT to whitelist XenDirect's "
                 "sending domain and IP addresses; the case note is the proof of delivery.",
                 host, when, reply, f->recipient_domain);
        return;
    case TK_VERDICT_IN_PROGRESS:
        set(out, TK_STATUS_OPEN, TK_ACTION_WAIT_FOR_RETRIES);
        snprintf(out->next_step, sizeof(out->next_step),
                 "Not delivered yet: still queued or being retried (last reply: %s from %s). Wait "
                 "for the retries to finish, then check the ticket again.",
                 reply, host);
        return;
    case TK_VERDICT_BOUNCED:
        assess_bounce(f, d, reply, host, out);
        return;
    case TK_VERDICT_SUPPRESSED:
        set(out, TK_STATUS_RESOLVED, TK_ACTION_RESOLVE_WITH_EXPLANATION);
        out->suppressed = 1;
        if (d->suppressed_ms > 0)
            describe_time(d->suppressed_ms, when, sizeof(when));
        snprintf(out->next_step, sizeof(out->next_step),
                 "Not sent: %s is on the suppression list%s%s (the recipient opted out, or an "
                 "earlier hard bounce or complaint). Explain this to the customer; mail can be "
                 "sent again only after the recipient opts in again.",
                 f->recipient, d->suppressed_ms > 0 ? " since " : "",
                 d->suppressed_ms > 0 ? when : "");
        return;
    case TK_VERDICT_COMPLAINED:
        set(out, TK_STATUS_RESOLVED, TK_ACTION_RESOLVE_WITH_EXPLANATION);
        out->suppressed = 1;
        snprintf(out->next_step, sizeof(out->next_step),
                 "The recipient reported the email as spam, so further marketing mail to %s is "
                 "suppressed. Explain this to the customer; there is nothing to fix on our side.",
                 f->recipient);
        return;
    case TK_VERDICT_INVALID_ADDRESS:
        set(out, TK_STATUS_WAITING_ON_CUSTOMER, TK_ACTION_CONFIRM_ADDRESS);
        snprintf(out->next_step, sizeof(out->next_step),
                 "The address %s cannot receive mail (bad syntax, or %s accepts no mail). Ask the "
                 "customer to confirm or correct the address.",
                 f->recipient, f->recipient_domain);
        return;
    case TK_VERDICT_EXPIRED:
        set(out, TK_STATUS_WAITING_ON_RECIPIENT_IT, TK_ACTION_CONTACT_RECIPIENT_IT);
        snprintf(out->next_step, sizeof(out->next_step),
                 "Given up after retrying up to the maximum age (last reply: %s from %s). Ask "
                 "%s's IT why their server does not accept mail from XenDirect.",
                 reply, host, f->recipient_domain);
        return;
    case TK_VERDICT_DOMAIN_PROBLEM:
        set(out, TK_STATUS_WAITING_ON_RECIPIENT_IT, TK_ACTION_CONTACT_RECIPIENT_IT);
        out->domain_problem = 1;
        snprintf(out->next_step, sizeof(out->next_step),
                 "Mail to %s fails for other recipients too (last reply: %s): a problem with that "
                 "domain's servers or filters, not with this recipient. Contact %s's IT and ask "
                 "them to whitelist XenDirect; GroupByDomain lists the related tickets.",
                 f->recipient_domain, reply, f->recipient_domain);
        return;
    default:
        set(out, TK_STATUS_OPEN, TK_ACTION_REVIEW_MANUALLY);
        snprintf(out->next_step, sizeof(out->next_step),
                 "verify could not reach a verdict (%s). Review the findings manually.",
                 or_unknown(d->summary, "no summary"));
    }
}

void tk_intake_pending(const char *why, tk_assessment *out)
{
    memset(out, 0, sizeof(*out));
    set(out, TK_STATUS_OPEN, TK_ACTION_AWAIT_CHECK);
    snprintf(out->next_step, sizeof(out->next_step),
             "The delivery record could not be checked yet (%.300s). The ticket is stored; the "
             "check runs again automatically and fills in the findings.",
             or_unknown(why, "verify unavailable"));
}

void tk_intake_failed(const char *why, tk_assessment *out)
{
    memset(out, 0, sizeof(*out));
    set(out, TK_STATUS_OPEN, TK_ACTION_REVIEW_MANUALLY);
    snprintf(out->next_step, sizeof(out->next_step),
             "verify refused the delivery check (%.300s). Review the ticket manually.",
             or_unknown(why, "no reason given"));
}

tk_findings_state tk_intake_error_state(xd_code code)
{
    switch (code) {
    case XD_INVALID_ARGUMENT:
    case XD_NOT_FOUND:
    case XD_OUT_OF_RANGE:
        return TK_FINDINGS_FAILED;
    default:
        return TK_FINDINGS_PENDING;
    }
}

void tk_intake_findings(tk_findings_state state, const tk_diagnosis *d, const tk_assessment *a,
                        int64_t now_ms, int attempts, const char *last_error, tk_findings *out)
{
    memset(out, 0, sizeof(*out));
    out->state = state;
    if (state == TK_FINDINGS_COMPLETE && d) {
        out->d = *d;
        out->checked_ms = now_ms;
    }
    out->suppressed = a->suppressed;
    out->domain_problem = a->domain_problem;
    out->action = a->action;
    out->next_step = a->next_step;
    out->attempts = attempts;
    out->last_error = last_error ? last_error : "";
}
