/* gw_api.c: authentication, authorization and dispatch of public methods. */
#include "gw_api.h"
#include "gw_perm.h"
#include "gw_unsubscribe.h"
#include "xd/log.h"
#include "xd/util.h"

#include <string.h>

typedef struct method_row {
    const char *name;
    gw_method_fn fn;
} method_row;

static const method_row methods[] = {
    {"SendEmail", gw_send_email},
    {"SendTestEmail", gw_send_test_email},
    {"SetBanner", gw_set_banner},
    {"CreateOrganization", gw_create_organization},
    {"GetOrganization", gw_get_organization},
    {"ListOrganizations", gw_list_organizations},
    {"SetOrganizationStatus", gw_set_organization_status},
    {"CreateApiKey", gw_create_api_key},
    {"ListApiKeys", gw_list_api_keys},
    {"RevokeApiKey", gw_revoke_api_key},
    {"WhoAmI", gw_who_am_i},
    {"SuiteHealth", gw_suite_health},
    {"Health", gw_health},
    {"Unsubscribe", gw_unsubscribe_method},
};

static gw_method_fn find_method(const char *name)
{
    for (size_t i = 0; i < XD_ARRAY_LEN(methods); i++)
        if (strcmp(methods[i].name, name) == 0)
            return methods[i].fn;
    return NULL;
}

int gw_api_implemented(const char *method)
{
    return find_method(method) != NULL || gw_facade_exists(method);
}

xd_code gw_api_dispatch(gw_ctx *ctx, gw_req *req, const ProtobufCMessage *in, ProtobufCMessage *out,
                        xd_err *err)
{
    gw_method_fn fn = find_method(req->method);
    if (!fn && gw_facade_exists(req->method))
        fn = gw_facade_call;
    if (!gw_perm_public(req->method)) {
        xd_code rc = gw_store_authenticate(ctx->store, req->credential, &req->key, err);
        if (rc != XD_OK)
            return rc;
        req->caller = (Xd__Caller)XD__CALLER__INIT;
        req->caller.org_id = req->key.org_id;
        req->caller.role = (Xd__Role)req->key.role;
        req->caller.principal = req->key.id;
        if (!gw_perm_allowed(req->method, req->key.role)) {
            const char *who = gw_perm_roles_text(req->method);
            return xd_err_set(err, XD_PERMISSION_DENIED, "a %s key may not call %s%s%s",
                              gw_role_name(req->key.role), req->method,
                              who[0] ? "; it needs a key with role " : "", who);
        }
    }
    if (!fn)
        return xd_err_set(err, XD_UNIMPLEMENTED,
                          "%s is part of the gateway contract but not built yet", req->method);
    return fn(ctx, req, in, out, err);
}

xd_code gw_target_org(gw_ctx *ctx, gw_req *req, const char *requested, const char **org_out,
                      xd_err *err)
{
    if (!requested || !requested[0] || strcmp(requested, req->key.org_id) == 0) {
        *org_out = req->key.org_id;
        return XD_OK;
    }
    if (req->key.role != XD__ROLE__ROLE_OPERATOR || strlen(requested) > GW_ORG_ID_MAX)
        return xd_err_field(err, XD_NOT_FOUND, "org_id", "organization '%.40s' does not exist",
                            requested);
    gw_org org;
    xd_code rc = gw_store_get_org(ctx->store, requested, &org, err);
    if (rc == XD_OK) {
        *org_out = requested;
        /* The operator acts for that organization now: services that hold
         * the caller to its own organization (the sender) see it as the
         * caller's; role and principal still say who it is. */
        req->caller.org_id = xd_arena_strdup(req->arena, requested);
    }
    return rc;
}

xd_code gw_call_options(const gw_req *req, xd_call_options *o, xd_err *err)
{
    memset(o, 0, sizeof(*o));
    o->caller = &req->caller;
    if (req->deadline_ms) {
        int64_t left = req->deadline_ms - xd_monotonic_ms();
        if (left <= 0)
            return xd_err_set(err, XD_DEADLINE_EXCEEDED,
                              "the call's deadline passed inside the gateway; retry with more "
                              "time");
        o->timeout_ms = left;
    }
    return XD_OK;
}

xd_code gw_check_text(const char *field, const char *value, size_t min, size_t max, xd_err *err)
{
    size_t n = value ? strlen(value) : 0;
    if (n < min)
        return xd_err_field(err, XD_INVALID_ARGUMENT, field, "%s is required", field);
    if (n > max)
        return xd_err_field(err, XD_INVALID_ARGUMENT, field,
                            "%s is %zu octets long; at most %zu are allowed", field, n, max);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)value[i];
        if (c < 0x20 || c == 0x7f)
            return xd_err_field(err, XD_INVALID_ARGUMENT, field,
                                "%s contains a control character (CR, LF, tab, ...) at octet "
                                "%zu: remove it",
                                field, i);
    }
    return XD_OK;
}

void gw_fill_self_health(gw_ctx *ctx, xd_arena *arena, Xd__HealthReply *h)
{
    h->status = XD__HEALTH_REPLY__STATUS__STATUS_SERVING;
    h->service = xd_arena_strdup(arena, "gateway");
    h->version = xd_arena_strdup(arena, XD_VERSION_STRING);
    h->uptime_ms = xd_monotonic_ms() - ctx->started_ms;
    h->rss_kib = xd_rss_kib(0);
}

xd_code gw_health(gw_ctx *ctx, gw_req *req, const ProtobufCMessage *in, ProtobufCMessage *out,
                  xd_err *err)
{
    (void)in;
    (void)err;
    gw_fill_self_health(ctx, req->arena, (Xd__HealthReply *)out);
    return XD_OK;
}
