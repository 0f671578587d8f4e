/* gw_pipeline.c: the service calls of SendEmail: reserve the recipients at
 * ratelimit, check them at verify, Submit what may go to the sender, and give
 * back the quota of recipients that were not queued. */
#include "gw_api.h"
#include "ratelimit.pb-c.h"
#include "sender.pb-c.h"
#include "verify.pb-c.h"
#include "xd/log.h"
#include "xd/util.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define RECIPIENTS_MAX 1000

static xd_code call_svc(gw_ctx *ctx, gw_req *req, gw_service svc, const char *method,
                        const ProtobufCMessage *in, const ProtobufCMessageDescriptor *reply_desc,
                        ProtobufCMessage **out, xd_err *err)
{
    return gw_call_service(ctx, req, svc, method, in, reply_desc, out, err);
}

/* The Consume request id: derived from the idempotency key when there is one,
 * so a retried SendEmail never counts its recipients twice. */
static char *consume_id(gw_req *req, const char *org_id, const char *idem_key)
{
    if (!idem_key[0]) {
        char hex[33];
        xd_random_hex(hex, 16);
        return xd_arena_printf(req->arena, "send-%s", hex);
    }
    unsigned char d[32];
    unsigned int len = sizeof(d);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    EVP_DigestUpdate(md, org_id, strlen(org_id) + 1);
    EVP_DigestUpdate(md, idem_key, strlen(idem_key));
    EVP_DigestFinal_ex(md, d, &len);
    EVP_MD_CTX_free(md);
    char hex[41];
    xd_hex_encode(d, 20, hex);
    return xd_arena_printf(req->arena, "send-%s", hex);
}

void gw_quota_refund(gw_ctx *ctx, gw_req *req, const char *consume, uint32_t n)
{
    if (n == 0)
        return;
    Xd__RefundRequest r = XD__REFUND_REQUEST__INIT;
    r.request_id = xd_arena_printf(req->arena, "%s-refund", consume);
    r.consume_request_id = (char *)consume;
    r.recipients = n;
    ProtobufCMessage *out = NULL;
    xd_err err;
    xd_err_clear(&err);
    if (call_svc(ctx, req, GW_SVC_RATELIMIT, "Refund", &r.base, &xd__refund_reply__descriptor, &out,
                 &err) != XD_OK)
        XD_WARN("refund of %u recipients (%s) failed, quota stays counted: %s", n, consume,
                err.message);
}

/* The recipients in order to, cc, bcc. */
typedef struct rcpt {
    Xd__MailAddress *addr;
    int kind; /* 0 to, 1 cc, 2 bcc */
    Xd__RecipientOutcome *outcome;
} rcpt;

static const char *suppression_reason(const Xd__Suppression *s)
{
    const ProtobufCEnumValue *v =
        protobuf_c_enum_descriptor_get_value(&xd__suppression_reason__descriptor, (int)s->reason);
    return v ? v->name : "SUPPRESSION_REASON_UNSPECIFIED";
}

xd_code gw_quota_reserve(gw_ctx *ctx, gw_req *req, const char *org_id, const char *consume,
                         uint32_t n, xd_err *err)
{
    Xd__Subject subject = XD__SUBJECT__INIT;
    subject.org_id = (char *)org_id;
    Xd__ConsumeRequest cr = XD__CONSUME_REQUEST__INIT;
    cr.request_id = (char *)consume;
    cr.subject = &subject;
    cr.recipients = n;
    ProtobufCMessage *m = NULL;
    xd_code rc = call_svc(ctx, req, GW_SVC_RATELIMIT, "Consume", &cr.base,
                          &xd__consume_reply__descriptor, &m, err);
    if (rc != XD_OK)
        return rc;
    const Xd__ConsumeReply *quota = (const Xd__ConsumeReply *)m;
    if (quota->decision == XD__DECISION__DECISION_GRANTED)
        return XD_OK;
    err->retry_after_ms = quota->retry_after_ms > 0 ? quota->retry_after_ms : 0;
    if (quota->retry_after_ms < 0)
        return xd_err_set(err, XD_RESOURCE_EXHAUSTED,
                          "%u recipients can never fit the limit '%s' (%s): split the send", n,
                          quota->binding_rule, quota->reason);
    return xd_err_set(err, XD_RESOURCE_EXHAUSTED,
                      "over quota (rule '%s': %s): nothing was queued; retry in %lld ms",
                      quota->binding_rule, quota->reason, (long long)quota->retry_after_ms);
}

xd_code gw_send_pipeline(gw_ctx *ctx, gw_req *req, const char *org_id, const ProtobufCMessage *in,
                         ProtobufCMessage *out, xd_err *err)
{
    const Xd__SubmitRequest *sr = (const Xd__SubmitRequest *)in;
    Xd__SendEmailReply *rep = (Xd__SendEmailReply *)out;
    size_t n = sr->n_to + sr->n_cc + sr->n_bcc;
    if (n == 0)
        return xd_err_field(err, XD_INVALID_ARGUMENT, "to",
                            "at least one recipient is needed (to, cc or bcc)");
    if (n > RECIPIENTS_MAX)
        return xd_err_field(err, XD_INVALID_ARGUMENT, "to",
                            "%zu recipients; at most %d per message (split the send)", n,
                            RECIPIENTS_MAX);
    rcpt *rs = xd_arena_alloc(req->arena, sizeof(rcpt) * n);
    size_t k = 0;
    Xd__MailAddress **lists[3] = {sr->to, sr->cc, sr->bcc};
    size_t counts[3] = {sr->n_to, sr->n_cc, sr->n_bcc};
    static const char *const names[3] = {"to", "cc", "bcc"};
    for (int l = 0; l < 3; l++)
        for (size_t i = 0; i < counts[l]; i++, k++) {
            rs[k].addr = lists[l][i];
            rs[k].kind = l;
            char field[32];
            snprintf(field, sizeof(field), "%s[%zu].address", names[l], i);
            xd_code rc = gw_check_text(field, rs[k].addr ? rs[k].addr->address : NULL, 1, 254, err);
            if (rc != XD_OK)
                return rc;
        }
    if (!ctx->backends)
        return xd_err_set(err, XD_UNAVAILABLE, "the services are not configured");

    /* 1. Reserve the quota: recipients, all or nothing. */
    const char *consume = consume_id(req, org_id, sr->idempotency_key);
    xd_code rc = gw_quota_reserve(ctx, req, org_id, consume, (uint32_t)n, err);
    if (rc != XD_OK)
        return rc;
    ProtobufCMessage *m = NULL;

    /* 2. Recipient checks: suppression, opt-out, syntax. */
    Xd__CheckRecipientsRequest chk = XD__CHECK_RECIPIENTS_REQUEST__INIT;
    chk.org_id = (char *)org_id;
    chk.addresses = (char **)xd_arena_ptrs(req->arena, n);
    for (size_t i = 0; i < n; i++)
        chk.addresses[i] = rs[i].addr->address;
    chk.n_addresses = n;
    chk.category = sr->module;
    rc = call_svc(ctx, req, GW_SVC_VERIFY, "CheckRecipients", &chk.base,
                  &xd__check_recipients_reply__descriptor, &m, err);
    const Xd__CheckRecipientsReply *checks = (const Xd__CheckRecipientsReply *)m;
    if (rc == XD_OK && checks->n_checks != n)
        rc = xd_err_set(err, XD_INTERNAL, "verify answered %zu checks for %zu recipients",
                        checks->n_checks, n);
    if (rc != XD_OK) {
        gw_quota_refund(ctx, req, consume, (uint32_t)n);
        return rc;
    }

    /* 3. What may go. */
    rep->recipients = (Xd__RecipientOutcome **)xd_arena_ptrs(req->arena, n);
    rep->n_recipients = n;
    Xd__SubmitRequest *sub = xd_arena_alloc(req->arena, sizeof(*sub));
    *sub = *sr;
    sub->org_id = (char *)org_id;
    Xd__MailAddress **kept[3];
    size_t n_kept[3] = {0, 0, 0}, queued_candidates = 0;
    for (int l = 0; l < 3; l++)
        kept[l] = (Xd__MailAddress **)xd_arena_ptrs(req->arena, counts[l] ? counts[l] : 1);
    for (size_t i = 0; i < n; i++) {
        Xd__RecipientOutcome *o = xd_arena_message(req->arena, &xd__recipient_outcome__descriptor);
        const Xd__AddressCheck *c = checks->checks[i];
        o->address = rs[i].addr->address;
        if (c->verdict == XD__ADDRESS_VERDICT__ADDRESS_VERDICT_SUPPRESSED) {
            o->outcome = XD__RECIPIENT_OUTCOME__OUTCOME__OUTCOME_SUPPRESSED;
            if (c->suppression) {
                o->reason =
                    xd_arena_printf(req->arena, "%s (%s)", suppression_reason(c->suppression),
                                    c->suppression->source);
                o->since_ms = c->suppression->created_ms;
            } else {
                o->reason = c->summary;
            }
        } else if (c->verdict == XD__ADDRESS_VERDICT__ADDRESS_VERDICT_INVALID_SYNTAX ||
                   c->verdict == XD__ADDRESS_VERDICT__ADDRESS_VERDICT_NO_MAIL_DOMAIN) {
            o->outcome = XD__RECIPIENT_OUTCOME__OUTCOME__OUTCOME_INVALID;
            o->reason = c->syntax_diagnosis[0] ? c->syntax_diagnosis : c->summary;
        } else {
            kept[rs[i].kind][n_kept[rs[i].kind]++] = rs[i].addr;
            queued_candidates++;
        }
        rs[i].outcome = o;
        rep->recipients[i] = o;
    }
    if (queued_candidates == 0) {
        gw_quota_refund(ctx, req, consume, (uint32_t)n);
        return XD_OK;
    }
    sub->to = kept[0];
    sub->n_to = n_kept[0];
    sub->cc = kept[1];
    sub->n_cc = n_kept[1];
    sub->bcc = kept[2];
    sub->n_bcc = n_kept[2];

    /* 4. Durable queueing at the sender. */
    rc = call_svc(ctx, req, GW_SVC_SENDER, "Submit", &sub->base, &xd__submit_reply__descriptor, &m,
                  err);
    if (rc != XD_OK) {
        gw_quota_refund(ctx, req, consume, (uint32_t)n);
        return rc;
    }
    const Xd__SubmitReply *submitted = (const Xd__SubmitReply *)m;
    rep->message_id = submitted->message_id;
    size_t queued = 0;
    for (size_t i = 0; i < n; i++) {
        Xd__RecipientOutcome *o = rs[i].outcome;
        if (o->outcome != XD__RECIPIENT_OUTCOME__OUTCOME__OUTCOME_UNSPECIFIED)
            continue;
        for (size_t j = 0; j < submitted->n_recipients; j++)
            if (strcasecmp(submitted->recipients[j]->address, o->address) == 0) {
                o->outcome = XD__RECIPIENT_OUTCOME__OUTCOME__OUTCOME_QUEUED;
                o->recipient_id = submitted->recipients[j]->recipient_id;
                queued++;
                break;
            }
        if (o->outcome == XD__RECIPIENT_OUTCOME__OUTCOME__OUTCOME_UNSPECIFIED) {
            o->outcome = XD__RECIPIENT_OUTCOME__OUTCOME__OUTCOME_INVALID;
            o->reason = "the sender did not queue this recipient";
        }
    }
    /* 5. Give back what was reserved but not queued. */
    gw_quota_refund(ctx, req, consume, (uint32_t)(n - queued));
    return XD_OK;
}
