/*
 * handlers.c: maps the Verify protobuf messages to the service logic.
 * Each handler scopes the request to an organization (the caller's; an
 * operator or suite service may name one), converts fields, calls the
 * NNG-free logic and fills the reply in the call's arena.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#include "verify.pb-c.h"
#include "vf_analysis.h"
#include "vf_arf.h"
#include "vf_bounce.h"
#include "vf_diagnose.h"
#include "vf_handlers.h"
#include "vf_service.h"
#include "xd/arena.h"
#include "xd/util.h"

#define ARENA(call) xd_call_arena(call)
#define SVC(call)   ((vf_service *)xd_call_service(call))

/* The organization a request acts for; see the scope rule in verify.proto. */
static xd_code resolve_org(xd_call *call, const char *requested, const char **org, xd_err *err)
{
    const Xd__Caller *c = xd_call_caller(call);
    const char *own = c->org_id ? c->org_id : "";
    int privileged = c->role == XD__ROLE__ROLE_OPERATOR || c->role == XD__ROLE__ROLE_SERVICE;
    if (requested && requested[0]) {
        if (strcmp(requested, own) == 0 || privileged) {
            if (strlen(requested) > VF_MAX_ID)
                return xd_err_field(err, XD_INVALID_ARGUMENT, "org_id", "org_id is too long");
            *org = requested;
            return XD_OK;
        }
        return xd_err_field(err, XD_PERMISSION_DENIED, "org_id",
                            "org_id names another organization; leave it empty to act for "
                            "your own (only operators may name one)");
    }
    if (own[0]) {
        *org = own;
        return XD_OK;
    }
    return xd_err_field(err, XD_INVALID_ARGUMENT, "org_id",
                        "the call has no organization: operators and services must set org_id");
}

static Xd__SmtpReply *smtp_reply(xd_arena *a, unsigned code, const char *enhanced, const char *text)
{
    Xd__SmtpReply *r = xd_arena_message(a, &xd__smtp_reply__descriptor);
    r->code = code;
    r->enhanced_code = xd_arena_strdup(a, enhanced);
    r->text = xd_arena_strdup(a, text);
    return r;
}

static Xd__RecipientRecord *record_msg(xd_arena *a, const vf_record *r)
{
    Xd__RecipientRecord *m = xd_arena_message(a, &xd__recipient_record__descriptor);
    m->org_id = xd_arena_strdup(a, r->org_id);
    m->message_id = xd_arena_strdup(a, r->message_id);
    m->recipient = xd_arena_strdup(a, r->recipient);
    m->client_id = xd_arena_strdup(a, r->client_id);
    m->module = xd_arena_strdup(a, r->module);
    m->category = xd_arena_strdup(a, r->category);
    m->message_id_header = xd_arena_strdup(a, r->message_id_header);
    m->subject = xd_arena_strdup(a, r->subject);
    m->from = xd_arena_strdup(a, r->from);
    m->state = r->state;
    m->state_time_ms = r->state_time_ms;
    m->queued_ms = r->state_ms[XD__RECIPIENT_STATE__RECIPIENT_STATE_QUEUED];
    m->deferred_ms = r->state_ms[XD__RECIPIENT_STATE__RECIPIENT_STATE_DEFERRED];
    m->delivered_ms = r->state_ms[XD__RECIPIENT_STATE__RECIPIENT_STATE_DELIVERED];
    m->bounced_ms = r->state_ms[XD__RECIPIENT_STATE__RECIPIENT_STATE_BOUNCED];
    m->expired_ms = r->state_ms[XD__RECIPIENT_STATE__RECIPIENT_STATE_EXPIRED];
    m->suppressed_ms = r->state_ms[XD__RECIPIENT_STATE__RECIPIENT_STATE_SUPPRESSED];
    m->complained_ms = r->state_ms[XD__RECIPIENT_STATE__RECIPIENT_STATE_COMPLAINED];
    m->unsubscribed_ms = r->state_ms[XD__RECIPIENT_STATE__RECIPIENT_STATE_UNSUBSCRIBED];
    m->last_reply = smtp_reply(a, r->reply_code, r->reply_enhanced, r->reply_text);
    m->remote_host = xd_arena_strdup(a, r->remote_host);
    m->tls_version = xd_arena_strdup(a, r->tls_version);
    m->failure_category = r->failure_category;
    m->events = r->events;
    return m;
}

static Xd__CaseNote *case_note_msg(xd_arena *a, const vf_record *r)
{
    Xd__CaseNote *n = xd_arena_message(a, &xd__case_note__descriptor);
    n->org_id = xd_arena_strdup(a, r->org_id);
    n->message_id = xd_arena_strdup(a, r->message_id);
    n->recipient = xd_arena_strdup(a, r->recipient);
    n->client_id = xd_arena_strdup(a, r->client_id);
    n->module = xd_arena_strdup(a, r->module);
    n->message_id_header = xd_arena_strdup(a, r->message_id_header);
    n->subject = xd_arena_strdup(a, r->subject);
    n->from = xd_arena_strdup(a, r->from);
    n->delivered_ms = r->note_delivered_ms;
    n->remote_host = xd_arena_strdup(a, r->note_remote_host);
    n->reply = smtp_reply(a, r->note_reply_code, r->note_reply_enhanced, r->note_reply_text);
    n->tls_version = xd_arena_strdup(a, r->note_tls_version);
    char text[2048];
    vf_case_note_text(r, text, sizeof text);
    n->text = xd_arena_strdup(a, text);
    return n;
}

/* ------------------------------------------------------------- events */

static xd_code h_record_events(xd_call *call, const ProtobufCMessage *req_, ProtobufCMessage *rep_,
                               xd_err *err)
{
    const Xd__RecordEventsRequest *req = (const void *)req_;
    Xd__RecordEventsReply *rep = (void *)rep_;
    if (req->n_events == 0)
        return xd_err_field(err, XD_INVALID_ARGUMENT, "events", "send at least one event");
    if (req->n_events > VF_MAX_EVENTS)
        return xd_err_field(err, XD_INVALID_ARGUMENT, "events",
                            "%zu events in one call; send at most %d", req->n_events,
                            VF_MAX_EVENTS);
    vf_event *evs = xd_arena_alloc(ARENA(call), req->n_events * sizeof *evs);
    for (size_t i = 0; i < req->n_events; i++) {
        const Xd__DeliveryEvent *e = req->events[i];
        vf_event *v = &evs[i];
        xd_code rc = resolve_org(call, e->org_id, &v->org_id, err);
        if (rc != XD_OK)
            return rc;
        v->event_id = e->event_id;
        v->message_id = e->message_id;
        v->recipient = e->recipient;
        v->state = e->state;
        v->event_time_ms = e->event_time_ms;
        v->sequence = e->sequence;
        v->client_id = e->client_id;
        v->module = e->module;
        v->category = e->category;
        v->message_id_header = e->message_id_header;
        v->subject = e->subject;
        v->from = e->from;
        if (e->reply) {
            v->reply_code = e->reply->code;
            v->reply_enhanced = e->reply->enhanced_code;
            v->reply_text = e->reply->text;
        }
        v->remote_host = e->remote_host;
        v->tls_version = e->tls_version;
        v->failure_category = e->failure_category;
    }
    unsigned applied, dups;
    xd_code rc = vf_store_record(SVC(call)->store, evs, (int)req->n_events, &applied, &dups, err);
    if (rc == XD_OK) {
        rep->applied = applied;
        rep->duplicates = dups;
    }
    return rc;
}

/* ---------------------------------------------------------- log queries */

typedef struct collect {
    xd_arena *arena;
    Xd__RecipientRecord **records;
    Xd__CaseNote **notes;
    size_t n_records, n_notes, cap;
} collect;

static void collect_record(void *ud, const vf_record *r)
{
    collect *c = ud;
    if (c->n_records >= c->cap)
        return;
    c->records[c->n_records++] = record_msg(c->arena, r);
    if (r->note_delivered_ms > 0)
        c->notes[c->n_notes++] = case_note_msg(c->arena, r);
}

static void page_args(const Xd__PageRequest *page, unsigned *size, const char **token)
{
    *size = page ? page->page_size : 0;
    *token = page && page->page_token ? page->page_token : "";
}

static Xd__PageReply *page_reply(xd_arena *a, const char *next)
{
    Xd__PageReply *p = xd_arena_message(a, &xd__page_reply__descriptor);
    p->next_page_token = xd_arena_strdup(a, next);
    return p;
}

static xd_code run_query(xd_call *call, vf_query *q, collect *c, char *next, xd_err *err)
{
    c->arena = ARENA(call);
    c->cap = q->page_size == 0 ? 100 : q->page_size > 1000 ? 1000 : q->page_size;
    c->records = (Xd__RecipientRecord **)xd_arena_ptrs(c->arena, c->cap);
    c->notes = (Xd__CaseNote **)xd_arena_ptrs(c->arena, c->cap);
    return vf_store_query(SVC(call)->store, q, collect_record, c, next, err);
}

static xd_code h_get_message_status(xd_call *call, const ProtobufCMessage *req_,
                                    ProtobufCMessage *rep_, xd_err *err)
{
    const Xd__GetMessageStatusRequest *req = (const void *)req_;
    Xd__GetMessageStatusReply *rep = (void *)rep_;
    vf_query q = {0};
    xd_code rc = resolve_org(call, req->org_id, &q.org_id, err);
    if (rc != XD_OK)
        return rc;
    if (!req->message_id || !req->message_id[0])
        return xd_err_field(err, XD_INVALID_ARGUMENT, "message_id", "message_id is required");
    q.message_id = req->message_id;
    page_args(req->page, &q.page_size, &q.page_token);
    collect c = {0};
    char next[64];
    rc = run_query(call, &q, &c, next, err);
    if (rc != XD_OK)
        return rc;
    if (c.n_records == 0 && !q.page_token[0])
        return xd_err_field(err, XD_NOT_FOUND, "message_id",
                            "no message %.100s in this organization's log", req->message_id);
    rep->recipients = c.records;
    rep->n_recipients = c.n_records;
    rep->case_notes = c.notes;
    rep->n_case_notes = c.n_notes;
    rep->page = page_reply(ARENA(call), next);
    return XD_OK;
}

static xd_code h_list_case_notes(xd_call *call, const ProtobufCMessage *req_,
                                 ProtobufCMessage *rep_, xd_err *err)
{
    const Xd__ListCaseNotesRequest *req = (const void *)req_;
    Xd__ListCaseNotesReply *rep = (void *)rep_;
    vf_query q = {0};
    xd_code rc = resolve_org(call, req->org_id, &q.org_id, err);
    if (rc != XD_OK)
        return rc;
    int by_rcpt = req->recipient && req->recipient[0];
    int by_client = req->client_id && req->client_id[0];
    if (by_rcpt == by_client)
        return xd_err_field(err, XD_INVALID_ARGUMENT, "recipient",
                            "give exactly one of recipient or client_id");
    q.recipient = by_rcpt ? req->recipient : NULL;
    q.client_id = by_client ? req->client_id : NULL;
    q.from_ms = req->from_ms;
    q.to_ms = req->to_ms;
    q.delivered_only = req->delivered_only;
    page_args(req->page, &q.page_size, &q.page_token);
    collect c = {0};
    char next[64];
    rc = run_query(call, &q, &c, next, err);
    if (rc != XD_OK)
        return rc;
    rep->records = c.records;
    rep->n_records = c.n_records;
    rep->case_notes = c.notes;
    rep->n_case_notes = c.n_notes;
    rep->page = page_reply(ARENA(call), next);
    return XD_OK;
}

/* --------------------------------------------------------- suppression */

static Xd__Suppression *suppression_msg(xd_arena *a, const vf_suppression *s)
{
    Xd__Suppression *m = xd_arena_message(a, &xd__suppression__descriptor);
    m->org_id = xd_arena_strdup(a, s->org_id);
    m->address = xd_arena_strdup(a, s->address);
    m->scope = xd_arena_strdup(a, s->scope);
    m->reason = s->reason;
    m->created_ms = s->created_ms;
    m->expires_ms = s->expires_ms;
    m->source = xd_arena_strdup(a, s->source);
    m->detail = xd_arena_strdup(a, s->detail);
    return m;
}

typedef struct sup_out {
    xd_arena *arena;
    Xd__Suppression **items;
    size_t n, cap;
} sup_out;

static void keep_sup(void *ud, const vf_suppression *s)
{
    sup_out *o = ud;
    if (o->n < o->cap)
        o->items[o->n++] = suppression_msg(o->arena, s);
}

static xd_code h_add_suppression(xd_call *call, const ProtobufCMessage *req_,
                                 ProtobufCMessage *rep_, xd_err *err)
{
    const Xd__AddSuppressionRequest *req = (const void *)req_;
    Xd__AddSuppressionReply *rep = (void *)rep_;
    vf_suppression s = {0};
    xd_code rc = resolve_org(call, req->org_id, &s.org_id, err);
    if (rc != XD_OK)
        return rc;
    s.address = req->address;
    s.scope = req->scope;
    s.reason = req->reason;
    s.expires_ms = req->expires_ms;
    s.source = req->source && req->source[0] ? req->source : "api";
    s.detail = req->detail;
    Xd__Suppression *one[1] = {NULL};
    sup_out o = {ARENA(call), one, 0, 1};
    int created = 0;
    rc = vf_store_suppress(SVC(call)->store, &s, &created, keep_sup, &o, err);
    if (rc != XD_OK)
        return rc;
    rep->suppression = one[0];
    rep->created = created;
    return XD_OK;
}

static xd_code h_remove_suppression(xd_call *call, const ProtobufCMessage *req_,
                                    ProtobufCMessage *rep_, xd_err *err)
{
    const Xd__RemoveSuppressionRequest *req = (const void *)req_;
    Xd__RemoveSuppressionReply *rep = (void *)rep_;
    const char *org = NULL;
    xd_code rc = resolve_org(call, req->org_id, &org, err);
    if (rc != XD_OK)
        return rc;
    int removed = 0;
    rc = vf_store_unsuppress(SVC(call)->store, org, req->address, req->scope, &removed, err);
    rep->removed = removed;
    return rc;
}

static xd_code h_list_suppressions(xd_call *call, const ProtobufCMessage *req_,
                                   ProtobufCMessage *rep_, xd_err *err)
{
    const Xd__ListSuppressionsRequest *req = (const void *)req_;
    Xd__ListSuppressionsReply *rep = (void *)rep_;
    const char *org = NULL;
    xd_code rc = resolve_org(call, req->org_id, &org, err);
    if (rc != XD_OK)
        return rc;
    unsigned size;
    const char *token;
    page_args(req->page, &size, &token);
    sup_out o = {ARENA(call), NULL, 0, size == 0 ? 100 : size > 1000 ? 1000 : size};
    o.items = (Xd__Suppression **)xd_arena_ptrs(o.arena, o.cap);
    char next[2 * VF_MAX_ID + 80];
    rc = vf_store_list_suppressions(SVC(call)->store, org, req->address, req->include_expired, size,
                                    token, keep_sup, &o, next, err);
    if (rc != XD_OK)
        return rc;
    rep->suppressions = o.items;
    rep->n_suppressions = o.n;
    rep->page = page_reply(o.arena, next);
    return XD_OK;
}

/* -------------------------------------------------- bounces, complaints */

/* A document without an id is identified by its content. */
static const char *doc_id(xd_arena *a, const char *given, const ProtobufCBinaryData *msg)
{
    if (given && given[0])
        return given;
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256(msg->data, msg->len, digest);
    char *hex = xd_arena_alloc(a, 2 * SHA256_DIGEST_LENGTH + 8);
    memcpy(hex, "sha256:", 7);
    xd_hex_encode(digest, SHA256_DIGEST_LENGTH, hex + 7);
    return hex;
}

static xd_code check_document(const ProtobufCBinaryData *m, const char *id, const char *id_field,
                              xd_err *err)
{
    if (m->len == 0)
        return xd_err_field(err, XD_INVALID_ARGUMENT, "message",
                            "message is empty: pass the whole RFC 5322 message");
    if (m->len > VF_BOUNCE_MAX_BYTES)
        return xd_err_field(err, XD_INVALID_ARGUMENT, "message",
                            "message is %zu bytes; at most %d are accepted", m->len,
                            VF_BOUNCE_MAX_BYTES);
    if (id && (strlen(id) > VF_MAX_ID || xd_has_crlf_nul(id, strlen(id))))
        return xd_err_field(err, XD_INVALID_ARGUMENT, id_field,
                            "%s must be one line of at most %d bytes", id_field, VF_MAX_ID);
    return XD_OK;
}

static xd_code h_ingest_bounce(xd_call *call, const ProtobufCMessage *req_, ProtobufCMessage *rep_,
                               xd_err *err)
{
    const Xd__IngestBounceRequest *req = (const void *)req_;
    Xd__IngestBounceReply *rep = (void *)rep_;
    const char *org = NULL;
    xd_code rc = resolve_org(call, req->org_id, &org, err);
    if (rc == XD_OK)
        rc = check_document(&req->message, req->bounce_id, "bounce_id", err);
    if (rc == XD_OK && req->message_id && strlen(req->message_id) > VF_MAX_ID)
        rc = xd_err_field(err, XD_INVALID_ARGUMENT, "message_id", "message_id is too long");
    if (rc != XD_OK)
        return rc;
    vf_bounce *b = malloc(sizeof *b);
    if (!b || vf_bounce_parse((const char *)req->message.data, req->message.len, b) != 0) {
        free(b);
        return xd_err_set(err, XD_RESOURCE_EXHAUSTED, "out of memory parsing the bounce");
    }
    if (b->kind == VF_BOUNCE_FEEDBACK) {
        free(b);
        return xd_err_field(err, XD_INVALID_ARGUMENT, "message",
                            "this is an ARF feedback report: send it to IngestComplaint");
    }
    xd_arena *a = ARENA(call);
    static const Xd__BounceKind kinds[] = {
        XD__BOUNCE_KIND__BOUNCE_KIND_NOT_BOUNCE, XD__BOUNCE_KIND__BOUNCE_KIND_DSN,
        XD__BOUNCE_KIND__BOUNCE_KIND_NON_STANDARD, XD__BOUNCE_KIND__BOUNCE_KIND_AUTO_REPLY};
    rep->kind = kinds[b->kind];
    rep->recipients = (Xd__BounceRecipient **)xd_arena_ptrs(a, (size_t)b->n + 1);
    for (int i = 0; i < b->n; i++) {
        const vf_bounce_rcpt *r = &b->rcpts[i];
        Xd__BounceRecipient *m = xd_arena_message(a, &xd__bounce_recipient__descriptor);
        m->recipient = xd_arena_strdup(a, r->recipient);
        m->action = xd_arena_strdup(a, r->action);
        m->status = xd_arena_strdup(a, r->status);
        m->reply_code = r->reply_code;
        m->diagnostic = xd_arena_strdup(a, r->diagnostic);
        m->remote_mta = xd_arena_strdup(a, r->remote_mta);
        m->category = r->cls.category;
        m->reason = xd_arena_strdup(a, r->cls.reason);
        m->hard = r->cls.hard && strcmp(r->action, "failed") == 0;
        rep->recipients[rep->n_recipients++] = m;
    }
    unsigned suppressed = 0;
    int dup = 0;
    rc = vf_store_ingest_bounce(SVC(call)->store, org, doc_id(a, req->bounce_id, &req->message),
                                req->message_id, b, &suppressed, &dup, err);
    free(b);
    rep->suppressed = suppressed;
    rep->duplicate = dup;
    return rc;
}

static xd_code h_ingest_complaint(xd_call *call, const ProtobufCMessage *req_,
                                  ProtobufCMessage *rep_, xd_err *err)
{
    const Xd__IngestComplaintRequest *req = (const void *)req_;
    Xd__IngestComplaintReply *rep = (void *)rep_;
    const char *org = NULL;
    xd_code rc = resolve_org(call, req->org_id, &org, err);
    if (rc == XD_OK)
        rc = check_document(&req->message, req->complaint_id, "complaint_id", err);
    if (rc != XD_OK)
        return rc;
    vf_arf *arf = malloc(sizeof *arf);
    if (!arf || vf_arf_parse((const char *)req->message.data, req->message.len, arf) != 0) {
        free(arf);
        return xd_err_set(err, XD_RESOURCE_EXHAUSTED, "out of memory parsing the report");
    }
    if (!arf->is_report) {
        free(arf);
        return xd_err_field(err, XD_INVALID_ARGUMENT, "message",
                            "no message/feedback-report part: this is not an ARF report");
    }
    xd_arena *a = ARENA(call);
    rep->feedback_type = xd_arena_strdup(a, arf->feedback_type);
    rep->user_agent = xd_arena_strdup(a, arf->user_agent);
    rep->source_ip = xd_arena_strdup(a, arf->source_ip);
    rep->auth_failure = xd_arena_strdup(a, arf->auth_failure);
    rep->original_message_id = xd_arena_strdup(a, arf->original_message_id);
    rep->recipients = (char **)xd_arena_ptrs(a, (size_t)arf->n_rcpts + 1);
    for (int i = 0; i < arf->n_rcpts; i++)
        rep->recipients[rep->n_recipients++] = xd_arena_strdup(a, arf->rcpts[i]);
    unsigned suppressed = 0;
    int dup = 0;
    rc = vf_store_ingest_complaint(SVC(call)->store, org,
                                   doc_id(a, req->complaint_id, &req->message), arf, &suppressed,
                                   &dup, err);
    free(arf);
    rep->suppressed = suppressed;
    rep->duplicate = dup;
    return rc;
}

/* ------------------------------------------------------------- reports */

static Xd__StateCounts *counts_msg(xd_arena *a, const vf_counts *c)
{
    Xd__StateCounts *m = xd_arena_message(a, &xd__state_counts__descriptor);
    m->sent = c->sent;
    m->delivered = c->delivered;
    m->deferred = c->deferred;
    m->bounced = c->bounced;
    m->suppressed = c->suppressed;
    m->complained = c->complained;
    m->undelivered_ratio = c->sent ? (double)(c->bounced + c->suppressed) / (double)c->sent : 0;
    return m;
}

typedef struct counts_out {
    xd_arena *arena;
    Xd__GetEmailCountsReply *rep;
} counts_out;

static void on_total(void *ud, const char *key, const vf_counts *c)
{
    counts_out *o = ud;
    (void)key;
    o->rep->totals = counts_msg(o->arena, c);
}

static void on_client(void *ud, const char *key, const vf_counts *c)
{
    counts_out *o = ud;
    Xd__ClientCounts *m = xd_arena_message(o->arena, &xd__client_counts__descriptor);
    m->client_id = xd_arena_strdup(o->arena, key);
    m->counts = counts_msg(o->arena, c);
    o->rep->clients[o->rep->n_clients++] = m;
}

static void on_module(void *ud, const char *key, const vf_counts *c)
{
    counts_out *o = ud;
    Xd__ModuleCounts *m = xd_arena_message(o->arena, &xd__module_counts__descriptor);
    m->module = xd_arena_strdup(o->arena, key);
    m->counts = counts_msg(o->arena, c);
    o->rep->modules[o->rep->n_modules++] = m;
}

static xd_code h_get_email_counts(xd_call *call, const ProtobufCMessage *req_,
                                  ProtobufCMessage *rep_, xd_err *err)
{
    const Xd__GetEmailCountsRequest *req = (const void *)req_;
    Xd__GetEmailCountsReply *rep = (void *)rep_;
    const char *org = NULL;
    xd_code rc = resolve_org(call, req->org_id, &org, err);
    if (rc != XD_OK)
        return rc;
    xd_arena *a = ARENA(call);
    rep->clients = (Xd__ClientCounts **)xd_arena_ptrs(a, 1000);
    rep->modules = (Xd__ModuleCounts **)xd_arena_ptrs(a, 1000);
    vf_counts zero = {0};
    rep->totals = counts_msg(a, &zero);
    counts_out o = {a, rep};
    return vf_store_counts(SVC(call)->store, org, req->month, on_total, on_client, on_module, &o,
                           err);
}

static xd_code h_get_domain_report(xd_call *call, const ProtobufCMessage *req_,
                                   ProtobufCMessage *rep_, xd_err *err)
{
    const Xd__GetDomainReportRequest *req = (const void *)req_;
    Xd__GetDomainReportReply *rep = (void *)rep_;
    const char *org = NULL;
    xd_code rc = resolve_org(call, req->org_id, &org, err);
    if (rc != XD_OK)
        return rc;
    vf_domain_row *rows;
    unsigned n;
    rc = vf_store_domain_report(SVC(call)->store, org, req->from_ms, req->to_ms, req->max_domains,
                                &rows, &n, err);
    if (rc != XD_OK)
        return rc;
    xd_arena *a = ARENA(call);
    const vf_settings *set = vf_store_settings(SVC(call)->store);
    rep->domains = (Xd__DomainRow **)xd_arena_ptrs(a, n + 1);
    for (unsigned i = 0; i < n; i++) {
        const vf_domain_row *r = &rows[i];
        Xd__DomainRow *m = xd_arena_message(a, &xd__domain_row__descriptor);
        m->domain = xd_arena_strdup(a, r->domain);
        m->volume = r->volume;
        m->delivered = r->delivered;
        m->deferred = r->deferred;
        m->rejected = r->rejected;
        m->rejected_by_category = (Xd__CategoryCount **)xd_arena_ptrs(a, 32);
        for (int c = 1; c < 32; c++) {
            if (!r->by_category[c])
                continue;
            Xd__CategoryCount *cc = xd_arena_message(a, &xd__category_count__descriptor);
            cc->category = (Xd__FailureCategory)c;
            cc->count = r->by_category[c];
            m->rejected_by_category[m->n_rejected_by_category++] = cc;
        }
        vf_domain_verdict v;
        vf_domain_judge(set, r, &v);
        m->flagged = v.flagged;
        m->main_category = v.main_category;
        m->remedy = xd_arena_strdup(a, v.flagged ? v.remedy : "");
        rep->domains[rep->n_domains++] = m;
    }
    free(rows);
    return XD_OK;
}

static xd_code h_get_org_health(xd_call *call, const ProtobufCMessage *req_, ProtobufCMessage *rep_,
                                xd_err *err)
{
    const Xd__GetOrgHealthRequest *req = (const void *)req_;
    Xd__GetOrgHealthReply *rep = (void *)rep_;
    const char *org = NULL;
    xd_code rc = resolve_org(call, req->org_id, &org, err);
    if (rc != XD_OK)
        return rc;
    vf_health h;
    rc = vf_org_health(SVC(call)->store, org, &h, err);
    if (rc != XD_OK)
        return rc;
    xd_arena *a = ARENA(call);
    const vf_settings *s = vf_store_settings(SVC(call)->store);
    rep->windows = (Xd__RateWindow **)xd_arena_ptrs(a, 2);
    for (int i = 0; i < 2; i++) {
        Xd__RateWindow *w = xd_arena_message(a, &xd__rate_window__descriptor);
        w->days = h.windows[i].days;
        w->sent = h.windows[i].counts.sent;
        w->bounced = h.windows[i].counts.bounced;
        w->complained = h.windows[i].counts.complained;
        w->bounce_rate = h.windows[i].bounce_rate;
        w->complaint_rate = h.windows[i].complaint_rate;
        w->bounce_level = h.windows[i].bounce_level;
        w->complaint_level = h.windows[i].complaint_level;
        rep->windows[rep->n_windows++] = w;
    }
    rep->level = h.level;
    rep->complaint_warn = s->complaint_warn;
    rep->complaint_critical = s->complaint_critical;
    rep->bounce_warn = s->bounce_warn;
    rep->bounce_critical = s->bounce_critical;
    rep->summary = xd_arena_strdup(a, h.summary);
    return XD_OK;
}

/* ----------------------------------------------------------- diagnosis */

static xd_code h_diagnose(xd_call *call, const ProtobufCMessage *req_, ProtobufCMessage *rep_,
                          xd_err *err)
{
    const Xd__DiagnoseRequest *req = (const void *)req_;
    Xd__DiagnoseReply *rep = (void *)rep_;
    vf_diagnose_request dr = {0};
    xd_code rc = resolve_org(call, req->org_id, &dr.org_id, err);
    if (rc != XD_OK)
        return rc;
    dr.recipient = req->recipient;
    dr.message_id = req->message_id;
    dr.around_ms = req->around_ms;
    dr.window_ms = req->window_ms;
    if (dr.window_ms < 0 || dr.window_ms > 400LL * 86400000)
        return xd_err_field(err, XD_INVALID_ARGUMENT, "window_ms",
                            "window_ms must be between 0 and 400 days");
    vf_diagnosis *d = malloc(sizeof *d);
    if (!d)
        return xd_err_set(err, XD_RESOURCE_EXHAUSTED, "out of memory");
    void *ud = NULL;
    vf_address_checker checker = vf_diagnose_checker(SVC(call), &ud);
    rc = vf_diagnose(SVC(call)->store, &dr, checker, ud, d, err);
    if (rc == XD_OK) {
        xd_arena *a = ARENA(call);
        rep->verdict = d->verdict;
        rep->summary = xd_arena_strdup(a, d->summary);
        rep->steps = (Xd__DiagnoseStep **)xd_arena_ptrs(a, (size_t)d->n_steps + 1);
        for (int i = 0; i < d->n_steps; i++) {
            Xd__DiagnoseStep *s = xd_arena_message(a, &xd__diagnose_step__descriptor);
            s->question = xd_arena_strdup(a, d->steps[i].question);
            s->finding = xd_arena_strdup(a, d->steps[i].finding);
            s->problem = d->steps[i].problem;
            rep->steps[rep->n_steps++] = s;
        }
        rep->next_steps = (char **)xd_arena_ptrs(a, (size_t)d->n_next + 1);
        for (int i = 0; i < d->n_next; i++)
            rep->next_steps[rep->n_next_steps++] = xd_arena_strdup(a, d->next[i]);
        if (d->has_record) {
            rep->record = record_msg(a, &d->record.rec);
            if (d->record.rec.note_delivered_ms > 0)
                rep->case_note = case_note_msg(a, &d->record.rec);
        }
    }
    free(d);
    return rc;
}

/* ------------------------------------------------------- recipient checks */

xd_code vf_resolve_org(xd_call *call, const char *requested, const char **org, xd_err *err)
{
    return resolve_org(call, requested, org, err);
}

const xd_method_impl vf_methods[] = {
    {"RecordEvents", h_record_events},
    {"GetMessageStatus", h_get_message_status},
    {"ListCaseNotes", h_list_case_notes},
    {"AddSuppression", h_add_suppression},
    {"RemoveSuppression", h_remove_suppression},
    {"ListSuppressions", h_list_suppressions},
    {"IngestBounce", h_ingest_bounce},
    {"IngestComplaint", h_ingest_complaint},
    {"Diagnose", h_diagnose},
    {"GetEmailCounts", h_get_email_counts},
    {"GetDomainReport", h_get_domain_report},
    {"GetOrgHealth", h_get_org_health},
    {"ValidateAddress", vf_h_validate_address},
    {"CheckRecipients", vf_h_check_recipients},
};
const int vf_n_methods = (int)(sizeof vf_methods / sizeof vf_methods[0]);
