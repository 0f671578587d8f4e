/* handlers.c: protobuf <-> logic for the sender's DKIM key methods, and the
 * service definition (queue methods: queue_handlers.c). */
#include "handlers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deliver_config.h"
#include "sender_banner.h"
#include "sender.pb-c.h"
#include "xd/log.h"
#include "xd/util.h"

/* The caller acts for one organization: the request's org_id must be it
 * (suite-internal callers with an empty caller org may name any). */
xd_code snd_check_org(xd_call *call, const char *org_id, xd_err *err)
{
    if (!org_id || !org_id[0])
        return xd_err_field(err, XD_INVALID_ARGUMENT, "org_id", "org_id is required");
    const Xd__Caller *caller = xd_call_caller(call);
    if (caller->org_id && caller->org_id[0] && strcmp(caller->org_id, org_id) != 0)
        return xd_err_field(err, XD_PERMISSION_DENIED, "org_id",
                            "org_id does not match the calling organization");
    return XD_OK;
}

static snd_dkim_alg alg_from_proto(Xd__DkimAlgorithm a)
{
    return a == XD__DKIM_ALGORITHM__DKIM_ALGORITHM_ED25519_SHA256 ? SND_DKIM_ED25519_SHA256
           : a == XD__DKIM_ALGORITHM__DKIM_ALGORITHM_RSA_SHA256 ||
                   a == XD__DKIM_ALGORITHM__DKIM_ALGORITHM_UNSPECIFIED
               ? SND_DKIM_RSA_SHA256
               : SND_DKIM_ALG_NONE;
}

Xd__DkimKey *snd_dkim_key_to_proto(xd_arena *arena, const snd_dkim_key_info *k)
{
    Xd__DkimKey *p = xd_arena_message(arena, &xd__dkim_key__descriptor);
    p->key_id = xd_arena_strdup(arena, k->key_id);
    p->domain = xd_arena_strdup(arena, k->domain);
    p->selector = xd_arena_strdup(arena, k->selector);
    p->algorithm = k->alg == SND_DKIM_ED25519_SHA256
                       ? XD__DKIM_ALGORITHM__DKIM_ALGORITHM_ED25519_SHA256
                       : XD__DKIM_ALGORITHM__DKIM_ALGORITHM_RSA_SHA256;
    p->bits = (uint32_t)k->bits;
    p->state = (Xd__DkimKeyState)k->state;
    p->created_at_ms = k->created_at_ms;
    p->activated_at_ms = k->activated_at_ms;
    p->retired_at_ms = k->retired_at_ms;
    Xd__DkimDnsRecord *r = xd_arena_message(arena, &xd__dkim_dns_record__descriptor);
    r->name = xd_arena_printf(arena, "%s._domainkey.%s", k->selector, k->domain);
    r->value = xd_arena_strdup(arena, k->txt);
    char chunks[SND_DKIM_MAX_CHUNKS][256];
    int n = snd_dkim_txt_split(k->txt, chunks, SND_DKIM_MAX_CHUNKS);
    if (n < 0)
        n = 0;
    r->n_chunks = (size_t)n;
    r->chunks = (char **)xd_arena_ptrs(arena, (size_t)n);
    size_t zone_len = strlen(r->name) + 32;
    for (int i = 0; i < n; i++) {
        r->chunks[i] = xd_arena_strdup(arena, chunks[i]);
        zone_len += strlen(chunks[i]) + 3;
    }
    char *zone = xd_arena_alloc(arena, zone_len);
    int off = snprintf(zone, zone_len, "%s. IN TXT", r->name);
    for (int i = 0; i < n; i++)
        off += snprintf(zone + off, zone_len - (size_t)off, " \"%s\"", chunks[i]);
    r->zone_line = zone;
    p->record = r;
    return p;
}

static void note_field(xd_call *call, const xd_err *err)
{
    if (err->field[0])
        xd_call_add_detail(call, err->field, err->message);
}

static xd_code h_create(xd_call *call, const ProtobufCMessage *in, ProtobufCMessage *out,
                        xd_err *err)
{
    const Xd__CreateDkimKeyRequest *req = (const Xd__CreateDkimKeyRequest *)in;
    Xd__CreateDkimKeyReply *rep = (Xd__CreateDkimKeyReply *)out;
    snd_ctx *ctx = xd_call_service(call);
    xd_code rc = snd_check_org(call, req->org_id, err);
    snd_dkim_alg alg = alg_from_proto(req->algorithm);
    if (rc == XD_OK && alg == SND_DKIM_ALG_NONE)
        rc = xd_err_field(err, XD_INVALID_ARGUMENT, "algorithm", "unknown algorithm");
    if (rc == XD_OK && req->bits > 65536)
        rc = xd_err_field(err, XD_INVALID_ARGUMENT, "bits", "bits must be 1024-4096");
    snd_dkim_key_info k;
    if (rc == XD_OK)
        rc = snd_dkim_create(ctx->keys, req->org_id, req->domain, req->selector, alg,
                             (int)req->bits, &k, err);
    if (rc != XD_OK) {
        note_field(call, err);
        return rc;
    }
    XD_INFO("dkim key %s for %s selector %s (%s, %d bits) state %d", k.key_id, k.domain, k.selector,
            alg == SND_DKIM_RSA_SHA256 ? "rsa" : "ed25519", k.bits, k.state);
    rep->key = snd_dkim_key_to_proto(xd_call_arena(call), &k);
    return XD_OK;
}

static xd_code h_list(xd_call *call, const ProtobufCMessage *in, ProtobufCMessage *out, xd_err *err)
{
    const Xd__ListDkimKeysRequest *req = (const Xd__ListDkimKeysRequest *)in;
    Xd__ListDkimKeysReply *rep = (Xd__ListDkimKeysReply *)out;
    snd_ctx *ctx = xd_call_service(call);
    xd_code rc = snd_check_org(call, req->org_id, err);
    snd_dkim_key_info *list = NULL;
    size_t n = 0;
    if (rc == XD_OK)
        rc = snd_dkim_list(ctx->keys, req->org_id, req->domain, req->include_retired, &list, &n,
                           err);
    if (rc != XD_OK) {
        note_field(call, err);
        return rc;
    }
    xd_arena *a = xd_call_arena(call);
    rep->n_keys = n;
    rep->keys = (Xd__DkimKey **)xd_arena_ptrs(a, n);
    for (size_t i = 0; i < n; i++)
        rep->keys[i] = snd_dkim_key_to_proto(a, &list[i]);
    free(list);
    return XD_OK;
}

static xd_code h_rotate(xd_call *call, const ProtobufCMessage *in, ProtobufCMessage *out,
                        xd_err *err)
{
    const Xd__RotateDkimKeyRequest *req = (const Xd__RotateDkimKeyRequest *)in;
    Xd__RotateDkimKeyReply *rep = (Xd__RotateDkimKeyReply *)out;
    snd_ctx *ctx = xd_call_service(call);
    xd_code rc = snd_check_org(call, req->org_id, err);
    snd_dkim_alg alg = alg_from_proto(req->algorithm);
    if (rc == XD_OK && alg == SND_DKIM_ALG_NONE)
        rc = xd_err_field(err, XD_INVALID_ARGUMENT, "algorithm", "unknown algorithm");
    if (rc == XD_OK && req->bits > 65536)
        rc = xd_err_field(err, XD_INVALID_ARGUMENT, "bits", "bits must be 1024-4096");
    snd_dkim_key_info a, b;
    xd_arena *arena = xd_call_arena(call);
    if (rc == XD_OK && req->step == XD__ROTATE_STEP__ROTATE_STEP_START) {
        rc = snd_dkim_rotate_start(ctx->keys, req->org_id, req->domain, alg, req->new_selector,
                                   (int)req->bits, &a, &b, err);
        if (rc == XD_OK) {
            rep->active = snd_dkim_key_to_proto(arena, &a);
            rep->pending = snd_dkim_key_to_proto(arena, &b);
        }
    } else if (rc == XD_OK && req->step == XD__ROTATE_STEP__ROTATE_STEP_PROMOTE) {
        rc = snd_dkim_rotate_promote(ctx->keys, req->org_id, req->domain, alg, &a, &b, err);
        if (rc == XD_OK) {
            rep->active = snd_dkim_key_to_proto(arena, &a);
            if (b.key_id[0])
                rep->retired = snd_dkim_key_to_proto(arena, &b);
        }
    } else if (rc == XD_OK) {
        rc = xd_err_field(err, XD_INVALID_ARGUMENT, "step", "step must be START or PROMOTE");
    }
    if (rc != XD_OK)
        note_field(call, err);
    return rc;
}

static const xd_method_impl METHODS[] = {
    {"CreateDkimKey", h_create},         {"ListDkimKeys", h_list},
    {"RotateDkimKey", h_rotate},         {"Submit", snd_h_submit},
    {"GetMessage", snd_h_get_message},   {"Cancel", snd_h_cancel},
    {"SetRelay", snd_h_set_relay},       {"SetBanner", snd_h_set_banner},
    {"ListBanners", snd_h_list_banners}, {"SendTestCopy", snd_h_send_test_copy},
    {"QueueStats", snd_h_queue_stats},
};

static const xd_config_item CONFIG[] = {
    {"db_path", XD_CFG_STRING, "", "SQLite file; empty = <data_dir>/sender.db"},
    {"dkim.master_key", XD_CFG_STRING, "",
     "64 hex digits sealing DKIM private keys (AES-256-GCM); empty = <data_dir>/dkim_master.key",
     .secret = 1},
    {"optout.secret", XD_CFG_STRING, "", "HMAC secret of opt-out tokens (>= 32 octets)",
     .secret = 1},
    {"optout.base_url", XD_CFG_STRING, "https://localhost/unsubscribe",
     "HTTPS one-click opt-out URL served by the gateway (?t=<token> is added)"},
    {"optout.mailto", XD_CFG_STRING, "unsubscribe@localhost", "mailto: opt-out address"},
    {"optout.ttl", XD_CFG_DURATION, "365d", "how long an opt-out link works", 86400000,
     10LL * 365 * 86400000},
    SND_DELIVERY_CONFIG_ITEMS,
};

static xd_code init(const xd_config *cfg, void **ctx_out, xd_err *err)
{
    snd_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx)
        return xd_err_set(err, XD_INTERNAL, "out of memory");
    char path[1024], key_file[1024];
    const char *db = xd_config_str(cfg, "db_path");
    if (db[0])
        snprintf(path, sizeof path, "%s", db);
    else
        xd_service_path(cfg, "sender.db", path, sizeof path);
    xd_service_path(cfg, "dkim_master.key", key_file, sizeof key_file);
    unsigned char master[32];
    xd_code rc = snd_dkim_master_key(xd_config_str(cfg, "dkim.master_key"), key_file, master, err);
    if (rc == XD_OK)
        rc = snd_keystore_open(path, master, xd_clock_system(), &ctx->keys, err);
    if (rc == XD_OK) {
        xd_strlcpy(ctx->optout_secret, xd_config_str(cfg, "optout.secret"),
                   sizeof ctx->optout_secret);
        ctx->optout.secret = ctx->optout_secret;
        ctx->optout.secret_len = strlen(ctx->optout_secret);
        ctx->optout.base_url = xd_config_str(cfg, "optout.base_url");
        ctx->optout.mailto = xd_config_str(cfg, "optout.mailto");
        ctx->optout.ttl_ms = xd_config_int(cfg, "optout.ttl");
        if (ctx->optout.secret_len == 0)
            XD_WARN("optout.secret is not set: messages cannot be composed until it is");
        else
            rc = snd_optout_config_check(&ctx->optout, err);
    }
    /* The relay passwords are sealed under the same master key. */
    if (rc == XD_OK)
        rc = snd_delivery_init(ctx, cfg, path, master, err);
    if (rc == XD_OK)
        rc = snd_banner_store_open(path, xd_clock_system(), &ctx->banners, err);
    memset(master, 0, sizeof master);
    if (rc != XD_OK) {
        snd_banner_store_close(ctx->banners);
        snd_delivery_fini(ctx);
        snd_keystore_close(ctx->keys);
        free(ctx);
        return rc;
    }
    *ctx_out = ctx;
    return XD_OK;
}

static void fini(void *p)
{
    snd_ctx *ctx = p;
    if (!ctx)
        return;
    snd_delivery_fini(ctx);
    snd_banner_store_close(ctx->banners);
    snd_keystore_close(ctx->keys);
    memset(ctx->optout_secret, 0, sizeof ctx->optout_secret);
    free(ctx);
}

const xd_service_def snd_service_def = {
    .name = "sender",
    .default_listen = "tcp://127.0.0.1:7401",
    .descriptor = &xd__sender__descriptor,
    .methods = METHODS,
    .n_methods = (int)(sizeof METHODS / sizeof METHODS[0]),
    .config = CONFIG,
    .n_config = (int)(sizeof CONFIG / sizeof CONFIG[0]),
    .init = init,
    .fini = fini,
};
