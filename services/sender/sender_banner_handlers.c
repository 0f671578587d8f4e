/* sender_banner_handlers.c: protobuf <-> banner store for SetBanner and
 * ListBanners (see sender_banner.h, handlers.h). */
#include <string.h>

#include "handlers.h"
#include "sender_banner.h"
#include "xd/log.h"

static void note(xd_call *call, const xd_err *err)
{
    if (err->field[0])
        xd_call_add_detail(call, err->field, err->message);
}

/* The stored banner without its image bytes. */
static Xd__Banner *to_proto(xd_arena *a, const snd_banner_data *b)
{
    Xd__Banner *p = xd_arena_message(a, &xd__banner__descriptor);
    p->org_id = xd_arena_strdup(a, b->org_id);
    p->module = xd_arena_strdup(a, b->module);
    p->html = xd_arena_strdup(a, b->html ? b->html : "");
    p->text = xd_arena_strdup(a, b->text ? b->text : "");
    p->image_content_type = xd_arena_strdup(a, b->image_type);
    p->image_alt = xd_arena_strdup(a, b->image_alt);
    p->updated_at_ms = b->updated_at_ms;
    p->image_size = (uint32_t)b->image_len;
    return p;
}

xd_code snd_h_set_banner(xd_call *call, const ProtobufCMessage *in, ProtobufCMessage *out,
                         xd_err *err)
{
    const Xd__SetBannerRequest *req = (const Xd__SetBannerRequest *)in;
    Xd__SetBannerReply *rep = (Xd__SetBannerReply *)out;
    snd_ctx *ctx = xd_call_service(call);
    const Xd__Banner *b = req->banner;
    xd_code rc = b ? snd_check_org(call, b->org_id, err)
                   : xd_err_field(err, XD_INVALID_ARGUMENT, "banner", "banner is required");
    snd_banner_in bi;
    memset(&bi, 0, sizeof bi);
    if (rc == XD_OK) {
        bi.org_id = b->org_id;
        bi.module = b->module;
        bi.html = b->html;
        bi.text = b->text;
        bi.image = b->image.data;
        bi.image_len = b->image.len;
        bi.image_type = b->image_content_type;
        bi.image_alt = b->image_alt;
        rc = snd_banner_validate(&bi, req->remove, err);
    }
    if (rc == XD_OK && req->remove) {
        int changed = 0;
        rc = snd_banner_remove(ctx->banners, b->org_id, b->module, &changed, err);
        rep->changed = changed;
        if (rc == XD_OK && changed)
            XD_INFO("banner of %s module \"%s\" removed", b->org_id, b->module);
    } else if (rc == XD_OK) {
        snd_banner_data stored;
        rc = snd_banner_set(ctx->banners, &bi, &stored, err);
        if (rc == XD_OK) {
            rep->banner = to_proto(xd_call_arena(call), &stored);
            rep->changed = 1;
            XD_INFO("banner of %s module \"%s\" set (%s, image %zu octets)", stored.org_id,
                    stored.module, stored.banner_id, stored.image_len);
            snd_banner_data_free(&stored);
        }
    }
    if (rc != XD_OK)
        note(call, err);
    return rc;
}

xd_code snd_h_list_banners(xd_call *call, const ProtobufCMessage *in, ProtobufCMessage *out,
                           xd_err *err)
{
    const Xd__ListBannersRequest *req = (const Xd__ListBannersRequest *)in;
    Xd__ListBannersReply *rep = (Xd__ListBannersReply *)out;
    snd_ctx *ctx = xd_call_service(call);
    xd_code rc = snd_check_org(call, req->org_id, err);
    snd_banner_data *list = NULL;
    size_t n = 0;
    if (rc == XD_OK)
        rc = snd_banner_list(ctx->banners, req->org_id, &list, &n, err);
    if (rc != XD_OK) {
        note(call, err);
        return rc;
    }
    xd_arena *a = xd_call_arena(call);
    rep->n_banners = n;
    rep->banners = (Xd__Banner **)xd_arena_ptrs(a, n);
    for (size_t i = 0; i < n; i++)
        rep->banners[i] = to_proto(a, &list[i]);
    snd_banner_list_free(list, n);
    return XD_OK;
}
