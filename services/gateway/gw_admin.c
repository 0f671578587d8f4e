/* gw_admin.c: the methods the gateway owns: organizations and API keys. */
#include "gw_api.h"
#include "gw_perm.h"
#include "xd/log.h"

#include <stdlib.h>
#include <string.h>

#define LIST_DEFAULT 100
#define LIST_MAX     1000
#define KEYS_MAX     1000

static Xd__Organization *org_message(xd_arena *a, const gw_org *o, Xd__Organization *m)
{
    m->org_id = xd_arena_strdup(a, o->id);
    m->name = xd_arena_strdup(a, o->name);
    m->status = (Xd__OrgStatus)o->status;
    m->status_reason = xd_arena_strdup(a, o->reason);
    m->status_since_ms = o->status_since_ms;
    m->status_changed_by = xd_arena_strdup(a, o->status_changed_by);
    m->created_at_ms = o->created_ms;
    m->operator_org = o->operator_org != 0;
    return m;
}

static Xd__ApiKey *key_message(xd_arena *a, const gw_api_key *k, Xd__ApiKey *m)
{
    m->key_id = xd_arena_strdup(a, k->id);
    m->org_id = xd_arena_strdup(a, k->org_id);
    m->role = (Xd__Role)k->role;
    m->label = xd_arena_strdup(a, k->label);
    m->created_at_ms = k->created_ms;
    m->created_by = xd_arena_strdup(a, k->created_by);
    m->revoked_at_ms = k->revoked_ms;
    return m;
}

xd_code gw_create_organization(gw_ctx *ctx, gw_req *req, const ProtobufCMessage *in,
                               ProtobufCMessage *out, xd_err *err)
{
    const Xd__CreateOrganizationRequest *r = (const Xd__CreateOrganizationRequest *)in;
    xd_code rc = gw_check_text("name", r->name, 1, GW_ORG_NAME_MAX, err);
    if (rc != XD_OK)
        return rc;
    gw_org org;
    rc = gw_store_create_org(ctx->store, r->name, 0, &org, err);
    if (rc == XD_OK) {
        XD_INFO("organization %s created by key %s", org.id, req->key.id);
        org_message(req->arena, &org, (Xd__Organization *)out);
    }
    return rc;
}

xd_code gw_get_organization(gw_ctx *ctx, gw_req *req, const ProtobufCMessage *in,
                            ProtobufCMessage *out, xd_err *err)
{
    const Xd__GetOrganizationRequest *r = (const Xd__GetOrganizationRequest *)in;
    const char *org_id = NULL;
    xd_code rc = gw_target_org(ctx, req, r->org_id, &org_id, err);
    gw_org org;
    if (rc == XD_OK)
        rc = gw_store_get_org(ctx->store, org_id, &org, err);
    if (rc == XD_OK)
        org_message(req->arena, &org, (Xd__Organization *)out);
    return rc;
}

xd_code gw_list_organizations(gw_ctx *ctx, gw_req *req, const ProtobufCMessage *in,
                              ProtobufCMessage *out, xd_err *err)
{
    const Xd__ListOrganizationsRequest *r = (const Xd__ListOrganizationsRequest *)in;
    Xd__ListOrganizationsReply *rep = (Xd__ListOrganizationsReply *)out;
    int max = LIST_DEFAULT;
    const char *after = "";
    if (r->page) {
        if (r->page->page_size > LIST_MAX)
            return xd_err_field(err, XD_INVALID_ARGUMENT, "page.page_size",
                                "page_size %u is over the limit of %d", r->page->page_size,
                                LIST_MAX);
        if (r->page->page_size)
            max = (int)r->page->page_size;
        after = r->page->page_token;
    }
    gw_org *orgs = xd_arena_alloc(req->arena, sizeof(gw_org) * (size_t)(max + 1));
    int n = 0;
    xd_code rc = gw_store_list_orgs(ctx->store, after, max + 1, orgs, &n, err);
    if (rc != XD_OK)
        return rc;
    int more = n > max;
    if (more)
        n = max;
    rep->organizations = (Xd__Organization **)xd_arena_ptrs(req->arena, (size_t)n);
    for (int i = 0; i < n; i++) {
        Xd__Organization *m = xd_arena_message(req->arena, &xd__organization__descriptor);
        rep->organizations[i] = org_message(req->arena, &orgs[i], m);
    }
    rep->n_organizations = (size_t)n;
    rep->page = xd_arena_message(req->arena, &xd__page_reply__descriptor);
    rep->page->next_page_token = xd_arena_strdup(req->arena, more ? orgs[n - 1].id : "");
    return XD_OK;
}

xd_code gw_set_organization_status(gw_ctx *ctx, gw_req *req, const ProtobufCMessage *in,
                                   ProtobufCMessage *out, xd_err *err)
{
    const Xd__SetOrganizationStatusRequest *r = (const Xd__SetOrganizationStatusRequest *)in;
    if (r->status != XD__ORG_STATUS__ORG_STATUS_ENABLED &&
        r->status != XD__ORG_STATUS__ORG_STATUS_SUSPENDED)
        return xd_err_field(err, XD_INVALID_ARGUMENT, "status",
                            "status must be ORG_STATUS_ENABLED or ORG_STATUS_SUSPENDED");
    xd_code rc = gw_check_text("org_id", r->org_id, 1, GW_ORG_ID_MAX, err);
    if (rc == XD_OK && r->status == XD__ORG_STATUS__ORG_STATUS_SUSPENDED)
        rc = gw_check_text("reason", r->reason, 1, GW_REASON_MAX, err);
    gw_org org;
    if (rc == XD_OK)
        rc = gw_store_get_org(ctx->store, r->org_id, &org, err);
    if (rc == XD_OK && org.operator_org && r->status == XD__ORG_STATUS__ORG_STATUS_SUSPENDED)
        return xd_err_field(err, XD_FAILED_PRECONDITION, "org_id",
                            "the operator organization cannot be suspended");
    if (rc == XD_OK)
        rc = gw_store_set_org_status(ctx->store, r->org_id, (int)r->status, r->reason, req->key.id,
                                     &org, err);
    if (rc != XD_OK)
        return rc;
    XD_INFO("organization %s %s by key %s", org.id,
            org.status == GW_ORG_SUSPENDED ? "suspended" : "enabled", req->key.id);
    org_message(req->arena, &org, (Xd__Organization *)out);
    return XD_OK;
}

xd_code gw_create_api_key(gw_ctx *ctx, gw_req *req, const ProtobufCMessage *in,
                          ProtobufCMessage *out, xd_err *err)
{
    const Xd__CreateApiKeyRequest *r = (const Xd__CreateApiKeyRequest *)in;
    Xd__CreateApiKeyReply *rep = (Xd__CreateApiKeyReply *)out;
    const char *org_id = NULL;
    xd_code rc = gw_target_org(ctx, req, r->org_id, &org_id, err);
    if (rc == XD_OK)
        rc = gw_check_text("label", r->label, 0, GW_LABEL_MAX, err);
    if (rc != XD_OK)
        return rc;
    int role = (int)r->role;
    if (role != XD__ROLE__ROLE_MODULE && role != XD__ROLE__ROLE_SUPPORT &&
        role != XD__ROLE__ROLE_ADMIN && role != XD__ROLE__ROLE_OPERATOR)
        return xd_err_field(err, XD_INVALID_ARGUMENT, "role",
                            "role must be ROLE_MODULE, ROLE_SUPPORT, ROLE_ADMIN or ROLE_OPERATOR");
    if (role == XD__ROLE__ROLE_OPERATOR) {
        if (req->key.role != XD__ROLE__ROLE_OPERATOR)
            return xd_err_field(err, XD_PERMISSION_DENIED, "role",
                                "only an operator key may create operator keys");
        gw_org org;
        rc = gw_store_get_org(ctx->store, org_id, &org, err);
        if (rc != XD_OK)
            return rc;
        if (!org.operator_org)
            return xd_err_field(err, XD_INVALID_ARGUMENT, "role",
                                "operator keys belong to the operator organization only");
    }
    gw_api_key key;
    char text[GW_KEY_TEXT_MAX];
    rc = gw_store_create_key(ctx->store, org_id, role, r->label, req->key.id, &key, text,
                             sizeof(text), err);
    if (rc != XD_OK)
        return rc;
    XD_INFO("API key %s (%s) for %s created by key %s", key.id, gw_role_name(role), org_id,
            req->key.id);
    rep->key =
        key_message(req->arena, &key, xd_arena_message(req->arena, &xd__api_key__descriptor));
    rep->secret_key = xd_arena_strdup(req->arena, text);
    memset(text, 0, sizeof(text));
    return XD_OK;
}

xd_code gw_list_api_keys(gw_ctx *ctx, gw_req *req, const ProtobufCMessage *in,
                         ProtobufCMessage *out, xd_err *err)
{
    const Xd__ListApiKeysRequest *r = (const Xd__ListApiKeysRequest *)in;
    Xd__ListApiKeysReply *rep = (Xd__ListApiKeysReply *)out;
    const char *org_id = NULL;
    xd_code rc = gw_target_org(ctx, req, r->org_id, &org_id, err);
    if (rc != XD_OK)
        return rc;
    gw_api_key *keys = malloc(sizeof(gw_api_key) * KEYS_MAX);
    if (!keys)
        return xd_err_set(err, XD_INTERNAL, "out of memory");
    int n = 0;
    rc = gw_store_list_keys(ctx->store, org_id, r->include_revoked, keys, KEYS_MAX, &n, err);
    if (rc == XD_OK) {
        rep->keys = (Xd__ApiKey **)xd_arena_ptrs(req->arena, (size_t)n);
        for (int i = 0; i < n; i++)
            rep->keys[i] = key_message(req->arena, &keys[i],
                                       xd_arena_message(req->arena, &xd__api_key__descriptor));
        rep->n_keys = (size_t)n;
    }
    free(keys);
    return rc;
}

xd_code gw_revoke_api_key(gw_ctx *ctx, gw_req *req, const ProtobufCMessage *in,
                          ProtobufCMessage *out, xd_err *err)
{
    const Xd__RevokeApiKeyRequest *r = (const Xd__RevokeApiKeyRequest *)in;
    if (!gw_is_hex(r->key_id, GW_KEY_ID_HEX))
        return xd_err_field(err, XD_INVALID_ARGUMENT, "key_id",
                            "key_id must be the 16 hex characters after 'xdk_'");
    gw_api_key key;
    xd_code rc = gw_store_get_key(ctx->store, r->key_id, &key, err);
    /* Another organization's key looks exactly like a missing one. */
    if (rc == XD_OK && req->key.role != XD__ROLE__ROLE_OPERATOR &&
        strcmp(key.org_id, req->key.org_id) != 0)
        return xd_err_field(err, XD_NOT_FOUND, "key_id", "API key '%s' does not exist", r->key_id);
    if (rc == XD_OK)
        rc = gw_store_revoke_key(ctx->store, r->key_id, &key, err);
    if (rc != XD_OK)
        return rc;
    XD_INFO("API key %s revoked by key %s", key.id, req->key.id);
    key_message(req->arena, &key, (Xd__ApiKey *)out);
    return XD_OK;
}

xd_code gw_who_am_i(gw_ctx *ctx, gw_req *req, const ProtobufCMessage *in, ProtobufCMessage *out,
                    xd_err *err)
{
    (void)in;
    Xd__WhoAmIReply *rep = (Xd__WhoAmIReply *)out;
    gw_org org;
    xd_code rc = gw_store_get_org(ctx->store, req->key.org_id, &org, err);
    if (rc != XD_OK)
        return rc;
    rep->key_id = xd_arena_strdup(req->arena, req->key.id);
    rep->org_id = xd_arena_strdup(req->arena, org.id);
    rep->org_name = xd_arena_strdup(req->arena, org.name);
    rep->role = (Xd__Role)req->key.role;
    rep->org_status = (Xd__OrgStatus)org.status;
    return XD_OK;
}
