/* queue_handlers.c: protobuf <-> queue logic for Submit, GetMessage, Cancel
 * and SetRelay (see handlers.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "deliver_message.h"
#include "handlers.h"
#include "xd/address.h"
#include "xd/log.h"
#include "xd/util.h"

#define MAX_IDEMPOTENCY_KEY 128
#define MAX_CLIENT_ID       128

static void note(xd_call *call, const xd_err *err)
{
    if (err->field[0])
        xd_call_add_detail(call, err->field, err->message);
}

static xd_code check_key(const char *k, xd_err *err)
{
    size_t n = strlen(k);
    if (n > MAX_IDEMPOTENCY_KEY)
        return xd_err_field(err, XD_INVALID_ARGUMENT, "idempotency_key",
                            "idempotency_key is over %d octets", MAX_IDEMPOTENCY_KEY);
    for (size_t i = 0; i < n; i++)
        if (k[i] < 0x21 || k[i] > 0x7e)
            return xd_err_field(err, XD_INVALID_ARGUMENT, "idempotency_key",
                                "idempotency_key must be printable ASCII without spaces");
    return XD_OK;
}

/* Parses every envelope recipient; domains (A-labels, lower case) go to
 * the arena. */
static xd_code parse_rcpts(const snd_message *m, xd_arena *a, const char ***addrs,
                           const char ***domains, size_t *n, xd_err *err)
{
    size_t total = m->n_to + m->n_cc + m->n_bcc;
    *addrs = (const char **)xd_arena_ptrs(a, total ? total : 1);
    *domains = (const char **)xd_arena_ptrs(a, total ? total : 1);
    const snd_address *lists[3] = {m->to, m->cc, m->bcc};
    size_t counts[3] = {m->n_to, m->n_cc, m->n_bcc};
    static const char *names[3] = {"to", "cc", "bcc"};
    size_t k = 0;
    for (int l = 0; l < 3; l++) {
        for (size_t i = 0; i < counts[l]; i++, k++) {
            const char *s = lists[l][i].address;
            xd_address parsed;
            xd_err perr;
            if (xd_address_parse(s, strlen(s), 0, &parsed, NULL, &perr) != XD_ADDR_OK)
                return xd_err_field(err, XD_INVALID_ARGUMENT, "address", "%s[%zu].address: %s",
                                    names[l], i, perr.message);
            char *d = xd_arena_strdup(a, parsed.domain_ascii);
            for (char *p = d; *p; p++)
                if (*p >= 'A' && *p <= 'Z')
                    *p = (char)(*p - 'A' + 'a');
            (*addrs)[k] = s;
            (*domains)[k] = d;
        }
    }
    *n = k;
    return XD_OK;
}

static const char *from_domain(xd_arena *a, const char *from)
{
    xd_address p;
    if (xd_address_parse(from, strlen(from), 0, &p, NULL, NULL) != XD_ADDR_OK)
        return "localhost";
    char *d = xd_arena_strdup(a, p.domain_ascii);
    for (char *c = d; *c; c++)
        if (*c >= 'A' && *c <= 'Z')
            *c = (char)(*c - 'A' + 'a');
    return d;
}

static int is_test_header(const Xd__CustomHeader *h)
{
    return h && h->name && strcasecmp(h->name, SND_TEST_HEADER) == 0;
}

xd_code snd_enqueue(snd_ctx *ctx, xd_arena *a, const Xd__SubmitRequest *req,
                    const snd_enqueue_opts *eo, Xd__SubmitReply *rep, xd_err *err)
{
    const char *key = eo->idempotency_key ? eo->idempotency_key : "";
    xd_code rc = check_key(key, err);
    if (rc == XD_OK && strlen(req->client_id) > MAX_CLIENT_ID)
        rc = xd_err_field(err, XD_INVALID_ARGUMENT, "client_id", "client_id is over %d octets",
                          MAX_CLIENT_ID);
    if (rc == XD_OK && xd_has_crlf_nul(req->client_id, strlen(req->client_id)))
        rc = xd_err_field(err, XD_INVALID_ARGUMENT, "client_id",
                          "client_id must not contain CR, LF or NUL");
    int64_t now = xd_clock_now_ms(xd_clock_system());
    if (rc == XD_OK && (req->send_at_ms < 0 || req->send_at_ms > now + ctx->max_send_ahead_ms))
        rc = xd_err_field(err, XD_INVALID_ARGUMENT, "send_at_ms",
                          "send_at_ms must be 0 (now) or a Unix ms time at most %lld days ahead",
                          (long long)(ctx->max_send_ahead_ms / 86400000));
    if (rc == XD_OK && req->copy_mode != XD__COPY_MODE__COPY_MODE_UNSPECIFIED &&
        req->copy_mode != XD__COPY_MODE__COPY_MODE_PER_RECIPIENT &&
        req->copy_mode != XD__COPY_MODE__COPY_MODE_SHARED)
        rc = xd_err_field(err, XD_INVALID_ARGUMENT, "copy_mode", "unknown copy_mode");
    /* The test marker is ours: a module cannot make a message look like one. */
    for (size_t i = 0; rc == XD_OK && !eo->test_copy && i < req->n_headers; i++)
        if (is_test_header(req->headers[i]))
            rc = xd_err_field(err, XD_INVALID_ARGUMENT, "headers",
                              "headers[%zu].name: %s is set by SendTestCopy only", i,
                              SND_TEST_HEADER);
    snd_message m;
    const char **addrs = NULL, **domains = NULL;
    size_t n = 0;
    if (rc == XD_OK) {
        snd_message_from_proto(req, a, &m);
        rc = snd_compose_validate(&m, err);
    }
    if (rc == XD_OK)
        rc = parse_rcpts(&m, a, &addrs, &domains, &n, err);
    if (rc != XD_OK)
        return rc;
    size_t len = protobuf_c_message_get_packed_size(&req->base);
    uint8_t *packed = malloc(len ? len : 1);
    if (!packed)
        return xd_err_set(err, XD_RESOURCE_EXHAUSTED, "out of memory storing the message");
    protobuf_c_message_pack(&req->base, packed);
    /* Test copies keep their keys apart from Submit's. */
    const char *stored_key =
        key[0] && eo->key_prefix ? xd_arena_printf(a, "%s%s", eo->key_prefix, key) : key;
    snd_submit s = {
        .org_id = req->org_id,
        .idempotency_key = stored_key,
        .module = req->module,
        .client_id = req->client_id,
        .from_address = req->from ? req->from->address : "",
        .subject = req->subject,
        .msgid_domain = from_domain(a, req->from ? req->from->address : ""),
        .category = (int)req->category,
        .shared = m.shared,
        .send_at_ms = req->send_at_ms,
        .request = packed,
        .request_len = len,
        .addresses = addrs,
        .domains = domains,
        .n = n,
        .banner_of = eo->banner_of,
    };
    snd_submit_result r;
    rc = snd_queue_submit(ctx->queue, &s, &r, err);
    free(packed);
    if (rc != XD_OK)
        return rc;
    rep->message_id = xd_arena_strdup(a, r.message_id);
    rep->duplicate = r.duplicate;
    rep->n_recipients = r.n;
    rep->recipients = (Xd__SubmittedRecipient **)xd_arena_ptrs(a, r.n);
    for (size_t i = 0; i < r.n; i++) {
        Xd__SubmittedRecipient *x = xd_arena_message(a, &xd__submitted_recipient__descriptor);
        x->address = xd_arena_strdup(a, r.rcpts[i].address);
        x->recipient_id = xd_arena_strdup(a, r.rcpts[i].recipient_id);
        rep->recipients[i] = x;
    }
    snd_submit_result_free(&r);
    if (!rep->duplicate) {
        snd_deliver_kick(ctx->deliver);
        snd_pump_kick(ctx->pump);
    }
    return XD_OK;
}

xd_code snd_h_submit(xd_call *call, const ProtobufCMessage *in, ProtobufCMessage *out, xd_err *err)
{
    const Xd__SubmitRequest *req = (const Xd__SubmitRequest *)in;
    xd_code rc = snd_check_org(call, req->org_id, err);
    if (rc == XD_OK) {
        snd_enqueue_opts eo = {.idempotency_key = req->idempotency_key};
        rc = snd_enqueue(xd_call_service(call), xd_call_arena(call), req, &eo,
                         (Xd__SubmitReply *)out, err);
    }
    if (rc != XD_OK)
        note(call, err);
    return rc;
}

xd_code snd_h_get_message(xd_call *call, const ProtobufCMessage *in, ProtobufCMessage *out,
                          xd_err *err)
{
    const Xd__GetMessageRequest *req = (const Xd__GetMessageRequest *)in;
    Xd__GetMessageReply *rep = (Xd__GetMessageReply *)out;
    snd_ctx *ctx = xd_call_service(call);
    xd_arena *a = xd_call_arena(call);
    xd_code rc = snd_check_org(call, req->org_id, err);
    if (rc == XD_OK && (!req->message_id[0] || strlen(req->message_id) >= SND_ID_MAX))
        rc = xd_err_field(err, XD_INVALID_ARGUMENT, "message_id", "message_id is required");
    snd_message_info mi;
    if (rc == XD_OK)
        rc = snd_queue_get(ctx->queue, req->org_id, req->message_id, &mi, err);
    if (rc != XD_OK) {
        note(call, err);
        return rc;
    }
    rep->message_id = xd_arena_strdup(a, mi.message_id);
    rep->module = xd_arena_strdup(a, mi.module);
    rep->client_id = xd_arena_strdup(a, mi.client_id);
    rep->from_address = xd_arena_strdup(a, mi.from_address);
    rep->subject = xd_arena_strdup(a, mi.subject);
    rep->category = (Xd__MailCategory)mi.category;
    rep->created_at_ms = mi.created_at_ms;
    rep->send_at_ms = mi.send_at_ms;
    /* Shared copies carry <message@domain>; a per-recipient copy adds its
     * recipient id (<message.recipient@domain>), listed here for the first. */
    rep->rfc822_message_id = mi.shared || mi.n == 0
                                 ? xd_arena_printf(a, "<%s@%s>", mi.message_id, mi.msgid_domain)
                                 : xd_arena_printf(a, "<%s.%s@%s>", mi.message_id,
                                                   mi.rcpts[0].recipient_id, mi.msgid_domain);
    rep->n_recipients = mi.n;
    rep->recipients = (Xd__RecipientStatus **)xd_arena_ptrs(a, mi.n);
    for (size_t i = 0; i < mi.n; i++) {
        const snd_rcpt_status *s = &mi.rcpts[i];
        Xd__RecipientStatus *x = xd_arena_message(a, &xd__recipient_status__descriptor);
        x->recipient_id = xd_arena_strdup(a, s->recipient_id);
        x->address = xd_arena_strdup(a, s->address);
        x->state = (Xd__RecipientState)s->state;
        x->attempts = s->attempts;
        if (s->code || s->text[0]) {
            Xd__SmtpReply *r = xd_arena_message(a, &xd__smtp_reply__descriptor);
            r->code = (uint32_t)s->code;
            r->enhanced_code = xd_arena_strdup(a, s->enhanced);
            r->text = xd_arena_strdup(a, s->text);
            x->last_reply = r;
        }
        x->failure = (Xd__FailureCategory)s->failure;
        x->updated_at_ms = s->updated_at_ms;
        x->next_attempt_at_ms = s->next_attempt_at_ms;
        x->remote_host = xd_arena_strdup(a, s->remote_host);
        rep->recipients[i] = x;
    }
    snd_message_info_free(&mi);
    return XD_OK;
}

xd_code snd_h_cancel(xd_call *call, const ProtobufCMessage *in, ProtobufCMessage *out, xd_err *err)
{
    const Xd__CancelRequest *req = (const Xd__CancelRequest *)in;
    Xd__CancelReply *rep = (Xd__CancelReply *)out;
    snd_ctx *ctx = xd_call_service(call);
    xd_arena *a = xd_call_arena(call);
    xd_code rc = snd_check_org(call, req->org_id, err);
    if (rc == XD_OK && (!req->message_id[0] || strlen(req->message_id) >= SND_ID_MAX))
        rc = xd_err_field(err, XD_INVALID_ARGUMENT, "message_id", "message_id is required");
    if (rc == XD_OK && req->n_recipient_ids > 1000)
        rc = xd_err_field(err, XD_INVALID_ARGUMENT, "recipient_ids",
                          "at most 1000 recipient_ids per call");
    snd_id_list yes, no;
    if (rc == XD_OK)
        rc = snd_queue_cancel(ctx->queue, req->org_id, req->message_id,
                              (const char *const *)req->recipient_ids, req->n_recipient_ids, &yes,
                              &no, err);
    if (rc != XD_OK) {
        note(call, err);
        return rc;
    }
    rep->n_cancelled = yes.n;
    rep->cancelled = (char **)xd_arena_ptrs(a, yes.n);
    for (size_t i = 0; i < yes.n; i++)
        rep->cancelled[i] = xd_arena_strdup(a, yes.ids[i]);
    rep->n_not_cancelled = no.n;
    rep->not_cancelled = (char **)xd_arena_ptrs(a, no.n);
    for (size_t i = 0; i < no.n; i++)
        rep->not_cancelled[i] = xd_arena_strdup(a, no.ids[i]);
    snd_id_list_free(&yes);
    snd_id_list_free(&no);
    if (rep->n_cancelled)
        snd_pump_kick(ctx->pump);
    return XD_OK;
}

xd_code snd_h_set_relay(xd_call *call, const ProtobufCMessage *in, ProtobufCMessage *out,
                        xd_err *err)
{
    const Xd__SetRelayRequest *req = (const Xd__SetRelayRequest *)in;
    Xd__SetRelayReply *rep = (Xd__SetRelayReply *)out;
    snd_ctx *ctx = xd_call_service(call);
    xd_code rc = snd_check_org(call, req->org_id, err);
    snd_relay r;
    memset(&r, 0, sizeof r);
    if (rc == XD_OK && strlen(req->host) >= sizeof r.host)
        rc = xd_err_field(err, XD_INVALID_ARGUMENT, "host", "host is over 253 octets");
    if (rc == XD_OK && req->port > 65535)
        rc = xd_err_field(err, XD_INVALID_ARGUMENT, "port", "port must be 1-65535");
    if (rc == XD_OK && strlen(req->username) >= sizeof r.username)
        rc = xd_err_field(err, XD_INVALID_ARGUMENT, "username", "username is over 255 octets");
    if (rc == XD_OK && strlen(req->password) >= sizeof r.password)
        rc = xd_err_field(err, XD_INVALID_ARGUMENT, "password", "password is over 255 octets");
    if (rc == XD_OK) {
        r.route = (int)req->route;
        xd_strlcpy(r.host, req->host, sizeof r.host);
        r.tls = req->tls == XD__RELAY_TLS__RELAY_TLS_UNSPECIFIED ? SND_RELAY_TLS_REQUIRED
                                                                 : (int)req->tls;
        r.port = (uint16_t)(req->port ? req->port : r.tls == SND_RELAY_TLS_IMPLICIT ? 465 : 25);
        xd_strlcpy(r.username, req->username, sizeof r.username);
        xd_strlcpy(r.password, req->password, sizeof r.password);
        uint64_t version = 0;
        rc = snd_relay_set(ctx->relays, req->org_id, &r, req->expected_version, &version, err);
        if (rc == XD_OK)
            rep->version = version;
    }
    snd_relay_wipe(&r);
    if (rc != XD_OK)
        note(call, err);
    else
        XD_INFO("relay of %s set: route %d host %s (version %llu)", req->org_id, (int)req->route,
                req->host, (unsigned long long)rep->version);
    return rc;
}
