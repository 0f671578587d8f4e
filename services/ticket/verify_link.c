/* verify_link.c: verify.Diagnose through xd_client, mapped to tk_diagnosis. */
#include "verify_link.h"
#include "xd/rpc_client.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "verify.pb-c.h"

struct verify_link {
    xd_client *client;
    int64_t timeout_ms;
};

xd_code verify_link_open(const char *url, int64_t timeout_ms, verify_link **out, xd_err *err)
{
    verify_link *l = calloc(1, sizeof(*l));
    if (!l)
        return xd_err_set(err, XD_INTERNAL, "out of memory");
    xd_code rc = xd_client_open(url, "verify", NULL, &l->client, err);
    if (rc != XD_OK) {
        free(l);
        return rc;
    }
    l->timeout_ms = timeout_ms;
    *out = l;
    return XD_OK;
}

void verify_link_close(verify_link *link)
{
    if (!link)
        return;
    xd_client_close(link->client);
    free(link);
}

static void map_reply(const Xd__DiagnoseReply *r, tk_diagnosis *d)
{
    memset(d, 0, sizeof(*d));
    d->verdict = r->verdict >= 0 && r->verdict < TK_VERDICT_COUNT ? (tk_verdict)r->verdict
                                                                  : TK_VERDICT_UNSPECIFIED;
    d->summary = r->summary;
    const Xd__RecipientRecord *rec = r->record;
    if (rec) {
        d->record_found = 1;
        d->record_state = (int)rec->state;
        d->remote_host = rec->remote_host;
        d->delivered_ms = rec->delivered_ms;
        d->bounced_ms = rec->bounced_ms;
        d->suppressed_ms = rec->suppressed_ms;
        d->failure_category = (int)rec->failure_category;
        if (rec->last_reply) {
            d->reply_code = (int)rec->last_reply->code;
            d->reply_enhanced = rec->last_reply->enhanced_code;
            d->reply_text = rec->last_reply->text;
        }
    }
    const Xd__CaseNote *note = r->case_note;
    if (note) {
        d->case_note = note->text;
        if (!d->remote_host || !*d->remote_host)
            d->remote_host = note->remote_host;
        if (!d->delivered_ms)
            d->delivered_ms = note->delivered_ms;
        if (d->reply_code == 0 && note->reply) {
            d->reply_code = (int)note->reply->code;
            d->reply_enhanced = note->reply->enhanced_code;
            d->reply_text = note->reply->text;
        }
    }
    for (size_t i = 0; i < r->n_steps && d->n_steps < TK_STEPS_MAX; i++) {
        if (!r->steps[i])
            continue;
        tk_step *s = &d->steps[d->n_steps++];
        s->question = r->steps[i]->question;
        s->finding = r->steps[i]->finding;
        s->problem = r->steps[i]->problem;
    }
    for (size_t i = 0; i < r->n_next_steps && d->n_next < TK_NEXT_MAX; i++)
        d->next_steps[d->n_next++] = r->next_steps[i];
}

xd_code verify_link_diagnose(void *ctx, const tk_diagnose_query *q, xd_arena *arena,
                             tk_diagnosis *out, xd_err *err)
{
    verify_link *l = ctx;
    Xd__DiagnoseRequest rq = XD__DIAGNOSE_REQUEST__INIT;
    rq.org_id = (char *)q->org_id;
    rq.recipient = (char *)q->recipient;
    rq.around_ms = q->around_ms;
    rq.message_id = (char *)(q->message_id ? q->message_id : "");
    Xd__Caller caller = XD__CALLER__INIT;
    caller.org_id = (char *)q->org_id;
    caller.role = XD__ROLE__ROLE_SERVICE;
    caller.principal = "ticket";
    /* Inside a handler, leave part of the caller's time for storing the
     * ticket and replying: a slow verify must not make the Create late. */
    int64_t timeout_ms = l->timeout_ms;
    if (q->parent) {
        int64_t left = xd_call_remaining_ms(q->parent);
        if (left != INT64_MAX) {
            int64_t margin = left / 4 < 250 ? left / 4 : 250;
            if (left - margin < timeout_ms)
                timeout_ms = left - margin;
        }
        if (timeout_ms <= 0)
            return xd_err_set(err, XD_DEADLINE_EXCEEDED,
                              "no time left in the caller's deadline to ask verify");
    }
    xd_call_options o = {.timeout_ms = timeout_ms, .parent = q->parent, .caller = &caller};
    Xd__DiagnoseReply *reply = NULL;
    xd_code rc =
        xd_client_call(l->client, &o, "Diagnose", &rq.base, &xd__diagnose_reply__descriptor, arena,
                       (ProtobufCMessage **)&reply, err);
    if (rc == XD_OK)
        map_reply(reply, out);
    return rc;
}
