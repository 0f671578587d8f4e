/* ticket_client.c: test-side calls into xd-ticket. */
#include "ticket_client.h"
#include "xd/clock.h"
#include "xd/util.h"

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

xd_code tc_call(xd_client *c, const char *org, int role, const char *method,
                const ProtobufCMessage *req, const ProtobufCMessageDescriptor *reply_desc,
                xd_arena *arena, void *out, xd_err *err)
{
    Xd__Caller caller = XD__CALLER__INIT;
    caller.org_id = (char *)org;
    caller.role = (Xd__Role)role;
    caller.principal = "integration-test";
    xd_call_options o = {.timeout_ms = 10000, .caller = &caller};
    return xd_client_call(c, &o, method, req, reply_desc, arena, (ProtobufCMessage **)out, err);
}

Xd__Reply *tc_raw(const char *url, const char *org, int role, const char *method,
                  const ProtobufCMessage *req)
{
    nng_socket s;
    if (nng_req0_open(&s) != 0)
        return NULL;
    nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 10000);
    Xd__Reply *r = NULL;
    if (nng_dial(s, url, NULL, 0) != 0)
        goto done;
    Xd__Caller caller = XD__CALLER__INIT;
    caller.org_id = (char *)org;
    caller.role = (Xd__Role)role;
    Xd__Request rq = XD__REQUEST__INIT;
    char rid[33];
    xd_random_hex(rid, 16);
    rq.method = (char *)method;
    rq.request_id = rid;
    rq.caller = &caller;
    rq.timeout_ms = 10000;
    rq.payload.len = protobuf_c_message_get_packed_size(req);
    rq.payload.data = malloc(rq.payload.len + 1);
    protobuf_c_message_pack(req, rq.payload.data);
    size_t len = xd__request__get_packed_size(&rq);
    unsigned char *buf = malloc(len + 1);
    xd__request__pack(&rq, buf);
    free(rq.payload.data);
    int rv = nng_send(s, buf, len, 0);
    free(buf);
    if (rv != 0)
        goto done;
    void *reply = NULL;
    size_t rlen = 0;
    if (nng_recv(s, &reply, &rlen, NNG_FLAG_ALLOC) != 0)
        goto done;
    r = xd__reply__unpack(NULL, rlen, reply);
    nng_free(reply, rlen);
done:
    nng_close(s);
    return r;
}

const char *tc_occurred_at(int64_t unix_ms)
{
    /* Local time in a +01:00 zone, as support would type it. */
    static _Thread_local char text[8][40];
    static _Thread_local int next;
    char *out = text[next++ % 8];
    xd_format_rfc3339(unix_ms + 3600 * 1000LL, out, 40);
    char *dot = strchr(out, '.');
    if (dot)
        strcpy(dot, "+01:00");
    return out;
}

Xd__CreateTicketRequest tc_valid_create(const char *recipient, const char *key)
{
    Xd__CreateTicketRequest rq = XD__CREATE_TICKET_REQUEST__INIT;
    rq.occurred_at = (char *)tc_occurred_at(xd_clock_now_ms(xd_clock_system()) - 2 * 3600 * 1000LL);
    rq.recipient = (char *)recipient;
    rq.module = "course-registration";
    rq.other_domain_tried = XD__TICKET_OTHER_DOMAIN_TRIED__TICKET_OTHER_DOMAIN_TRIED_YES;
    rq.other_domain = "gmail.com";
    rq.issue_type = XD__TICKET_ISSUE_TYPE__TICKET_ISSUE_TYPE_NOT_RECEIVED;
    rq.description = "The student says the registration confirmation never arrived.";
    rq.additional_info = "A test to a gmail.com address arrived fine.";
    rq.reporter = "Pat Support <pat@school.example>";
    rq.idempotency_key = (char *)key;
    return rq;
}

static const char *enum_name(const ProtobufCEnumDescriptor *d, int v)
{
    const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(d, v);
    return ev ? ev->name : "?";
}

static const char *when(int64_t ms, char *buf)
{
    if (ms <= 0)
        return "-";
    xd_format_rfc3339(ms, buf, 40);
    return buf;
}

void tc_show_ticket(const char *title, const Xd__SupportTicket *t)
{
    if (!getenv("XD_SHOW_TICKETS"))
        return;
    char b1[40], b2[40];
    const Xd__TicketFindings *f = t->findings;
    printf("=== %s ===\n", title);
    printf("%s  org %s  status %s  issue %s\n", t->ticket_id, t->org_id,
           enum_name(&xd__ticket_status__descriptor, t->status),
           enum_name(&xd__ticket_issue_type__descriptor, t->issue_type));
    printf("  occurred     %s\n  recipient    %s (domain %s)\n  module       %s\n", t->occurred_at,
           t->recipient, t->recipient_domain, t->module);
    printf("  other domain %s %s\n  reporter     %s\n  description  %s\n",
           enum_name(&xd__ticket_other_domain_tried__descriptor, t->other_domain_tried),
           t->other_domain, t->reporter, t->description);
    printf("  created %s  updated %s  resolved %s\n", when(t->created_ms, b1),
           when(t->updated_ms, b2), t->resolved_ms ? "yes" : "-");
    printf("  findings: %s, verdict %s, %u attempt(s)%s%s\n",
           enum_name(&xd__ticket_findings_state__descriptor, f->state),
           enum_name(&xd__ticket_verdict__descriptor, f->verdict), f->attempts,
           *f->last_error ? ", last error: " : "", f->last_error);
    if (*f->summary)
        printf("    summary:   %s\n", f->summary);
    if (f->reply)
        printf("    reply:     %u %s %s from %s\n", f->reply->code, f->reply->enhanced_code,
               f->reply->text, f->remote_host);
    if (*f->case_note)
        printf("    case note: %s\n", f->case_note);
    for (size_t i = 0; i < f->n_steps; i++)
        printf("    %s %s %s\n", f->steps[i]->problem ? "[!]" : "[ ]", f->steps[i]->question,
               f->steps[i]->finding);
    for (size_t i = 0; i < f->n_verify_next_steps; i++)
        printf("    verify suggests: %s\n", f->verify_next_steps[i]);
    printf("  next step (%s): %s\n", enum_name(&xd__ticket_action__descriptor, f->action),
           f->next_step);
    for (size_t i = 0; i < t->n_comments; i++)
        printf("  comment %llu by %s%s: %s\n", (unsigned long long)t->comments[i]->comment_id,
               t->comments[i]->author, t->comments[i]->internal ? " (internal)" : "",
               t->comments[i]->body);
    printf("\n");
    fflush(stdout);
}
