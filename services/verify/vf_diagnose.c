/* vf_diagnose.c: see vf_diagnose.h. */
#include "vf_diagnose.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "vf_analysis.h"

#define DAY_MS 86400000LL

static vf_diag_step *step(vf_diagnosis *d, const char *question, int problem, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static vf_diag_step *step(vf_diagnosis *d, const char *question, int problem, const char *fmt, ...)
{
    if (d->n_steps >= VF_DIAG_MAX_STEPS)
        return NULL;
    vf_diag_step *s = &d->steps[d->n_steps++];
    snprintf(s->question, sizeof s->question, "%s", question);
    s->problem = problem;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->finding, sizeof s->finding, fmt, ap);
    va_end(ap);
    return s;
}

static void next_step(vf_diagnosis *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void next_step(vf_diagnosis *d, const char *fmt, ...)
{
    if (d->n_next >= VF_DIAG_MAX_NEXT)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->next[d->n_next++], sizeof d->next[0], fmt, ap);
    va_end(ap);
}

/* Keeps the newest record in the window (the query returns newest first). */
static void keep_first(void *ud, const vf_record *r)
{
    vf_diagnosis *d = ud;
    if (!d->has_record) {
        vf_record_buf_copy(&d->record, r);
        d->has_record = 1;
    }
}

typedef struct match_ctx {
    vf_diagnosis *d;
    const char *recipient;
} match_ctx;

/* Keeps the row of one message that is for the recipient. */
static void keep_matching(void *ud, const vf_record *r)
{
    match_ctx *m = ud;
    if (!m->d->has_record && strcasecmp(r->recipient, m->recipient) == 0) {
        vf_record_buf_copy(&m->d->record, r);
        m->d->has_record = 1;
    }
}

static void keep_suppression(void *ud, const vf_suppression *s)
{
    char *out = ud;
    static const char *const reasons[] = {"", "unsubscribed", "hard bounce", "complaint", "manual"};
    char when[40];
    xd_format_rfc3339(s->created_ms, when, sizeof when);
    snprintf(out, 512, "suppressed since %s (%s%s%s%s%s)", when,
             (unsigned)s->reason < 5 ? reasons[s->reason] : "?",
             s->scope[0] ? ", category " : ", all categories", s->scope, s->detail[0] ? ": " : "",
             s->detail);
}

static void reply_text(const vf_record *r, char *out, size_t size)
{
    snprintf(out, size, "%u %s %s", r->reply_code, r->reply_enhanced, r->reply_text);
}

xd_code vf_diagnose(vf_store *store, const vf_diagnose_request *req, vf_address_checker checker,
                    void *checker_ud, vf_diagnosis *d, xd_err *err)
{
    memset(d, 0, sizeof *d);
    if (!req->recipient || !req->recipient[0] || !strchr(req->recipient, '@'))
        return xd_err_field(err, XD_INVALID_ARGUMENT, "recipient",
                            "recipient must be the full email address that did not get the mail");
    if (strlen(req->recipient) > VF_MAX_ID)
        return xd_err_field(err, XD_INVALID_ARGUMENT, "recipient", "recipient is too long");
    int64_t now = xd_clock_now_ms(vf_store_clock(store));
    int64_t around = req->around_ms > 0 ? req->around_ms : now;
    int64_t window = req->window_ms > 0 ? req->window_ms : 3 * DAY_MS;
    char when[40];

    /* 1. Is there a record? */
    vf_query q = {.org_id = req->org_id, .recipient = req->recipient, .page_size = 1};
    q.from_ms = around - window;
    q.to_ms = around + window;
    char token[64];
    xd_code rc = vf_store_query(store, &q, keep_first, d, token, err);
    if (rc != XD_OK)
        return rc;
    if (req->message_id && req->message_id[0] &&
        (!d->has_record || strcmp(d->record.rec.message_id, req->message_id) != 0)) {
        /* A specific message was named: look it up instead of the newest. */
        d->has_record = 0;
        vf_query mq = {.org_id = req->org_id, .message_id = req->message_id, .page_size = 1000};
        match_ctx m = {d, req->recipient};
        rc = vf_store_query(store, &mq, keep_matching, &m, token, err);
        if (rc != XD_OK)
            return rc;
    }
    const vf_record *r = d->has_record ? &d->record.rec : NULL;
    if (r)
        step(d, "Is there a record of the email?", 0,
             "Yes: message %s (\"%.80s\") to %s, queued at %s.", r->message_id, r->subject,
             r->recipient, (xd_format_rfc3339(r->created_ms, when, sizeof when), when));
    else
        step(d, "Is there a record of the email?", 1,
             "No email to %s is recorded between %s and the following %lld hours.", req->recipient,
             (xd_format_rfc3339(around - window, when, sizeof when), when),
             (long long)(2 * window / 3600000));

    /* 2. Accepted? */
    char reply[1100];
    if (r) {
        int64_t dms = r->state_ms[XD__RECIPIENT_STATE__RECIPIENT_STATE_DELIVERED];
        if (dms > 0) {
            xd_format_rfc3339(r->note_delivered_ms ? r->note_delivered_ms : dms, when, sizeof when);
            step(d, "Did the recipient's server accept it?", 0,
                 "Yes: accepted at %s by %s with \"%u %s %s\"%s.", when, r->note_remote_host,
                 r->note_reply_code, r->note_reply_enhanced, r->note_reply_text,
                 r->note_tls_version[0] ? " over TLS" : "");
        } else {
            reply_text(r, reply, sizeof reply);
            step(d, "Did the recipient's server accept it?", 1, "No%s%s%s.",
                 r->reply_code ? ": last reply \"" : "", r->reply_code ? reply : "",
                 r->reply_code ? "\"" : " reply recorded");
        }
        /* 3. Bounced later? */
        int bounced = r->state == XD__RECIPIENT_STATE__RECIPIENT_STATE_BOUNCED;
        int expired = r->state == XD__RECIPIENT_STATE__RECIPIENT_STATE_EXPIRED;
        reply_text(r, reply, sizeof reply);
        if (bounced || expired)
            step(d, "Did it bounce?", 1, "%s at %s: \"%s\".", bounced ? "Bounced" : "Expired",
                 (xd_format_rfc3339(r->state_time_ms, when, sizeof when), when), reply);
        else
            step(d, "Did it bounce?", 0, "No bounce recorded.");
    }

    /* 4. Suppressed or opted out? */
    char sup[512] = "";
    int suppressed = 0;
    rc = vf_store_check_suppressed(store, req->org_id, req->recipient, r ? r->category : "",
                                   &suppressed, keep_suppression, sup, err);
    if (rc != XD_OK)
        return rc;
    int state_suppressed = r && r->state == XD__RECIPIENT_STATE__RECIPIENT_STATE_SUPPRESSED;
    if (suppressed)
        step(d, "Is the address suppressed or opted out?", 1, "Yes: %s.", sup);
    else
        step(d, "Is the address suppressed or opted out?", state_suppressed,
             state_suppressed ? "Not now, but this email was not sent because the address was "
                                "suppressed at the time."
                              : "No.");

    /* 5. Complained? */
    int complained = r && (r->state_ms[XD__RECIPIENT_STATE__RECIPIENT_STATE_COMPLAINED] > 0);
    int unsubscribed = r && r->state_ms[XD__RECIPIENT_STATE__RECIPIENT_STATE_UNSUBSCRIBED] > 0;
    step(d, "Did the recipient complain or opt out?", complained || unsubscribed, "%s",
         complained     ? "Yes: the recipient reported this email as spam."
         : unsubscribed ? "Yes: the recipient opted out after receiving it."
                        : "No.");

    /* 6. Address valid and domain taking mail? */
    int address_bad = 0;
    if (checker) {
        char finding[400] = "";
        int v = checker(checker_ud, req->recipient, finding, sizeof finding);
        address_bad = v == 1;
        step(d, "Is the address valid and its domain taking mail?", v != 0, "%s", finding);
    } else {
        step(d, "Is the address valid and its domain taking mail?", 0, "Not checked.");
    }

    /* 7. Same domain failing for others? */
    char domain[VF_MAX_ID];
    vf_domain_of(req->recipient, domain, sizeof domain);
    vf_counts dc;
    rc = vf_store_totals(store, req->org_id, domain, now - 7 * DAY_MS, now + 1, &dc, err);
    if (rc != XD_OK)
        return rc;
    int domain_failing = dc.bounced >= 5 && dc.bounced * 5 >= dc.sent;
    step(d, "Is the same domain failing for other recipients?", domain_failing,
         "%s: %llu of %llu recipients at %s bounced in the last 7 days.",
         domain_failing ? "Yes" : "No", (unsigned long long)dc.bounced, (unsigned long long)dc.sent,
         domain);

    /* Verdict and next steps. */
    const vf_settings *set = vf_store_settings(store);
    if (complained) {
        d->verdict = XD__DIAGNOSE_VERDICT__DIAGNOSE_VERDICT_COMPLAINED;
        snprintf(d->summary, sizeof d->summary,
                 "%s received the email and reported it as spam; further mail is suppressed.",
                 req->recipient);
        next_step(d, "Do not re-add the address; the recipient must opt in again explicitly.");
    } else if (state_suppressed || (!r && suppressed)) {
        d->verdict = XD__DIAGNOSE_VERDICT__DIAGNOSE_VERDICT_SUPPRESSED;
        snprintf(d->summary, sizeof d->summary, "Not sent to %s: the address is %s.",
                 req->recipient, suppressed ? sup : "suppressed");
        next_step(d, "If the recipient wants the mail again, confirm with them and remove the "
                     "suppression (opt-outs only with the recipient's consent).");
    } else if (!r && address_bad) {
        d->verdict = XD__DIAGNOSE_VERDICT__DIAGNOSE_VERDICT_INVALID_ADDRESS;
        snprintf(d->summary, sizeof d->summary, "%s cannot receive mail.", req->recipient);
        next_step(d, "Ask the client for the correct email address.");
    } else if (!r) {
        d->verdict = XD__DIAGNOSE_VERDICT__DIAGNOSE_VERDICT_NO_RECORD;
        snprintf(d->summary, sizeof d->summary, "No email to %s was sent in that period.",
                 req->recipient);
        next_step(d, "Check that the module really sent it (the time, the address spelling) "
                     "and ask the client to trigger it again.");
    } else if (r->state == XD__RECIPIENT_STATE__RECIPIENT_STATE_BOUNCED) {
        reply_text(r, reply, sizeof reply);
        int by_policy =
            r->failure_category == XD__FAILURE_CATEGORY__FAILURE_CATEGORY_POLICY_BLOCK ||
            r->failure_category == XD__FAILURE_CATEGORY__FAILURE_CATEGORY_CONTENT_BLOCK;
        d->verdict = domain_failing && by_policy
                         ? XD__DIAGNOSE_VERDICT__DIAGNOSE_VERDICT_DOMAIN_PROBLEM
                         : XD__DIAGNOSE_VERDICT__DIAGNOSE_VERDICT_BOUNCED;
        snprintf(d->summary, sizeof d->summary, "Rejected for %s by %s: \"%.300s\".", r->recipient,
                 r->remote_host[0] ? r->remote_host : "the recipient's server", reply);
        char remedy[512];
        vf_remedy_text(set, r->failure_category, domain, remedy, sizeof remedy);
        next_step(d, "%s", remedy);
        if (domain_failing)
            next_step(d, "Other recipients at %s fail too: treat it as one domain problem.",
                      domain);
    } else if (r->state == XD__RECIPIENT_STATE__RECIPIENT_STATE_EXPIRED) {
        reply_text(r, reply, sizeof reply);
        d->verdict = XD__DIAGNOSE_VERDICT__DIAGNOSE_VERDICT_EXPIRED;
        snprintf(d->summary, sizeof d->summary,
                 "Gave up on %s after retrying; last reply \"%.300s\".", r->recipient, reply);
        next_step(d, "Check the recipient's mail server is up, then ask the client to resend.");
    } else if (r->state_ms[XD__RECIPIENT_STATE__RECIPIENT_STATE_DELIVERED] > 0) {
        d->verdict = XD__DIAGNOSE_VERDICT__DIAGNOSE_VERDICT_DELIVERED;
        xd_format_rfc3339(r->note_delivered_ms, when, sizeof when);
        snprintf(d->summary, sizeof d->summary, "Delivered at %s to %s (%u %s).", when,
                 r->note_remote_host, r->note_reply_code, r->note_reply_enhanced);
        next_step(d,
                  "Ask the client to check the spam/junk folder and any mail rules, and to "
                  "allow mail from %s.",
                  set->sending_host);
        next_step(d, "Give the recipient's IT team the case note (time, server, reply, "
                     "Message-ID) so they can trace it in their logs.");
    } else {
        d->verdict = XD__DIAGNOSE_VERDICT__DIAGNOSE_VERDICT_IN_PROGRESS;
        reply_text(r, reply, sizeof reply);
        snprintf(d->summary, sizeof d->summary, "Still being delivered to %s%s%.300s%s.",
                 r->recipient, r->reply_code ? " (last reply \"" : "", r->reply_code ? reply : "",
                 r->reply_code ? "\")" : "");
        next_step(d, "Wait for the retries to finish (deferred mail is retried for up to the "
                     "maximum age); check again later.");
    }
    return XD_OK;
}
