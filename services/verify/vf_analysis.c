/* vf_analysis.c: see vf_analysis.h. */
#include "vf_analysis.h"

#include <stdio.h>
#include <string.h>

#define DAY_MS 86400000LL

void vf_remedy_text(const vf_settings *s, Xd__FailureCategory cat, const char *domain, char *out,
                    size_t size)
{
    switch (cat) {
    case XD__FAILURE_CATEGORY__FAILURE_CATEGORY_POLICY_BLOCK:
        snprintf(out, size,
                 "%s's mail server refuses our mail by policy: ask the recipient's IT team to "
                 "allow mail from %s (allow-list the sender and its IP addresses).",
                 domain, s->sending_host);
        break;
    case XD__FAILURE_CATEGORY__FAILURE_CATEGORY_CONTENT_BLOCK:
        snprintf(out, size,
                 "%s's spam filter rejects the content: review the message (links, wording, "
                 "attachments) and ask the recipient's IT team to allow mail from %s.",
                 domain, s->sending_host);
        break;
    case XD__FAILURE_CATEGORY__FAILURE_CATEGORY_AUTH_FAILURE:
        snprintf(out, size,
                 "%s rejects mail that fails SPF/DKIM/DMARC: check the organization's sending "
                 "domain records include %s and that DKIM signing is on.",
                 domain, s->sending_host);
        break;
    case XD__FAILURE_CATEGORY__FAILURE_CATEGORY_RATE_LIMITED:
        snprintf(out, size,
                 "%s limits how fast we send: lower the per-hour limit for this domain or spread "
                 "the sending over a longer time.",
                 domain);
        break;
    case XD__FAILURE_CATEGORY__FAILURE_CATEGORY_INVALID_RECIPIENT:
        snprintf(out, size,
                 "Many addresses at %s do not exist: ask the client to correct the addresses in "
                 "their records; the bounced ones are suppressed.",
                 domain);
        break;
    case XD__FAILURE_CATEGORY__FAILURE_CATEGORY_MAILBOX_FULL:
        snprintf(out, size,
                 "Mailboxes at %s are full: the recipients must free space; we retry later.",
                 domain);
        break;
    case XD__FAILURE_CATEGORY__FAILURE_CATEGORY_DNS_FAILURE:
    case XD__FAILURE_CATEGORY__FAILURE_CATEGORY_NOT_ACCEPTING:
        snprintf(out, size,
                 "%s does not receive mail (no working MX or a null MX): check the domain is "
                 "spelled right and still in use.",
                 domain);
        break;
    case XD__FAILURE_CATEGORY__FAILURE_CATEGORY_TLS_FAILURE:
        snprintf(out, size,
                 "TLS with %s's mail server fails: ask the recipient's IT team to check their "
                 "certificate and TLS settings.",
                 domain);
        break;
    case XD__FAILURE_CATEGORY__FAILURE_CATEGORY_CONNECTION_FAILURE:
    case XD__FAILURE_CATEGORY__FAILURE_CATEGORY_SYSTEM_ERROR:
        snprintf(out, size,
                 "%s's mail server is unreachable or failing: usually temporary; if it lasts "
                 "more than a day, ask the recipient's IT team to check their mail server.",
                 domain);
        break;
    default:
        snprintf(out, size,
                 "Mail to %s fails more often than elsewhere: look at the rejections' replies and "
                 "ask the recipient's IT team to allow mail from %s.",
                 domain, s->sending_host);
        break;
    }
}

void vf_domain_judge(const vf_settings *s, const vf_domain_row *row, vf_domain_verdict *out)
{
    memset(out, 0, sizeof *out);
    int rejected = row->rejected >= 5 && row->rejected * 5 >= row->volume;
    int deferred = row->deferred >= 10 && row->deferred * 3 >= row->volume;
    if (!rejected && !deferred)
        return;
    out->flagged = 1;
    uint64_t best = 0;
    for (int c = 1; c < 32; c++)
        if (row->by_category[c] > best) {
            best = row->by_category[c];
            out->main_category = (Xd__FailureCategory)c;
        }
    if (!rejected && best == 0)
        out->main_category = XD__FAILURE_CATEGORY__FAILURE_CATEGORY_RATE_LIMITED;
    vf_remedy_text(s, out->main_category, row->domain, out->remedy, sizeof out->remedy);
}

static Xd__HealthLevel level_of(double rate, double warn, double critical)
{
    if (rate >= critical)
        return XD__HEALTH_LEVEL__HEALTH_LEVEL_CRITICAL;
    if (rate >= warn)
        return XD__HEALTH_LEVEL__HEALTH_LEVEL_WARN;
    return XD__HEALTH_LEVEL__HEALTH_LEVEL_OK;
}

xd_code vf_org_health(vf_store *store, const char *org_id, vf_health *out, xd_err *err)
{
    memset(out, 0, sizeof *out);
    const vf_settings *s = vf_store_settings(store);
    int64_t now = xd_clock_now_ms(vf_store_clock(store));
    static const unsigned days[2] = {7, 30};
    out->level = XD__HEALTH_LEVEL__HEALTH_LEVEL_OK;
    const char *worst = "";
    for (int i = 0; i < 2; i++) {
        vf_rate_window *w = &out->windows[i];
        w->days = days[i];
        xd_code rc =
            vf_store_totals(store, org_id, NULL, now - days[i] * DAY_MS, now + 1, &w->counts, err);
        if (rc != XD_OK)
            return rc;
        uint64_t attempted = w->counts.sent - w->counts.suppressed;
        w->bounce_rate = attempted ? (double)w->counts.bounced / (double)attempted : 0;
        w->complaint_rate =
            w->counts.delivered ? (double)w->counts.complained / (double)w->counts.delivered : 0;
        w->bounce_level = level_of(w->bounce_rate, s->bounce_warn, s->bounce_critical);
        w->complaint_level = level_of(w->complaint_rate, s->complaint_warn, s->complaint_critical);
        if (w->bounce_level > out->level) {
            out->level = w->bounce_level;
            worst = "bounce";
        }
        if (w->complaint_level > out->level) {
            out->level = w->complaint_level;
            worst = "complaint";
        }
    }
    const vf_rate_window *w7 = &out->windows[0], *w30 = &out->windows[1];
    snprintf(out->summary, sizeof out->summary,
             "%s: last 7 days bounce %.2f%% and complaints %.3f%% of %llu recipients; last 30 "
             "days bounce %.2f%% and complaints %.3f%% of %llu.%s%s",
             out->level == XD__HEALTH_LEVEL__HEALTH_LEVEL_CRITICAL ? "Critical"
             : out->level == XD__HEALTH_LEVEL__HEALTH_LEVEL_WARN   ? "Warning"
                                                                   : "Healthy",
             w7->bounce_rate * 100, w7->complaint_rate * 100, (unsigned long long)w7->counts.sent,
             w30->bounce_rate * 100, w30->complaint_rate * 100,
             (unsigned long long)w30->counts.sent, worst[0] ? " The " : "",
             worst[0] ? (strcmp(worst, "bounce") == 0 ? "bounce rate is over its threshold: "
                                                        "clean the address lists."
                                                      : "complaint rate is over its threshold: "
                                                        "send only to people who opted in.")
                      : "");
    return XD_OK;
}
