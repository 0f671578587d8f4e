/* tk_service.c: Create: validate, find a repeat, ask verify, store. */
#include "tk_service.h"
#include "xd/log.h"
#include "xd/util.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static uint64_t fnv(uint64_t h, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    return (h ^ 0x1f) * 1099511628211ULL; /* field separator */
}

void tk_create_fingerprint(const char *org_id, const tk_create_input *in, char *out)
{
    char nums[32];
    snprintf(nums, sizeof(nums), "%d/%d", in->other_domain_tried, in->issue_type);
    uint64_t h = 14695981039346656037ULL;
    const char *fields[] = {org_id,
                            in->occurred_at,
                            in->recipient,
                            in->recipient_domain,
                            in->module,
                            in->other_domain,
                            in->description,
                            in->additional_info,
                            in->reporter,
                            in->message_id,
                            nums};
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
        h = fnv(h, fields[i]);
    snprintf(out, 17, "%016" PRIx64, h);
}

static const char *str(const char *s)
{
    return s ? s : "";
}

xd_code tk_service_create(const tk_service *svc, const tk_scope *scope, const tk_create_input *in,
                          const char *request_id, void *parent, xd_arena *arena, tk_ticket **out,
                          int *created, tk_problems *problems, xd_err *err)
{
    *created = 0;
    memset(problems, 0, sizeof(*problems));
    if (!scope->org_id[0])
        return xd_err_field(err, XD_INVALID_ARGUMENT, "org_id",
                            "org_id is required when Xenegrade staff file a ticket: name the "
                            "organization it is for");
    int64_t now = xd_clock_now_ms(svc->clock);
    tk_create_valid valid;
    if (tk_validate_create(in, now, &valid, problems) > 0) {
        char msg[XD_ERR_MESSAGE_MAX];
        tk_problems_message(problems, msg, sizeof(msg));
        return xd_err_field(err, XD_INVALID_ARGUMENT, problems->items[0].field, "%s", msg);
    }

    /* A repeat answers from the store, without asking verify again. */
    char fingerprint[17];
    tk_create_fingerprint(scope->org_id, in, fingerprint);
    const char *key;
    if (in->idempotency_key && *in->idempotency_key)
        key = xd_arena_printf(arena, "key:%s", in->idempotency_key);
    else if (request_id && *request_id)
        key = xd_arena_printf(arena, "rid:%s", request_id);
    else {
        char rnd[33];
        xd_random_hex(rnd, 16);
        key = xd_arena_printf(arena, "gen:%s", rnd);
    }
    xd_code rc = tk_store_find_repeat(svc->store, scope->org_id, key, fingerprint, scope->staff,
                                      arena, out, err);
    if (rc != XD_OK || *out)
        return rc;

    tk_ticket t = {
        .org_id = scope->org_id,
        .issue_type = (tk_issue)in->issue_type,
        .occurred_at = str(in->occurred_at),
        .occurred_ms = valid.occurred_ms,
        .recipient = str(in->recipient),
        .recipient_domain = valid.recipient_domain,
        .module = str(in->module),
        .other_domain_tried = (tk_other_domain)in->other_domain_tried,
        .other_domain = valid.other_domain,
        .description = str(in->description),
        .additional_info = str(in->additional_info),
        .reporter = str(in->reporter),
        .message_id = str(in->message_id),
    };
    tk_diagnose_query q = {.org_id = t.org_id,
                           .recipient = t.recipient,
                           .message_id = t.message_id,
                           .around_ms = t.occurred_ms,
                           .parent = parent};
    tk_intake_facts facts = {.recipient = t.recipient,
                             .recipient_domain = t.recipient_domain,
                             .module = t.module,
                             .issue_type = t.issue_type};
    tk_assessment a;
    tk_check_once(svc->diagnose, svc->diagnose_ctx, &q, &facts, now, 1, arena, &a, &t.findings);
    if (t.findings.state == TK_FINDINGS_PENDING) {
        t.findings.next_check_ms = now + tk_recheck_delay_ms(&svc->recheck, 1);
        XD_WARN("intake check for %s deferred: %s", t.recipient_domain, t.findings.last_error);
    }
    t.status = a.first_status;
    rc = tk_store_create(svc->store, &t, key, fingerprint, arena, out, created, err);
    if (rc == XD_OK && *created) {
        char name[24];
        tk_format_id((*out)->id, name, sizeof(name));
        XD_INFO("filed %s for org %s: findings %s, verdict %s, status %s, next step %s", name,
                scope->org_id,
                t.findings.state == TK_FINDINGS_COMPLETE  ? "complete"
                : t.findings.state == TK_FINDINGS_PENDING ? "pending"
                                                          : "failed",
                tk_verdict_name(t.findings.d.verdict), tk_status_name(t.status),
                tk_action_name(t.findings.action));
    }
    return rc;
}
