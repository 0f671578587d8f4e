/* gw_send.c: SendEmail: organization status, idempotency, then the pipeline. */
#include "gw_api.h"
#include "xd/log.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#define IDEM_STALE_MS 60000 /* a reservation this old belongs to a dead process */

/* Reads a string field by name (the request type changes when the sender's
 * contract lands; the names stay). "" when absent. */
static const char *string_field(const ProtobufCMessage *m, const char *name)
{
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field_by_name(m->descriptor, name);
    if (!f || f->type != PROTOBUF_C_TYPE_STRING || f->label == PROTOBUF_C_LABEL_REPEATED)
        return "";
    const char *v = *(const char *const *)((const char *)m + f->offset);
    return v ? v : "";
}

/* SHA-256 over the organization and the packed request: the same request
 * sent again packs to the same bytes (protobuf-c packs in field order). */
static void request_digest(const char *org_id, const ProtobufCMessage *in, xd_arena *arena,
                           unsigned char digest[GW_DIGEST_LEN])
{
    size_t n = protobuf_c_message_get_packed_size(in);
    uint8_t *buf = xd_arena_alloc(arena, n ? n : 1);
    protobuf_c_message_pack(in, buf);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned int len = GW_DIGEST_LEN;
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    EVP_DigestUpdate(md, org_id, strlen(org_id) + 1);
    EVP_DigestUpdate(md, buf, n);
    EVP_DigestFinal_ex(md, digest, &len);
    EVP_MD_CTX_free(md);
}

static xd_code check_idempotency_key(const char *key, xd_err *err)
{
    size_t n = strlen(key);
    if (n > GW_IDEM_KEY_MAX)
        return xd_err_field(err, XD_INVALID_ARGUMENT, "idempotency_key",
                            "idempotency_key is %zu octets; at most %d are allowed", n,
                            GW_IDEM_KEY_MAX);
    for (size_t i = 0; i < n; i++)
        if (key[i] < 0x21 || key[i] > 0x7e)
            return xd_err_field(err, XD_INVALID_ARGUMENT, "idempotency_key",
                                "idempotency_key must be printable ASCII without spaces "
                                "(octet %zu is not)",
                                i);
    return XD_OK;
}

static xd_code replay(xd_arena *arena, const unsigned char *bytes, size_t len,
                      ProtobufCMessage *out, xd_err *err)
{
    ProtobufCMessage *m =
        protobuf_c_message_unpack(out->descriptor, xd_arena_allocator(arena), len, bytes);
    if (!m)
        return xd_err_set(err, XD_DATA_LOSS,
                          "the stored reply for this idempotency key is "
                          "unreadable; send with a new key");
    memcpy(out, m, out->descriptor->sizeof_message);
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field_by_name(out->descriptor, "duplicate");
    if (f && f->type == PROTOBUF_C_TYPE_BOOL)
        *(protobuf_c_boolean *)((char *)out + f->offset) = 1;
    return XD_OK;
}

xd_code gw_org_may_send(gw_ctx *ctx, const char *org_id, xd_err *err)
{
    gw_org org;
    xd_code rc = gw_store_get_org(ctx->store, org_id, &org, err);
    if (rc != XD_OK || org.status != GW_ORG_SUSPENDED)
        return rc;
    char since[40];
    xd_format_rfc3339(org.status_since_ms, since, sizeof(since));
    return xd_err_set(err, XD_FAILED_PRECONDITION,
                      "organization %s is suspended since %s: %s (email is disabled until "
                      "Xenegrade enables it again)",
                      org.id, since, org.reason);
}

xd_code gw_send_email(gw_ctx *ctx, gw_req *req, const ProtobufCMessage *in, ProtobufCMessage *out,
                      xd_err *err)
{
    const char *org_id = NULL;
    xd_code rc = gw_target_org(ctx, req, string_field(in, "org_id"), &org_id, err);
    if (rc == XD_OK)
        rc = gw_org_may_send(ctx, org_id, err);
    if (rc != XD_OK)
        return rc;
    const char *key = string_field(in, "idempotency_key");
    rc = check_idempotency_key(key, err);
    if (rc != XD_OK)
        return rc;
    gw_send_fn send = ctx->send ? ctx->send : gw_send_pipeline;
    if (!key[0])
        return send(ctx, req, org_id, in, out, err);

    unsigned char digest[GW_DIGEST_LEN];
    request_digest(org_id, in, req->arena, digest);
    gw_idem_state state;
    unsigned char *stored = NULL;
    size_t stored_len = 0;
    int64_t first_ms = 0;
    rc = gw_store_idem_begin(ctx->store, org_id, key, digest, ctx->idem_ttl_ms, IDEM_STALE_MS,
                             &state, &stored, &stored_len, &first_ms, err);
    if (rc != XD_OK)
        return rc;
    char first[40];
    xd_format_rfc3339(first_ms, first, sizeof(first));
    switch (state) {
    case GW_IDEM_REPLAY:
        rc = replay(req->arena, stored, stored_len, out, err);
        free(stored);
        return rc;
    case GW_IDEM_MISMATCH:
        return xd_err_field(err, XD_ALREADY_EXISTS, "idempotency_key",
                            "idempotency_key '%s' was already used at %s for a different "
                            "request; use a new key for a new message",
                            key, first);
    case GW_IDEM_IN_PROGRESS:
        err->retry_after_ms = 1000;
        return xd_err_field(err, XD_ABORTED, "idempotency_key",
                            "a SendEmail with idempotency_key '%s' (started %s) is still "
                            "running; retry in a second to get its reply",
                            key, first);
    case GW_IDEM_NEW:
        break;
    }
    rc = send(ctx, req, org_id, in, out, err);
    if (rc != XD_OK) {
        gw_store_idem_abandon(ctx->store, org_id, key);
        return rc;
    }
    size_t n = protobuf_c_message_get_packed_size(out);
    uint8_t *buf = xd_arena_alloc(req->arena, n ? n : 1);
    protobuf_c_message_pack(out, buf);
    xd_err store_err;
    xd_err_clear(&store_err);
    if (gw_store_idem_finish(ctx->store, org_id, key, buf, n, &store_err) != XD_OK)
        XD_WARN("idempotency key of %s not stored (a retry re-runs the send, which the sender "
                "deduplicates): %s",
                org_id, store_err.message);
    return XD_OK;
}
