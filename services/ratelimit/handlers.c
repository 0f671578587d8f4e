/* handlers.c: maps the Ratelimit protobuf messages to the engine (plain
 * structs) and waits for the commit the engine asks for before a mutating
 * reply (none for a Consume covered by durable headroom). Everything a
 * reply holds lives in the call arena. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include "ratelimit.pb-c.h"
#include "rl_service.h"
#include "xd/arena.h"

static rl_service *svc_of(xd_call *call)
{
    return xd_call_service(call);
}

static rl_subject subject_of(const Xd__Subject *s)
{
    rl_subject out = {0};
    if (s) {
        out.org_id = s->org_id;
        out.ip = s->ip;
        out.domain = s->domain;
        out.provider = s->provider;
        out.mx_host = s->mx_host;
    }
    return out;
}

/* A caller acting for an organization (set by the gateway) may only name
 * its own organization. */
static xd_code check_org(xd_call *call, const Xd__Subject *s, xd_err *err)
{
    const Xd__Caller *c = xd_call_caller(call);
    if (c->org_id && c->org_id[0] && (!s || !s->org_id || strcmp(s->org_id, c->org_id) != 0))
        return xd_err_field(err, XD_PERMISSION_DENIED, "subject.org_id",
                            "subject.org_id must be the calling organization");
    return XD_OK;
}

/* Replies only once what the answer relies on is committed (seq from the
 * engine); UNAVAILABLE otherwise (the caller retries with the same id and
 * gets the same answer). */
static xd_code wait_durable(xd_call *call, uint64_t seq, xd_err *err)
{
    if (seq == 0) /* covered by durable headroom: nothing to wait for */
        return XD_OK;
    rl_service *svc = svc_of(call);
    int64_t wait = svc->durable_timeout_ms;
    int64_t left = xd_call_remaining_ms(call);
    if (left < wait)
        wait = left > 0 ? left : 1;
    if (rl_engine_wait_durable(svc->engine, seq, wait) != 0) {
        err->retry_after_ms = 100;
        return xd_err_set(err, XD_UNAVAILABLE,
                          "ratelimit could not commit the decision to its database in time; "
                          "retry with the same request id");
    }
    return XD_OK;
}

static const char *kind_str(rl_kind k)
{
    return rl_kind_name(k);
}

static xd_code do_consume(xd_call *call, const ProtobufCMessage *req, ProtobufCMessage *reply,
                          xd_err *err, int commit)
{
    const Xd__ConsumeRequest *in = (const Xd__ConsumeRequest *)req;
    Xd__ConsumeReply *out = (Xd__ConsumeReply *)reply;
    rl_service *svc = svc_of(call);
    xd_arena *a = xd_call_arena(call);
    xd_code orc = check_org(call, in->subject, err);
    if (orc != XD_OK)
        return orc;
    rl_subject s = subject_of(in->subject);
    rl_decision *d = xd_arena_alloc(a, sizeof(*d));
    xd_code rc = rl_engine_consume(svc->engine, in->request_id, &s, in->recipients,
                                   in->allow_partial, commit, xd_clock_now_ms(svc->clock), d, err);
    if (rc != XD_OK)
        return rc;
    if (commit && (rc = wait_durable(call, d->seq, err)) != XD_OK)
        return rc;
    out->decision = d->verdict == RL_GRANTED   ? XD__DECISION__DECISION_GRANTED
                    : d->verdict == RL_PARTIAL ? XD__DECISION__DECISION_PARTIAL
                                               : XD__DECISION__DECISION_DENIED;
    out->granted = d->granted;
    out->binding_rule = xd_arena_strdup(a, d->binding_rule);
    out->retry_after_ms = d->retry_after_ms;
    out->reason = xd_arena_strdup(a, d->reason);
    out->replayed = d->replayed;
    out->provider = xd_arena_strdup(a, d->provider);
    out->n_rules = (size_t)d->n_rules;
    out->rules = (Xd__RuleOutcome **)xd_arena_ptrs(a, out->n_rules);
    for (int i = 0; i < d->n_rules; i++) {
        Xd__RuleOutcome *o = xd_arena_message(a, &xd__rule_outcome__descriptor);
        o->rule = xd_arena_strdup(a, d->rules[i].rule);
        o->kind = xd_arena_strdup(a, kind_str(d->rules[i].kind));
        o->effective_limit = d->rules[i].effective_limit;
        o->available = d->rules[i].available;
        o->retry_after_ms = d->rules[i].retry_after_ms;
        out->rules[i] = o;
    }
    return XD_OK;
}

static xd_code h_consume(xd_call *call, const ProtobufCMessage *req, ProtobufCMessage *reply,
                         xd_err *err)
{
    return do_consume(call, req, reply, err, 1);
}

static xd_code h_check(xd_call *call, const ProtobufCMessage *req, ProtobufCMessage *reply,
                       xd_err *err)
{
    return do_consume(call, req, reply, err, 0);
}

static xd_code h_refund(xd_call *call, const ProtobufCMessage *req, ProtobufCMessage *reply,
                        xd_err *err)
{
    const Xd__RefundRequest *in = (const Xd__RefundRequest *)req;
    Xd__RefundReply *out = (Xd__RefundReply *)reply;
    rl_service *svc = svc_of(call);
    uint32_t refunded = 0;
    uint64_t seq = 0;
    xd_code rc =
        rl_engine_refund(svc->engine, in->request_id, in->consume_request_id, in->recipients,
                         xd_clock_now_ms(svc->clock), &refunded, &seq, err);
    if (rc == XD_OK)
        rc = wait_durable(call, seq, err);
    out->refunded = refunded;
    return rc;
}

static xd_code h_acquire(xd_call *call, const ProtobufCMessage *req, ProtobufCMessage *reply,
                         xd_err *err)
{
    const Xd__AcquireConnectionRequest *in = (const Xd__AcquireConnectionRequest *)req;
    Xd__AcquireConnectionReply *out = (Xd__AcquireConnectionReply *)reply;
    rl_service *svc = svc_of(call);
    xd_arena *a = xd_call_arena(call);
    xd_code orc = check_org(call, in->subject, err);
    if (orc != XD_OK)
        return orc;
    rl_subject s = subject_of(in->subject);
    rl_lease_grant g;
    xd_code rc =
        rl_engine_acquire(svc->engine, in->request_id, &s, xd_clock_now_ms(svc->clock), &g, err);
    if (rc == XD_OK && g.granted)
        rc = wait_durable(call, g.seq, err);
    if (rc != XD_OK)
        return rc;
    out->granted = g.granted;
    out->lease_id = xd_arena_strdup(a, g.lease_id);
    out->expires_at_ms = g.expires_at_ms;
    out->messages_per_connection = g.messages_per_connection;
    out->retry_after_ms = g.retry_after_ms;
    out->binding_rule = xd_arena_strdup(a, g.binding_rule);
    out->reason = xd_arena_strdup(a, g.reason);
    return XD_OK;
}

static xd_code h_renew(xd_call *call, const ProtobufCMessage *req, ProtobufCMessage *reply,
                       xd_err *err)
{
    const Xd__RenewConnectionRequest *in = (const Xd__RenewConnectionRequest *)req;
    Xd__RenewConnectionReply *out = (Xd__RenewConnectionReply *)reply;
    rl_service *svc = svc_of(call);
    int64_t expires = 0;
    uint64_t seq = 0;
    xd_code rc = rl_engine_renew(svc->engine, in->lease_id, xd_clock_now_ms(svc->clock), &expires,
                                 &seq, err);
    if (rc == XD_OK)
        rc = wait_durable(call, seq, err);
    out->expires_at_ms = expires;
    return rc;
}

static xd_code h_release(xd_call *call, const ProtobufCMessage *req, ProtobufCMessage *reply,
                         xd_err *err)
{
    const Xd__ReleaseConnectionRequest *in = (const Xd__ReleaseConnectionRequest *)req;
    Xd__ReleaseConnectionReply *out = (Xd__ReleaseConnectionReply *)reply;
    rl_service *svc = svc_of(call);
    int released = 0;
    uint64_t seq = 0;
    xd_code rc = rl_engine_release(svc->engine, in->lease_id, xd_clock_now_ms(svc->clock),
                                   &released, &seq, err);
    if (rc == XD_OK)
        rc = wait_durable(call, seq, err);
    out->released = released;
    return rc;
}

static Xd__Tier tier_pb(rl_tier t)
{
    return (Xd__Tier)t; /* same numbering by design */
}

static xd_code h_feedback(xd_call *call, const ProtobufCMessage *req, ProtobufCMessage *reply,
                          xd_err *err)
{
    const Xd__FeedbackRequest *in = (const Xd__FeedbackRequest *)req;
    Xd__FeedbackReply *out = (Xd__FeedbackReply *)reply;
    rl_service *svc = svc_of(call);
    xd_arena *a = xd_call_arena(call);
    xd_code orc = check_org(call, in->subject, err);
    if (orc != XD_OK)
        return orc;
    rl_subject s = subject_of(in->subject);
    rl_feedback_result *r = xd_arena_alloc(a, sizeof(*r));
    xd_code rc = rl_engine_feedback(
        svc->engine, in->event_id, &s, (rl_feedback_kind)in->kind, in->smtp ? in->smtp->code : 0,
        in->smtp ? in->smtp->enhanced_code : "", in->smtp ? in->smtp->text : "", in->recipients,
        xd_clock_now_ms(svc->clock), r, err);
    if (rc == XD_OK)
        rc = wait_durable(call, r->seq, err);
    if (rc != XD_OK)
        return rc;
    out->n_matched_patterns = (size_t)r->n_matched;
    out->matched_patterns = (char **)xd_arena_ptrs(a, out->n_matched_patterns);
    for (int i = 0; i < r->n_matched; i++)
        out->matched_patterns[i] = xd_arena_strdup(a, r->matched[i]);
    out->org_tier = tier_pb(r->org_tier);
    out->ip_tier = tier_pb(r->ip_tier);
    return XD_OK;
}

static xd_code h_set_policy(xd_call *call, const ProtobufCMessage *req, ProtobufCMessage *reply,
                            xd_err *err)
{
    const Xd__SetPolicyRequest *in = (const Xd__SetPolicyRequest *)req;
    Xd__SetPolicyReply *out = (Xd__SetPolicyReply *)reply;
    rl_service *svc = svc_of(call);
    const Xd__Caller *caller = xd_call_caller(call);
    if (caller->role != XD__ROLE__ROLE_OPERATOR && caller->role != XD__ROLE__ROLE_SERVICE &&
        caller->role != XD__ROLE__ROLE_UNSPECIFIED)
        return xd_err_set(err, XD_PERMISSION_DENIED,
                          "SetPolicy needs an operator (the policy is suite-wide)");
    uint64_t version = 0, seq = 0;
    uint32_t n = 0;
    xd_code rc = rl_engine_set_policy(svc->engine, in->policy_json, in->expected_version, &version,
                                      &n, &seq, err);
    if (rc == XD_OK)
        rc = wait_durable(call, seq, err);
    out->version = version;
    out->rules = n;
    return rc;
}

static xd_code h_explain(xd_call *call, const ProtobufCMessage *req, ProtobufCMessage *reply,
                         xd_err *err)
{
    const Xd__ExplainRequest *in = (const Xd__ExplainRequest *)req;
    Xd__ExplainReply *out = (Xd__ExplainReply *)reply;
    rl_service *svc = svc_of(call);
    xd_arena *a = xd_call_arena(call);
    xd_code orc = check_org(call, in->subject, err);
    if (orc != XD_OK)
        return orc;
    rl_subject s = subject_of(in->subject);
    rl_explain *x = xd_arena_alloc(a, sizeof(*x));
    xd_code rc = rl_engine_explain(svc->engine, &s, xd_clock_now_ms(svc->clock), x, err);
    if (rc != XD_OK)
        return rc;
    out->n_rules = (size_t)x->n_rules;
    out->rules = (Xd__RuleState **)xd_arena_ptrs(a, out->n_rules);
    for (int i = 0; i < x->n_rules; i++) {
        const rl_rule_state *st = &x->rules[i];
        Xd__RuleState *o = xd_arena_message(a, &xd__rule_state__descriptor);
        o->rule = xd_arena_strdup(a, st->rule);
        o->kind = xd_arena_strdup(a, kind_str(st->kind));
        o->key = xd_arena_strdup(a, st->key);
        o->base_limit = st->base_limit;
        o->effective_limit = st->effective_limit;
        o->used = st->used;
        o->available = st->available;
        o->period_ms = st->period_ms;
        o->why = xd_arena_strdup(a, st->why);
        out->rules[i] = o;
    }
    out->org_tier = tier_pb(x->org_tier);
    out->org_tier_why = xd_arena_strdup(a, x->org_why);
    out->ip_tier = tier_pb(x->ip_tier);
    out->ip_tier_why = xd_arena_strdup(a, x->ip_why);
    out->n_penalties = (size_t)x->n_penalties;
    out->penalties = (char **)xd_arena_ptrs(a, out->n_penalties);
    for (int i = 0; i < x->n_penalties; i++)
        out->penalties[i] = xd_arena_strdup(a, x->penalties[i]);
    out->provider = xd_arena_strdup(a, x->provider);
    out->policy_version = x->policy_version;
    return XD_OK;
}

/* Health is answered by the RPC server itself (status, uptime, in-flight,
 * resident memory). */
const xd_method_impl rl_methods[] = {
    {"Consume", h_consume},       {"Check", h_check},
    {"Refund", h_refund},         {"AcquireConnection", h_acquire},
    {"RenewConnection", h_renew}, {"ReleaseConnection", h_release},
    {"Feedback", h_feedback},     {"SetPolicy", h_set_policy},
    {"Explain", h_explain},
};
const int rl_n_methods = (int)(sizeof(rl_methods) / sizeof(rl_methods[0]));
