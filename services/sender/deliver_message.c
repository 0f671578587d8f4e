/* deliver_message.c: SubmitRequest -> snd_message (see deliver_message.h). */
#include "deliver_message.h"

#include <string.h>

static snd_address *addrs(xd_arena *a, Xd__MailAddress **in, size_t n)
{
    snd_address *out = xd_arena_alloc(a, (n ? n : 1) * sizeof *out);
    for (size_t i = 0; i < n; i++) {
        out[i].address = in[i] && in[i]->address ? in[i]->address : "";
        out[i].display_name = in[i] ? in[i]->display_name : NULL;
    }
    return out;
}

static snd_attachment *files(xd_arena *a, Xd__Attachment **in, size_t n)
{
    snd_attachment *out = xd_arena_alloc(a, (n ? n : 1) * sizeof *out);
    for (size_t i = 0; i < n; i++) {
        out[i].filename = in[i]->filename;
        out[i].content_type = in[i]->content_type;
        out[i].content_id = in[i]->content_id;
        out[i].data = in[i]->content.data;
        out[i].len = in[i]->content.len;
    }
    return out;
}

void snd_message_from_proto(const Xd__SubmitRequest *req, xd_arena *arena, snd_message *m)
{
    memset(m, 0, sizeof *m);
    m->org_id = req->org_id;
    m->module = req->module;
    if (req->from) {
        m->from.address = req->from->address;
        m->from.display_name = req->from->display_name;
    } else {
        m->from.address = "";
    }
    m->reply_to = addrs(arena, req->reply_to, req->n_reply_to);
    m->n_reply_to = req->n_reply_to;
    m->to = addrs(arena, req->to, req->n_to);
    m->n_to = req->n_to;
    m->cc = addrs(arena, req->cc, req->n_cc);
    m->n_cc = req->n_cc;
    m->bcc = addrs(arena, req->bcc, req->n_bcc);
    m->n_bcc = req->n_bcc;
    m->subject = req->subject;
    m->text_body = req->text_body;
    m->html_body = req->html_body;
    m->attachments = files(arena, req->attachments, req->n_attachments);
    m->n_attachments = req->n_attachments;
    m->inline_images = files(arena, req->inline_images, req->n_inline_images);
    m->n_inline_images = req->n_inline_images;
    snd_custom_header *h = xd_arena_alloc(arena, (req->n_headers ? req->n_headers : 1) * sizeof *h);
    for (size_t i = 0; i < req->n_headers; i++) {
        h[i].name = req->headers[i]->name;
        h[i].value = req->headers[i]->value;
    }
    m->headers = h;
    m->n_headers = req->n_headers;
    m->category = (snd_category)req->category;
    m->shared = req->copy_mode == XD__COPY_MODE__COPY_MODE_SHARED;
}
