/* sender_testcopy.c: SendTestCopy. The earlier message's stored request is
 * re-queued to one address through the same path as Submit (snd_enqueue):
 * same module, route, From, bodies, attachments, category and banner; the
 * subject starts with "[TEST] " and X-XenDirect-Test names the original.
 * client_id is cleared (a test is nobody's mail for the monthly counts) and
 * the copy goes now, whatever the original's send_at_ms was. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "compose_message.h"
#include "handlers.h"
#include "xd/log.h"
#include "xd/util.h"

#define TEST_PREFIX     "[TEST] "
#define TEST_KEY_PREFIX "test-copy:"

static void note(xd_call *call, const xd_err *err)
{
    if (err->field[0])
        xd_call_add_detail(call, err->field, err->message);
}

/* "[TEST] " + subject, cut at a character boundary to stay within the
 * subject bound. */
static char *test_subject(xd_arena *a, const char *subject)
{
    size_t room = SND_MAX_SUBJECT - strlen(TEST_PREFIX), n = strlen(subject);
    if (n > room) {
        n = room;
        while (n > 0 && ((unsigned char)subject[n] & 0xC0) == 0x80)
            n--;
    }
    return xd_arena_printf(a, "%s%.*s", TEST_PREFIX, (int)n, subject);
}

/* Turns the unpacked original into its test copy (in place, arena a). */
static void make_copy(xd_arena *a, Xd__SubmitRequest *r, const Xd__MailAddress *to,
                      const char *original_id)
{
    Xd__MailAddress *t = xd_arena_message(a, &xd__mail_address__descriptor);
    t->address = xd_arena_strdup(a, to->address);
    t->display_name = xd_arena_strdup(a, to->display_name ? to->display_name : "");
    r->to = (Xd__MailAddress **)xd_arena_ptrs(a, 1);
    r->to[0] = t;
    r->n_to = 1;
    r->n_cc = 0;
    r->n_bcc = 0;
    r->subject = test_subject(a, r->subject);
    r->client_id = "";
    r->send_at_ms = 0;
    r->idempotency_key = "";
    /* One marker, whatever the original carried (a copy of a copy). */
    Xd__CustomHeader **h = (Xd__CustomHeader **)xd_arena_ptrs(a, r->n_headers + 1);
    size_t k = 0;
    for (size_t i = 0; i < r->n_headers; i++)
        if (strcasecmp(r->headers[i]->name, SND_TEST_HEADER) != 0)
            h[k++] = r->headers[i];
    Xd__CustomHeader *mark = xd_arena_message(a, &xd__custom_header__descriptor);
    mark->name = SND_TEST_HEADER;
    mark->value = xd_arena_strdup(a, original_id);
    h[k++] = mark;
    r->headers = h;
    r->n_headers = k;
}

xd_code snd_h_send_test_copy(xd_call *call, const ProtobufCMessage *in, ProtobufCMessage *out,
                             xd_err *err)
{
    const Xd__SendTestCopyRequest *req = (const Xd__SendTestCopyRequest *)in;
    snd_ctx *ctx = xd_call_service(call);
    xd_arena *a = xd_call_arena(call);
    xd_code rc = snd_check_org(call, req->org_id, err);
    if (rc == XD_OK && (!req->message_id[0] || strlen(req->message_id) >= SND_ID_MAX))
        rc = xd_err_field(err, XD_INVALID_ARGUMENT, "message_id",
                          "message_id is required (the id Submit returned)");
    if (rc == XD_OK && (!req->to || !req->to->address || !req->to->address[0]))
        rc = xd_err_field(err, XD_INVALID_ARGUMENT, "to", "to: the test address is required");
    snd_message_info meta;
    void *blob = NULL;
    size_t len = 0;
    if (rc == XD_OK) {
        rc = snd_queue_load_request(ctx->queue, req->message_id, &meta, &blob, &len, err);
        /* Another organization's message does not exist for this one. */
        if (rc == XD_OK && strcmp(meta.org_id, req->org_id) != 0)
            rc = xd_err_field(err, XD_NOT_FOUND, "message_id", "no message %s in this organization",
                              req->message_id);
        else if (rc == XD_NOT_FOUND)
            xd_strlcpy(err->field, "message_id", sizeof err->field);
    }
    Xd__SubmitRequest *copy = NULL;
    if (rc == XD_OK) {
        copy = xd__submit_request__unpack(xd_arena_allocator(a), len, blob);
        if (!copy)
            rc = xd_err_set(err, XD_DATA_LOSS, "the stored message %s cannot be read",
                            req->message_id);
    }
    free(blob);
    if (rc == XD_OK) {
        make_copy(a, copy, req->to, req->message_id);
        snd_enqueue_opts eo = {.idempotency_key = req->idempotency_key,
                               .key_prefix = TEST_KEY_PREFIX,
                               .banner_of = req->message_id,
                               .test_copy = 1};
        rc = snd_enqueue(ctx, a, copy, &eo, (Xd__SubmitReply *)out, err);
    }
    if (rc != XD_OK) {
        note(call, err);
        return rc;
    }
    XD_INFO("test copy %s of %s for %s", ((Xd__SubmitReply *)out)->message_id, req->message_id,
            req->org_id);
    return XD_OK;
}
