/* gw_banner.c: SetBanner and SendTestEmail, the two sender methods whose
 * request does not have the plain top-level org_id that gw_forward scopes:
 * the banner names its organization inside the Banner, and a test copy is a
 * SendTestCopy built from the gateway's own request. ListBanners is a plain
 * facade (gw_facade.c). */
#include "gw_api.h"
#include "sender.pb-c.h"
#include "xd/util.h"

#include <openssl/evp.h>
#include <string.h>

/* The sender's bounds (sender.proto Banner), checked here too so a wrong
 * banner is refused before it travels. */
#define BANNER_HTML_MAX  (64 * 1024)
#define BANNER_TEXT_MAX  (4 * 1024)
#define BANNER_IMAGE_MAX (512 * 1024)
#define BANNER_ALT_MAX   200
#define BANNER_TYPE_MAX  100
#define MODULE_MAX       64
#define MESSAGE_ID_MAX   128
#define ADDRESS_MAX      254

static xd_code check_size(const char *field, size_t n, size_t max, xd_err *err)
{
    if (n > max)
        return xd_err_field(err, XD_INVALID_ARGUMENT, field,
                            "%s is %zu octets; at most %zu are allowed", field, n, max);
    return XD_OK;
}

static xd_code check_banner(const Xd__Banner *b, int remove, xd_err *err)
{
    xd_code rc = gw_check_text("banner.module", b->module, 0, MODULE_MAX, err);
    if (rc != XD_OK || remove)
        return rc;
    size_t html = b->html ? strlen(b->html) : 0, text = b->text ? strlen(b->text) : 0;
    rc = check_size("banner.html", html, BANNER_HTML_MAX, err);
    if (rc == XD_OK)
        rc = check_size("banner.text", text, BANNER_TEXT_MAX, err);
    if (rc == XD_OK)
        rc = check_size("banner.image", b->image.len, BANNER_IMAGE_MAX, err);
    if (rc == XD_OK)
        rc = gw_check_text("banner.image_content_type", b->image_content_type, 0, BANNER_TYPE_MAX,
                           err);
    if (rc == XD_OK)
        rc = gw_check_text("banner.image_alt", b->image_alt, 0, BANNER_ALT_MAX, err);
    if (rc != XD_OK)
        return rc;
    if (!html && !text && !b->image.len)
        return xd_err_field(err, XD_INVALID_ARGUMENT, "banner",
                            "a banner needs html, text or an image (or remove: true to "
                            "delete it)");
    if (b->image.len && strncmp(b->image_content_type ? b->image_content_type : "", "image/", 6))
        return xd_err_field(err, XD_INVALID_ARGUMENT, "banner.image_content_type",
                            "an image needs an image/* image_content_type (e.g. image/png)");
    if (b->image.len && (!b->image_alt || !b->image_alt[0]))
        return xd_err_field(err, XD_INVALID_ARGUMENT, "banner.image_alt",
                            "an image needs image_alt, the text shown when images are off");
    return XD_OK;
}

xd_code gw_set_banner(gw_ctx *ctx, gw_req *req, const ProtobufCMessage *in, ProtobufCMessage *out,
                      xd_err *err)
{
    const Xd__SetBannerRequest *r = (const Xd__SetBannerRequest *)in;
    Xd__SetBannerRequest *scoped = xd_arena_alloc(req->arena, sizeof(*scoped));
    *scoped = *r;
    Xd__Banner *b = xd_arena_message(req->arena, &xd__banner__descriptor);
    if (r->banner)
        *b = *r->banner;
    const char *org = NULL;
    xd_code rc = gw_target_org(ctx, req, b->org_id, &org, err);
    if (rc == XD_OK)
        rc = check_banner(b, r->remove, err);
    if (rc != XD_OK)
        return rc;
    b->org_id = xd_arena_strdup(req->arena, org);
    /* Set by the sender, never by the caller. */
    b->updated_at_ms = 0;
    b->image_size = 0;
    scoped->banner = b;
    if (!ctx->backends)
        return xd_err_set(err, XD_UNAVAILABLE, "sender is not configured");
    ProtobufCMessage *reply = NULL;
    rc = gw_call_service(ctx, req, GW_SVC_SENDER, "SetBanner", &scoped->base,
                         &xd__set_banner_reply__descriptor, &reply, err);
    if (rc == XD_OK)
        memcpy(out, reply, sizeof(Xd__SetBannerReply));
    return rc;
}

/* The test copy's idempotency key: the caller's key id and the public
 * request id, so an NNG re-send of the same call queues one copy. */
static char *test_copy_key(gw_req *req)
{
    if (!req->request_id || !req->request_id[0]) {
        char hex[33];
        xd_random_hex(hex, 16);
        return xd_arena_printf(req->arena, "test-%s", hex);
    }
    unsigned char d[32];
    unsigned int len = sizeof(d);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    EVP_DigestUpdate(md, req->key.id, strlen(req->key.id) + 1);
    EVP_DigestUpdate(md, req->request_id, strlen(req->request_id));
    EVP_DigestFinal_ex(md, d, &len);
    EVP_MD_CTX_free(md);
    char hex[41];
    xd_hex_encode(d, 20, hex);
    return xd_arena_printf(req->arena, "test-%s", hex);
}

xd_code gw_send_test_email(gw_ctx *ctx, gw_req *req, const ProtobufCMessage *in,
                           ProtobufCMessage *out, xd_err *err)
{
    const Xd__SendTestEmailRequest *r = (const Xd__SendTestEmailRequest *)in;
    Xd__SendEmailReply *rep = (Xd__SendEmailReply *)out;
    const char *org = NULL;
    xd_code rc = gw_target_org(ctx, req, r->org_id, &org, err);
    if (rc == XD_OK)
        rc = gw_check_text("message_id", r->message_id, 1, MESSAGE_ID_MAX, err);
    if (rc == XD_OK)
        rc = gw_check_text("to_address", r->to_address, 1, ADDRESS_MAX, err);
    if (rc == XD_OK && !strchr(r->to_address, '@'))
        rc = xd_err_field(err, XD_INVALID_ARGUMENT, "to_address",
                          "to_address must be your own mailbox, local@domain");
    /* A test copy is mail too: a suspended organization sends none. */
    if (rc == XD_OK)
        rc = gw_org_may_send(ctx, org, err);
    if (rc != XD_OK)
        return rc;
    if (!ctx->backends)
        return xd_err_set(err, XD_UNAVAILABLE, "sender is not configured");
    Xd__MailAddress to = XD__MAIL_ADDRESS__INIT;
    to.address = r->to_address;
    Xd__SendTestCopyRequest t = XD__SEND_TEST_COPY_REQUEST__INIT;
    t.org_id = (char *)org;
    t.message_id = r->message_id;
    t.to = &to;
    t.idempotency_key = test_copy_key(req);
    /* A test copy is one recipient of the organization's quota, like any
     * send; the same id for a re-sent call never counts twice. */
    const char *consume = xd_arena_printf(req->arena, "send-%s", t.idempotency_key);
    rc = gw_quota_reserve(ctx, req, org, consume, 1, err);
    if (rc != XD_OK)
        return rc;
    ProtobufCMessage *m = NULL;
    rc = gw_call_service(ctx, req, GW_SVC_SENDER, "SendTestCopy", &t.base,
                         &xd__submit_reply__descriptor, &m, err);
    if (rc != XD_OK) {
        gw_quota_refund(ctx, req, consume, 1);
        return rc;
    }
    const Xd__SubmitReply *sub = (const Xd__SubmitReply *)m;
    rep->message_id = sub->message_id;
    rep->duplicate = sub->duplicate;
    rep->recipients = (Xd__RecipientOutcome **)xd_arena_ptrs(req->arena, sub->n_recipients + 1);
    for (size_t i = 0; i < sub->n_recipients; i++) {
        Xd__RecipientOutcome *o = xd_arena_message(req->arena, &xd__recipient_outcome__descriptor);
        o->address = sub->recipients[i]->address;
        o->recipient_id = sub->recipients[i]->recipient_id;
        o->outcome = XD__RECIPIENT_OUTCOME__OUTCOME__OUTCOME_QUEUED;
        rep->recipients[rep->n_recipients++] = o;
    }
    return XD_OK;
}
