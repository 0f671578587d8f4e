/* handlers.c: Ticket RPC methods <-> ticket logic. */
#include "handlers.h"
#include "context.h"
#include "ticket.pb-c.h"
#include "xd/arena.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIST_DEFAULT   50
#define LIST_MAX       200
#define GROUPS_DEFAULT 50
#define GROUPS_MAX     500
#define FILTER_MAX     32 /* entries in a repeated filter */

static ticket_ctx *ctx_of(xd_call *call)
{
    return xd_call_service(call);
}

static xd_code scope_of(xd_call *call, const char *requested_org, tk_scope *scope, xd_err *err)
{
    const Xd__Caller *c = xd_call_caller(call);
    return tk_scope_for(c->org_id, (int)c->role, requested_org, ctx_of(call)->svc.staff_org, scope,
                        err);
}

/* Reports every problem as a detail (the first is what clients see as the
 * error's field); the message names them all. */
static xd_code invalid(xd_call *call, const tk_problems *p, const char *what, xd_err *err)
{
    for (int i = 0; i < p->n; i++)
        xd_call_add_detail(call, p->items[i].field, p->items[i].reason);
    char msg[XD_ERR_MESSAGE_MAX];
    tk_problems_message(p, msg, sizeof(msg));
    return xd_err_set(err, XD_INVALID_ARGUMENT, "%s: %s", what, msg);
}

static int64_t ticket_id_of(const char *text, xd_err *err)
{
    int64_t id = tk_parse_id(text);
    if (id <= 0)
        xd_err_field(err, XD_INVALID_ARGUMENT, "ticket_id",
                     "ticket_id '%.40s' is not a ticket id: use the form XD-000123",
                     text ? text : "");
    return id;
}

/* ----------------------------------------------------- logic -> proto */

static char *dup(xd_arena *a, const char *s)
{
    return xd_arena_strdup(a, s ? s : "");
}

static Xd__TicketFindings *findings_to_proto(xd_arena *a, const tk_findings *f)
{
    Xd__TicketFindings *p = xd_arena_message(a, &xd__ticket_findings__descriptor);
    const tk_diagnosis *d = &f->d;
    p->state = (Xd__TicketFindingsState)f->state;
    p->verdict = (Xd__TicketVerdict)d->verdict;
    p->summary = dup(a, d->summary);
    p->record_found = d->record_found;
    p->record_state = (Xd__RecipientState)d->record_state;
    if (d->reply_code > 0) {
        p->reply = xd_arena_message(a, &xd__smtp_reply__descriptor);
        p->reply->code = (uint32_t)d->reply_code;
        p->reply->enhanced_code = dup(a, d->reply_enhanced);
        p->reply->text = dup(a, d->reply_text);
    }
    p->remote_host = dup(a, d->remote_host);
    p->delivered_ms = d->delivered_ms;
    p->bounced_ms = d->bounced_ms;
    p->suppressed_ms = d->suppressed_ms;
    p->failure_category = (Xd__FailureCategory)d->failure_category;
    p->suppressed = f->suppressed;
    p->domain_problem = f->domain_problem;
    p->case_note = dup(a, d->case_note);
    p->n_steps = (size_t)d->n_steps;
    p->steps = (Xd__TicketFindingStep **)xd_arena_ptrs(a, p->n_steps);
    for (int i = 0; i < d->n_steps; i++) {
        Xd__TicketFindingStep *s = xd_arena_message(a, &xd__ticket_finding_step__descriptor);
        s->question = dup(a, d->steps[i].question);
        s->finding = dup(a, d->steps[i].finding);
        s->problem = d->steps[i].problem;
        p->steps[i] = s;
    }
    p->n_verify_next_steps = (size_t)d->n_next;
    p->verify_next_steps = (char **)xd_arena_ptrs(a, p->n_verify_next_steps);
    for (int i = 0; i < d->n_next; i++)
        p->verify_next_steps[i] = dup(a, d->next_steps[i]);
    p->action = (Xd__TicketAction)f->action;
    p->next_step = dup(a, f->next_step);
    p->checked_ms = f->checked_ms;
    p->attempts = (uint32_t)f->attempts;
    p->last_error = dup(a, f->last_error);
    return p;
}

static Xd__TicketComment *comment_to_proto(xd_arena *a, const tk_comment *c)
{
    Xd__TicketComment *p = xd_arena_message(a, &xd__ticket_comment__descriptor);
    p->comment_id = (uint64_t)c->seq;
    p->author = dup(a, c->author);
    p->body = dup(a, c->body);
    p->internal = c->internal;
    p->created_ms = c->created_ms;
    return p;
}

static Xd__SupportTicket *ticket_to_proto(xd_arena *a, const tk_ticket *t)
{
    Xd__SupportTicket *p = xd_arena_message(a, &xd__support_ticket__descriptor);
    char name[24];
    tk_format_id(t->id, name, sizeof(name));
    p->ticket_id = dup(a, name);
    p->org_id = dup(a, t->org_id);
    p->status = (Xd__TicketStatus)t->status;
    p->issue_type = (Xd__TicketIssueType)t->issue_type;
    p->occurred_at = dup(a, t->occurred_at);
    p->occurred_ms = t->occurred_ms;
    p->recipient = dup(a, t->recipient);
    p->recipient_domain = dup(a, t->recipient_domain);
    p->module = dup(a, t->module);
    p->other_domain_tried = (Xd__TicketOtherDomainTried)t->other_domain_tried;
    p->other_domain = dup(a, t->other_domain);
    p->description = dup(a, t->description);
    p->additional_info = dup(a, t->additional_info);
    p->reporter = dup(a, t->reporter);
    p->message_id = dup(a, t->message_id);
    p->assignee = dup(a, t->assignee);
    p->created_ms = t->created_ms;
    p->updated_ms = t->updated_ms;
    p->resolved_ms = t->resolved_ms;
    p->closed_ms = t->closed_ms;
    p->findings = findings_to_proto(a, &t->findings);
    p->n_comments = (size_t)t->n_comments;
    p->comments = (Xd__TicketComment **)xd_arena_ptrs(a, p->n_comments);
    for (int i = 0; i < t->n_comments; i++)
        p->comments[i] = comment_to_proto(a, &t->comments[i]);
    p->comment_count = (uint32_t)t->comment_count;
    return p;
}

/* ------------------------------------------------------------ methods */

static xd_code do_create(xd_call *call, const ProtobufCMessage *req, ProtobufCMessage *reply,
                         xd_err *err)
{
    const Xd__CreateTicketRequest *in = (const Xd__CreateTicketRequest *)req;
    Xd__CreateTicketReply *out = (Xd__CreateTicketReply *)reply;
    tk_scope scope;
    xd_code rc = scope_of(call, in->org_id, &scope, err);
    if (rc != XD_OK)
        return rc;
    tk_create_input ci = {
        .occurred_at = in->occurred_at,
        .recipient = in->recipient,
        .recipient_domain = in->recipient_domain,
        .module = in->module,
        .other_domain_tried = (int)in->other_domain_tried,
        .other_domain = in->other_domain,
        .issue_type = (int)in->issue_type,
        .description = in->description,
        .additional_info = in->additional_info,
        .reporter = in->reporter,
        .message_id = in->message_id,
        .idempotency_key = in->idempotency_key,
    };
    xd_arena *a = xd_call_arena(call);
    tk_problems *problems = xd_arena_alloc(a, sizeof(*problems));
    tk_ticket *t = NULL;
    int created = 0;
    rc = tk_service_create(&ctx_of(call)->svc, &scope, &ci, xd_call_request_id(call), call, a, &t,
                           &created, problems, err);
    if (rc == XD_INVALID_ARGUMENT && problems->n > 0)
        return invalid(call, problems, "the ticket cannot be filed", err);
    if (rc != XD_OK)
        return rc;
    out->ticket = ticket_to_proto(a, t);
    out->created = created;
    return XD_OK;
}

static xd_code do_get(xd_call *call, const ProtobufCMessage *req, ProtobufCMessage *reply,
                      xd_err *err)
{
    const Xd__GetTicketRequest *in = (const Xd__GetTicketRequest *)req;
    tk_scope scope;
    xd_code rc = scope_of(call, NULL, &scope, err);
    if (rc != XD_OK)
        return rc;
    int64_t id = ticket_id_of(in->ticket_id, err);
    if (id <= 0)
        return err->code;
    tk_ticket *t = NULL;
    rc = tk_store_get(ctx_of(call)->store, &scope, id, 1, xd_call_arena(call), &t, err);
    if (rc == XD_OK)
        ((Xd__GetTicketReply *)reply)->ticket = ticket_to_proto(xd_call_arena(call), t);
    return rc;
}

/* Bit mask of the values in a repeated enum filter, or problems. */
static unsigned mask_of(const int *values, size_t n, int count, const char *field, tk_problems *p)
{
    unsigned mask = 0;
    if (n > FILTER_MAX) {
        tk_problems_add(p, field, "%s has %zu entries; at most %d", field, n, FILTER_MAX);
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (values[i] <= 0 || values[i] >= count) {
            tk_problems_add(p, field, "%s holds %d, which is not a valid value", field, values[i]);
            return 0;
        }
        mask |= 1u << values[i];
    }
    return mask;
}

static void check_range(int64_t from_ms, int64_t to_ms, tk_problems *p)
{
    if (from_ms < 0 || to_ms < 0)
        tk_problems_add(p, "created_from_ms", "times are Unix ms and cannot be negative");
    else if (to_ms && from_ms > to_ms)
        tk_problems_add(p, "created_to_ms", "created_to_ms is before created_from_ms");
}

static xd_code do_list(xd_call *call, const ProtobufCMessage *req, ProtobufCMessage *reply,
                       xd_err *err)
{
    const Xd__ListTicketsRequest *in = (const Xd__ListTicketsRequest *)req;
    Xd__ListTicketsReply *out = (Xd__ListTicketsReply *)reply;
    xd_arena *a = xd_call_arena(call);
    tk_scope scope;
    xd_code rc = scope_of(call, in->org_id, &scope, err);
    if (rc != XD_OK)
        return rc;
    tk_problems p = {0};
    tk_list_filter f = {.recipient_domain = in->recipient_domain, .module = in->module};
    f.status_mask =
        mask_of((const int *)in->statuses, in->n_statuses, TK_STATUS_COUNT, "statuses", &p);
    f.issue_mask =
        mask_of((const int *)in->issue_types, in->n_issue_types, TK_ISSUE_COUNT, "issue_types", &p);
    if (strlen(in->recipient_domain) > TK_DOMAIN_MAX)
        tk_problems_add(&p, "recipient_domain", "recipient_domain is too long");
    if (strlen(in->module) > TK_MODULE_MAX)
        tk_problems_add(&p, "module", "module is too long");
    check_range(in->created_from_ms, in->created_to_ms, &p);
    f.from_ms = in->created_from_ms;
    f.to_ms = in->created_to_ms;
    uint32_t size = in->page ? in->page->page_size : 0;
    f.limit = size == 0 ? LIST_DEFAULT : size > LIST_MAX ? LIST_MAX : (int)size;
    const char *token = in->page ? in->page->page_token : "";
    if (*token) {
        char *end = NULL;
        long long before = token[0] == 'c' ? strtoll(token + 1, &end, 10) : 0;
        if (before <= 0 || !end || *end)
            tk_problems_add(&p, "page.page_token",
                            "page_token is not one this service gave: pass next_page_token "
                            "back unchanged");
        f.before_id = before;
    }
    if (p.n)
        return invalid(call, &p, "the ticket list request is invalid", err);
    /* Domains are stored lower case. */
    char domain[TK_DOMAIN_MAX + 1];
    size_t i = 0;
    for (; in->recipient_domain[i] && i < TK_DOMAIN_MAX; i++)
        domain[i] = (char)(in->recipient_domain[i] >= 'A' && in->recipient_domain[i] <= 'Z'
                               ? in->recipient_domain[i] + 32
                               : in->recipient_domain[i]);
    domain[i] = '\0';
    f.recipient_domain = domain;
    tk_ticket **rows = NULL;
    int n = 0;
    int64_t next = 0;
    rc = tk_store_list(ctx_of(call)->store, &scope, &f, a, &rows, &n, &next, err);
    if (rc != XD_OK)
        return rc;
    out->n_tickets = (size_t)n;
    out->tickets = (Xd__SupportTicket **)xd_arena_ptrs(a, out->n_tickets);
    for (int k = 0; k < n; k++)
        out->tickets[k] = ticket_to_proto(a, rows[k]);
    out->page = xd_arena_message(a, &xd__page_reply__descriptor);
    out->page->next_page_token = next ? xd_arena_printf(a, "c%lld", (long long)next) : "";
    return XD_OK;
}

static xd_code do_update(xd_call *call, const ProtobufCMessage *req, ProtobufCMessage *reply,
                         xd_err *err)
{
    const Xd__UpdateTicketRequest *in = (const Xd__UpdateTicketRequest *)req;
    Xd__UpdateTicketReply *out = (Xd__UpdateTicketReply *)reply;
    tk_scope scope;
    xd_code rc = scope_of(call, NULL, &scope, err);
    if (rc != XD_OK)
        return rc;
    int64_t id = ticket_id_of(in->ticket_id, err);
    if (id <= 0)
        return err->code;
    tk_problems p;
    if (tk_validate_update((int)in->status, in->assignee != NULL,
                           in->assignee ? in->assignee->value : NULL, in->note, in->author, &p))
        return invalid(call, &p, "the update is invalid", err);
    tk_update u = {
        .status = (tk_status)in->status,
        .set_assignee = in->assignee != NULL,
        .assignee = in->assignee ? in->assignee->value : NULL,
        .note = in->note,
        .author = in->author,
        .note_key = xd_arena_printf(xd_call_arena(call), "rid:%s", xd_call_request_id(call)),
    };
    tk_ticket *t = NULL;
    int changed = 0;
    rc = tk_store_update(ctx_of(call)->store, &scope, id, &u, xd_call_arena(call), &t, &changed,
                         err);
    if (rc != XD_OK)
        return rc;
    out->ticket = ticket_to_proto(xd_call_arena(call), t);
    out->changed = changed;
    return XD_OK;
}

static xd_code do_add_comment(xd_call *call, const ProtobufCMessage *req, ProtobufCMessage *reply,
                              xd_err *err)
{
    const Xd__AddCommentRequest *in = (const Xd__AddCommentRequest *)req;
    Xd__AddCommentReply *out = (Xd__AddCommentReply *)reply;
    xd_arena *a = xd_call_arena(call);
    tk_scope scope;
    xd_code rc = scope_of(call, NULL, &scope, err);
    if (rc != XD_OK)
        return rc;
    int64_t id = ticket_id_of(in->ticket_id, err);
    if (id <= 0)
        return err->code;
    tk_problems p;
    if (tk_validate_comment(in->author, in->body, in->idempotency_key, &p))
        return invalid(call, &p, "the comment is invalid", err);
    const char *key = *in->idempotency_key ? xd_arena_printf(a, "key:%s", in->idempotency_key)
                                           : xd_arena_printf(a, "rid:%s", xd_call_request_id(call));
    tk_comment *c = NULL;
    int created = 0;
    rc = tk_store_add_comment(ctx_of(call)->store, &scope, id, in->author, in->body, in->internal,
                              key, a, &c, &created, err);
    if (rc != XD_OK)
        return rc;
    out->comment = comment_to_proto(a, c);
    out->created = created;
    return XD_OK;
}

static xd_code do_group(xd_call *call, const ProtobufCMessage *req, ProtobufCMessage *reply,
                        xd_err *err)
{
    const Xd__GroupByDomainRequest *in = (const Xd__GroupByDomainRequest *)req;
    Xd__GroupByDomainReply *out = (Xd__GroupByDomainReply *)reply;
    xd_arena *a = xd_call_arena(call);
    tk_scope scope;
    xd_code rc = scope_of(call, in->org_id, &scope, err);
    if (rc != XD_OK)
        return rc;
    tk_problems p = {0};
    tk_group_filter f = {.from_ms = in->created_from_ms, .to_ms = in->created_to_ms};
    f.status_mask =
        mask_of((const int *)in->statuses, in->n_statuses, TK_STATUS_COUNT, "statuses", &p);
    check_range(in->created_from_ms, in->created_to_ms, &p);
    if (p.n)
        return invalid(call, &p, "the grouping request is invalid", err);
    f.min_tickets =
        in->min_tickets ? (int)(in->min_tickets > 1000000 ? 1000000 : in->min_tickets) : 1;
    f.max_domains = in->max_domains == 0           ? GROUPS_DEFAULT
                    : in->max_domains > GROUPS_MAX ? GROUPS_MAX
                                                   : (int)in->max_domains;
    tk_group *groups = NULL;
    int n = 0;
    rc = tk_store_group_by_domain(ctx_of(call)->store, &scope, &f, a, &groups, &n, err);
    if (rc != XD_OK)
        return rc;
    out->n_groups = (size_t)n;
    out->groups = (Xd__TicketDomainGroup **)xd_arena_ptrs(a, out->n_groups);
    for (int i = 0; i < n; i++) {
        const tk_group *g = &groups[i];
        Xd__TicketDomainGroup *pg = xd_arena_message(a, &xd__ticket_domain_group__descriptor);
        pg->recipient_domain = dup(a, g->domain);
        pg->tickets = (uint32_t)g->tickets;
        pg->unresolved = (uint32_t)g->unresolved;
        pg->organizations = (uint32_t)g->organizations;
        pg->recipients = (uint32_t)g->recipients;
        pg->by_issue_type = (Xd__TicketIssueCount **)xd_arena_ptrs(a, TK_ISSUE_COUNT);
        for (int k = 0; k < TK_ISSUE_COUNT; k++) {
            if (!g->issue_counts[k])
                continue;
            Xd__TicketIssueCount *c = xd_arena_message(a, &xd__ticket_issue_count__descriptor);
            c->issue_type = (Xd__TicketIssueType)k;
            c->count = (uint32_t)g->issue_counts[k];
            pg->by_issue_type[pg->n_by_issue_type++] = c;
        }
        pg->by_verdict = (Xd__TicketVerdictCount **)xd_arena_ptrs(a, TK_VERDICT_COUNT);
        for (int k = 0; k < TK_VERDICT_COUNT; k++) {
            if (!g->verdict_counts[k])
                continue;
            Xd__TicketVerdictCount *c = xd_arena_message(a, &xd__ticket_verdict_count__descriptor);
            c->verdict = (Xd__TicketVerdict)k;
            c->count = (uint32_t)g->verdict_counts[k];
            pg->by_verdict[pg->n_by_verdict++] = c;
        }
        pg->domain_pattern = g->domain_pattern;
        pg->pattern = dup(a, g->pattern);
        pg->latest_created_ms = g->latest_created_ms;
        pg->n_ticket_ids = (size_t)g->n_ids;
        pg->ticket_ids = (char **)xd_arena_ptrs(a, pg->n_ticket_ids);
        for (int k = 0; k < g->n_ids; k++) {
            char name[24];
            tk_format_id(g->ids[k], name, sizeof(name));
            pg->ticket_ids[k] = dup(a, name);
        }
        out->groups[i] = pg;
    }
    return XD_OK;
}

const xd_method_impl ticket_methods[] = {
    {"Create", do_create},
    {"Get", do_get},
    {"List", do_list},
    {"Update", do_update},
    {"AddComment", do_add_comment},
    {"GroupByDomain", do_group},
};
const int ticket_method_count = (int)(sizeof(ticket_methods) / sizeof(ticket_methods[0]));
