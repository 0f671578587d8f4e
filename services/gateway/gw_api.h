/*
 * gw_api.h: the gateway's public methods, independent of the transport.
 *
 * The NNG face (handlers.c) and the HTTP face (gw_http.c) both turn a call
 * into a gw_req (method, presented key, deadline) plus the decoded request
 * message, and call gw_api_dispatch(), which authenticates the key, checks
 * the role against gw_perm, and runs the method. Every message lives in
 * req->arena. Thread-safety: gw_api_dispatch may run on many threads at once;
 * gw_ctx is shared and read-only after start-up (its parts lock themselves).
 */
#ifndef GW_API_H
#define GW_API_H

#include <protobuf-c/protobuf-c.h>
#include <stdint.h>
#include "envelope.pb-c.h"
#include "gateway.pb-c.h"
#include "xd/arena.h"
#include "xd/clock.h"
#include "xd/rpc_client.h"
#include "xd/status.h"
#include "gw_backends.h"
#include "gw_store.h"

typedef struct gw_metrics gw_metrics;
typedef struct gw_qstats gw_qstats;
typedef struct gw_ctx gw_ctx;
typedef struct gw_req gw_req;

/* The part of SendEmail after the gateway's own checks (quota, recipients,
 * Submit). org_id is the organization the send acts for. */
typedef xd_code (*gw_send_fn)(gw_ctx *ctx, gw_req *req, const char *org_id,
                              const ProtobufCMessage *in, ProtobufCMessage *out, xd_err *err);

struct gw_ctx {
    gw_store *store;
    const xd_clock *clock;
    gw_backends *backends; /* NULL in unit tests that need no services */
    gw_metrics *metrics;   /* may be NULL */
    gw_qstats *qstats;     /* the sender's queue figures for /metrics; may be NULL */
    int64_t idem_ttl_ms;   /* how long an idempotency key is remembered */
    int64_t health_timeout_ms;
    const char *self_url;      /* the gateway's own listen URL, for SuiteHealth */
    int64_t started_ms;        /* monotonic */
    gw_send_fn send;           /* NULL = gw_send_pipeline */
    const char *optout_secret; /* = the sender's optout.secret; "" = unsubscribe off */
};

struct gw_req {
    xd_arena *arena;
    const char *method;
    const char *credential; /* "xdk_..." as presented; may be NULL */
    const char *request_id;
    int64_t deadline_ms; /* monotonic; 0 = none */
    /* Filled by gw_api_dispatch after authentication. */
    gw_api_key key;
    Xd__Caller caller; /* what services see: org, role, principal = key id */
};

typedef xd_code (*gw_method_fn)(gw_ctx *ctx, gw_req *req, const ProtobufCMessage *in,
                                ProtobufCMessage *out, xd_err *err);

/* Authenticates, authorizes and runs req->method. in must be of the method's
 * input type and out initialised to its output type. */
xd_code gw_api_dispatch(gw_ctx *ctx, gw_req *req, const ProtobufCMessage *in, ProtobufCMessage *out,
                        xd_err *err);

/* 1 when the method has an implementation in the gateway now. */
int gw_api_implemented(const char *method);

/* The organization a request acts on. requested "" = the caller's own. An
 * operator may name any existing organization; any other role only its own:
 * another organization is NOT_FOUND (its existence is not revealed). When an
 * operator names another organization, req->caller.org_id becomes it, so the
 * services see the call as acting for that organization. */
xd_code gw_target_org(gw_ctx *ctx, gw_req *req, const char *requested, const char **org_out,
                      xd_err *err);

/* Options for a call to a service on behalf of req: the derived Caller (never
 * the key) and the time left. DEADLINE_EXCEEDED when none is left. */
xd_code gw_call_options(const gw_req *req, xd_call_options *o, xd_err *err);

/* The methods (gw_admin.c, gw_send.c, gw_health.c). */
xd_code gw_create_organization(gw_ctx *, gw_req *, const ProtobufCMessage *, ProtobufCMessage *,
                               xd_err *);
xd_code gw_get_organization(gw_ctx *, gw_req *, const ProtobufCMessage *, ProtobufCMessage *,
                            xd_err *);
xd_code gw_list_organizations(gw_ctx *, gw_req *, const ProtobufCMessage *, ProtobufCMessage *,
                              xd_err *);
xd_code gw_set_organization_status(gw_ctx *, gw_req *, const ProtobufCMessage *, ProtobufCMessage *,
                                   xd_err *);
xd_code gw_create_api_key(gw_ctx *, gw_req *, const ProtobufCMessage *, ProtobufCMessage *,
                          xd_err *);
xd_code gw_list_api_keys(gw_ctx *, gw_req *, const ProtobufCMessage *, ProtobufCMessage *,
                         xd_err *);
xd_code gw_revoke_api_key(gw_ctx *, gw_req *, const ProtobufCMessage *, ProtobufCMessage *,
                          xd_err *);
xd_code gw_who_am_i(gw_ctx *, gw_req *, const ProtobufCMessage *, ProtobufCMessage *, xd_err *);
xd_code gw_send_email(gw_ctx *, gw_req *, const ProtobufCMessage *, ProtobufCMessage *, xd_err *);
/* gw_banner.c: SetBanner (the org_id sits inside the banner) and
 * SendTestEmail (sender.SendTestCopy to the caller's own address). */
xd_code gw_set_banner(gw_ctx *, gw_req *, const ProtobufCMessage *, ProtobufCMessage *, xd_err *);
xd_code gw_send_test_email(gw_ctx *, gw_req *, const ProtobufCMessage *, ProtobufCMessage *,
                           xd_err *);

/* OK when org_id may send mail now; FAILED_PRECONDITION quoting the
 * suspension's reason and time otherwise (SendEmail, SendTestEmail). */
xd_code gw_org_may_send(gw_ctx *ctx, const char *org_id, xd_err *err);
xd_code gw_suite_health(gw_ctx *, gw_req *, const ProtobufCMessage *, ProtobufCMessage *, xd_err *);
xd_code gw_health(gw_ctx *, gw_req *, const ProtobufCMessage *, ProtobufCMessage *, xd_err *);

/* Calls method on svc on behalf of req (derived Caller, remaining time). A
 * service's error comes back with its name in front ("sender: ..."), so the
 * module sees which part of the suite refused. */
xd_code gw_call_service(gw_ctx *ctx, gw_req *req, gw_service svc, const char *method,
                        const ProtobufCMessage *in, const ProtobufCMessageDescriptor *reply_desc,
                        ProtobufCMessage **out, xd_err *err);

/* Facades (gw_facade.c): one call to one service, scoped to the caller's
 * organization through the request's org_id. */
int gw_facade_exists(const char *method);
xd_code gw_facade_call(gw_ctx *ctx, gw_req *req, const ProtobufCMessage *in, ProtobufCMessage *out,
                       xd_err *err);
/* Calls svc_method on svc with in (org_id scoped) and copies the reply into
 * out (same type as the service's reply). The service's error passes through;
 * a service that is down is UNAVAILABLE naming it. */
xd_code gw_forward(gw_ctx *ctx, gw_req *req, gw_service svc, const char *svc_method,
                   const ProtobufCMessage *in, ProtobufCMessage *out, xd_err *err);

/* The real downstream part of SendEmail (ratelimit, verify, sender). */
xd_code gw_send_pipeline(gw_ctx *ctx, gw_req *req, const char *org_id, const ProtobufCMessage *in,
                         ProtobufCMessage *out, xd_err *err);

/* Reserves n recipients of org_id's quota at ratelimit under the Consume id
 * consume (a repeated id never counts twice). Over quota: RESOURCE_EXHAUSTED
 * with retry_after_ms; nothing is reserved. */
xd_code gw_quota_reserve(gw_ctx *ctx, gw_req *req, const char *org_id, const char *consume,
                         uint32_t n, xd_err *err);
/* Gives back n recipients of an earlier reservation (best effort, logged). */
void gw_quota_refund(gw_ctx *ctx, gw_req *req, const char *consume, uint32_t n);

/* Fills an xd.HealthReply for the gateway process itself. */
void gw_fill_self_health(gw_ctx *ctx, xd_arena *arena, Xd__HealthReply *h);

/* Text checks shared by the methods: 1..max octets (min 0 allows empty),
 * no CR/LF/NUL or other control characters. INVALID_ARGUMENT naming field. */
xd_code gw_check_text(const char *field, const char *value, size_t min, size_t max, xd_err *err);

#endif
