/* test_ticket_rpc.c: the real xd-ticket process over ipc://, driven as the
 * gateway would: validation details, verify down (findings pending),
 * isolation, roles, workflow, comments, list, grouping, restart. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "svc_proc.h"
#include "ticket_client.h"
#include "xd/clock.h"

static char dir[64], url[128], verify_url[128], log_path[128];
static char env_listen[192], env_data[192], env_verify[192];
static svc_proc ticket;

static const char *const *ticket_env(void)
{
    static const char *env[8];
    snprintf(env_listen, sizeof(env_listen), "XD_TICKET_LISTEN=%s", url);
    snprintf(env_data, sizeof(env_data), "XD_TICKET_DATA_DIR=%s/ticket-data", dir);
    /* Nothing listens here: verify is down for this whole file. */
    snprintf(env_verify, sizeof(env_verify), "XD_TICKET_VERIFY_URL=%s", verify_url);
    env[0] = env_listen;
    env[1] = env_data;
    env[2] = env_verify;
    env[3] = "XD_TICKET_VERIFY_TIMEOUT=500ms";
    env[4] = "XD_TICKET_RECHECK_INTERVAL=200ms";
    env[5] = "XD_TICKET_RECHECK_MAX_INTERVAL=1s";
    env[6] = NULL;
    return env;
}

static int setup(void **state)
{
    (void)state;
    svc_tempdir(dir, sizeof(dir));
    snprintf(url, sizeof(url), "ipc://%s/ticket.sock", dir);
    snprintf(verify_url, sizeof(verify_url), "ipc://%s/verify.sock", dir);
    snprintf(log_path, sizeof(log_path), "%s/ticket.log", dir);
    return svc_start(&ticket, "services/ticket/xd-ticket", ticket_env(), url, log_path);
}

static int teardown(void **state)
{
    (void)state;
    int rc = svc_stop(&ticket);
    if (rc != 0)
        svc_dump_log(log_path);
    else
        svc_rmtree(dir);
    return rc == 0 ? 0 : -1;
}

#define SUPPORT  XD__ROLE__ROLE_SUPPORT
#define MODULE   XD__ROLE__ROLE_MODULE
#define OPERATOR XD__ROLE__ROLE_OPERATOR

static Xd__SupportTicket *create(const char *org, const char *rcpt, const char *key, xd_arena *a)
{
    Xd__CreateTicketRequest rq = tc_valid_create(rcpt, key);
    Xd__CreateTicketReply *r = NULL;
    xd_err err;
    xd_code rc = tc_call(ticket.client, org, SUPPORT, "Create", &rq.base,
                         &xd__create_ticket_reply__descriptor, a, &r, &err);
    if (rc != XD_OK)
        fail_msg("Create: %s %s", xd_code_name(rc), err.message);
    return r->ticket;
}

static int has_detail(const Xd__Reply *r, const char *field)
{
    for (size_t i = 0; i < r->n_details; i++)
        if (strcmp(r->details[i]->field, field) == 0)
            return 1;
    return 0;
}

static void test_validation_names_every_field(void **state)
{
    (void)state;
    Xd__CreateTicketRequest empty = XD__CREATE_TICKET_REQUEST__INIT;
    Xd__Reply *r = tc_raw(url, "org-a", SUPPORT, "Create", &empty.base);
    assert_non_null(r);
    assert_int_equal(r->code, XD_INVALID_ARGUMENT);
    const char *fields[] = {"occurred_at", "recipient",   "module",  "other_domain_tried",
                            "issue_type",  "description", "reporter"};
    assert_int_equal(r->n_details, 7);
    for (size_t i = 0; i < 7; i++)
        assert_true(has_detail(r, fields[i]));
    assert_non_null(strstr(r->message, "7 ticket fields to fix (occurred_at, recipient, module, "
                                       "other_domain_tried, issue_type, description, reporter)"));
    xd__reply__free_unpacked(r, NULL);

    /* Two wrong details of an otherwise good ticket. */
    Xd__CreateTicketRequest rq = tc_valid_create("jane@example.com", "");
    rq.occurred_at = "27/11/2026 09:15";
    rq.recipient_domain = "example.org";
    r = tc_raw(url, "org-a", SUPPORT, "Create", &rq.base);
    assert_int_equal(r->code, XD_INVALID_ARGUMENT);
    assert_int_equal(r->n_details, 2);
    assert_true(has_detail(r, "occurred_at") && has_detail(r, "recipient_domain"));
    assert_non_null(strstr(r->message, "does not match the recipient's domain example.com"));
    xd__reply__free_unpacked(r, NULL);
}

static void test_verify_down_stores_pending(void **state)
{
    (void)state;
    xd_arena *a = xd_arena_new();
    Xd__SupportTicket *t = create("org-a", "Jane.Doe@Example.com", "idem-1", a);
    assert_string_equal(t->ticket_id, "XD-000001");
    assert_string_equal(t->org_id, "org-a");
    assert_string_equal(t->recipient_domain, "example.com");
    assert_int_equal(t->status, XD__TICKET_STATUS__TICKET_STATUS_OPEN);
    assert_int_equal(t->findings->state, XD__TICKET_FINDINGS_STATE__TICKET_FINDINGS_STATE_PENDING);
    assert_int_equal(t->findings->action, XD__TICKET_ACTION__TICKET_ACTION_AWAIT_CHECK);
    assert_non_null(strstr(t->findings->last_error, "UNAVAILABLE"));
    assert_true(t->created_ms > 0);

    /* A repeat with the same key answers the same ticket. */
    Xd__CreateTicketRequest rq = tc_valid_create("Jane.Doe@Example.com", "idem-1");
    rq.occurred_at = t->occurred_at;
    Xd__CreateTicketReply *r = NULL;
    xd_err err;
    assert_int_equal(tc_call(ticket.client, "org-a", SUPPORT, "Create", &rq.base,
                             &xd__create_ticket_reply__descriptor, a, &r, &err),
                     XD_OK);
    assert_false(r->created);
    assert_string_equal(r->ticket->ticket_id, "XD-000001");
    xd_arena_free(a);
}

typedef struct racer {
    xd_client *client;
    const char *occurred_at;
    int created;
    char ticket_id[24];
    xd_code rc;
} racer;

static void *race_create(void *p)
{
    racer *r = p;
    xd_arena *a = xd_arena_new();
    Xd__CreateTicketRequest rq = tc_valid_create("race@example.com", "same-key");
    rq.occurred_at = (char *)r->occurred_at;
    Xd__CreateTicketReply *out = NULL;
    xd_err err;
    r->rc = tc_call(r->client, "org-r", SUPPORT, "Create", &rq.base,
                    &xd__create_ticket_reply__descriptor, a, &out, &err);
    if (r->rc == XD_OK) {
        r->created = out->created;
        snprintf(r->ticket_id, sizeof(r->ticket_id), "%s", out->ticket->ticket_id);
    }
    xd_arena_free(a);
    return NULL;
}

/* Eight concurrent Creates with one idempotency key: one ticket. */
static void test_concurrent_repeats_file_one_ticket(void **state)
{
    (void)state;
    char when[40]; /* a copy: tc_occurred_at's buffers rotate */
    snprintf(when, sizeof(when), "%s",
             tc_occurred_at(xd_clock_now_ms(xd_clock_system()) - 3600 * 1000LL));
    pthread_t th[8];
    racer r[8];
    for (int i = 0; i < 8; i++) {
        r[i] = (racer){.client = ticket.client, .occurred_at = when};
        pthread_create(&th[i], NULL, race_create, &r[i]);
    }
    int created = 0;
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(r[i].rc, XD_OK);
        assert_string_equal(r[i].ticket_id, r[0].ticket_id);
        created += r[i].created;
    }
    assert_int_equal(created, 1);
}

static void test_isolation_and_roles(void **state)
{
    (void)state;
    xd_arena *a = xd_arena_new();
    Xd__SupportTicket *mine = create("org-a", "amy@corp.example", "iso-a", a);
    create("org-b", "bob@corp.example", "iso-b", a);
    Xd__GetTicketRequest g = XD__GET_TICKET_REQUEST__INIT;
    g.ticket_id = mine->ticket_id;
    Xd__GetTicketReply *got = NULL;
    xd_err err;
    assert_int_equal(tc_call(ticket.client, "org-b", SUPPORT, "Get", &g.base,
                             &xd__get_ticket_reply__descriptor, a, &got, &err),
                     XD_NOT_FOUND);
    assert_int_equal(tc_call(ticket.client, "org-a", MODULE, "Get", &g.base,
                             &xd__get_ticket_reply__descriptor, a, &got, &err),
                     XD_PERMISSION_DENIED);
    assert_int_equal(tc_call(ticket.client, "org-a", SUPPORT, "Get", &g.base,
                             &xd__get_ticket_reply__descriptor, a, &got, &err),
                     XD_OK);
    /* Xenegrade support (staff organization) and operators see it. */
    assert_int_equal(tc_call(ticket.client, "xenegrade", SUPPORT, "Get", &g.base,
                             &xd__get_ticket_reply__descriptor, a, &got, &err),
                     XD_OK);
    assert_string_equal(got->ticket->org_id, "org-a");
    assert_int_equal(tc_call(ticket.client, "", OPERATOR, "Get", &g.base,
                             &xd__get_ticket_reply__descriptor, a, &got, &err),
                     XD_OK);
    /* Lists: org-b sees only its own; org_id naming another org is refused. */
    Xd__ListTicketsRequest l = XD__LIST_TICKETS_REQUEST__INIT;
    Xd__ListTicketsReply *lr = NULL;
    assert_int_equal(tc_call(ticket.client, "org-b", SUPPORT, "List", &l.base,
                             &xd__list_tickets_reply__descriptor, a, &lr, &err),
                     XD_OK);
    for (size_t i = 0; i < lr->n_tickets; i++)
        assert_string_equal(lr->tickets[i]->org_id, "org-b");
    assert_true(lr->n_tickets >= 1);
    l.org_id = "org-a";
    assert_int_equal(tc_call(ticket.client, "org-b", SUPPORT, "List", &l.base,
                             &xd__list_tickets_reply__descriptor, a, &lr, &err),
                     XD_PERMISSION_DENIED);
    /* Grouping by domain: staff see both orgs on corp.example. */
    Xd__GroupByDomainRequest gr = XD__GROUP_BY_DOMAIN_REQUEST__INIT;
    Xd__GroupByDomainReply *grr = NULL;
    assert_int_equal(tc_call(ticket.client, "xenegrade", SUPPORT, "GroupByDomain", &gr.base,
                             &xd__group_by_domain_reply__descriptor, a, &grr, &err),
                     XD_OK);
    int found = 0;
    for (size_t i = 0; i < grr->n_groups; i++)
        if (strcmp(grr->groups[i]->recipient_domain, "corp.example") == 0) {
            found = 1;
            assert_int_equal(grr->groups[i]->tickets, 2);
            assert_int_equal(grr->groups[i]->organizations, 2);
        }
    assert_true(found);
    assert_int_equal(tc_call(ticket.client, "org-b", SUPPORT, "GroupByDomain", &gr.base,
                             &xd__group_by_domain_reply__descriptor, a, &grr, &err),
                     XD_OK);
    for (size_t i = 0; i < grr->n_groups; i++)
        assert_int_equal(grr->groups[i]->organizations, 1);
    xd_arena_free(a);
}

static void test_workflow_and_comments(void **state)
{
    (void)state;
    xd_arena *a = xd_arena_new();
    Xd__SupportTicket *t = create("org-a", "wf@flow.example", "wf-1", a);
    xd_err err;
    Xd__UpdateTicketRequest u = XD__UPDATE_TICKET_REQUEST__INIT;
    Xd__UpdateTicketReply *ur = NULL;
    u.ticket_id = t->ticket_id;
    u.status = XD__TICKET_STATUS__TICKET_STATUS_CLOSED;
    assert_int_equal(tc_call(ticket.client, "org-a", SUPPORT, "Update", &u.base,
                             &xd__update_ticket_reply__descriptor, a, &ur, &err),
                     XD_FAILED_PRECONDITION);
    assert_non_null(strstr(err.message, "is OPEN and cannot move to CLOSED; allowed from OPEN: "
                                        "INVESTIGATING, WAITING_ON_CUSTOMER, "
                                        "WAITING_ON_RECIPIENT_IT, RESOLVED"));
    assert_string_equal(err.field, "status");
    const Xd__TicketStatus path[] = {XD__TICKET_STATUS__TICKET_STATUS_INVESTIGATING,
                                     XD__TICKET_STATUS__TICKET_STATUS_WAITING_ON_RECIPIENT_IT,
                                     XD__TICKET_STATUS__TICKET_STATUS_RESOLVED,
                                     XD__TICKET_STATUS__TICKET_STATUS_CLOSED,
                                     XD__TICKET_STATUS__TICKET_STATUS_OPEN};
    for (size_t i = 0; i < sizeof(path) / sizeof(path[0]); i++) {
        u.status = path[i];
        assert_int_equal(tc_call(ticket.client, "org-a", SUPPORT, "Update", &u.base,
                                 &xd__update_ticket_reply__descriptor, a, &ur, &err),
                         XD_OK);
        assert_int_equal(ur->ticket->status, path[i]);
        if (path[i] == XD__TICKET_STATUS__TICKET_STATUS_RESOLVED)
            assert_true(ur->ticket->resolved_ms > 0);
    }
    assert_int_equal(ur->ticket->resolved_ms, 0); /* reopened */
    /* Assignee: staff only. */
    Xd__TicketText who = XD__TICKET_TEXT__INIT;
    who.value = "lee@xenegrade.example";
    u = (Xd__UpdateTicketRequest)XD__UPDATE_TICKET_REQUEST__INIT;
    u.ticket_id = t->ticket_id;
    u.assignee = &who;
    assert_int_equal(tc_call(ticket.client, "org-a", SUPPORT, "Update", &u.base,
                             &xd__update_ticket_reply__descriptor, a, &ur, &err),
                     XD_PERMISSION_DENIED);
    assert_int_equal(tc_call(ticket.client, "xenegrade", SUPPORT, "Update", &u.base,
                             &xd__update_ticket_reply__descriptor, a, &ur, &err),
                     XD_OK);
    assert_string_equal(ur->ticket->assignee, "lee@xenegrade.example");
    /* Comments: visible, internal (staff only), repeats by key. */
    Xd__AddCommentRequest c = XD__ADD_COMMENT_REQUEST__INIT;
    Xd__AddCommentReply *cr = NULL;
    c.ticket_id = t->ticket_id;
    c.author = "pat";
    c.body = "The student checked the junk folder: nothing.";
    c.idempotency_key = "c-1";
    for (int i = 0; i < 2; i++) {
        assert_int_equal(tc_call(ticket.client, "org-a", SUPPORT, "AddComment", &c.base,
                                 &xd__add_comment_reply__descriptor, a, &cr, &err),
                         XD_OK);
        assert_int_equal(cr->created, i == 0);
        assert_int_equal(cr->comment->comment_id, 1);
    }
    c.internal = 1;
    c.idempotency_key = "c-2";
    c.body = "Their MX rejects our IP range; opened a case with their IT.";
    assert_int_equal(tc_call(ticket.client, "org-a", SUPPORT, "AddComment", &c.base,
                             &xd__add_comment_reply__descriptor, a, &cr, &err),
                     XD_PERMISSION_DENIED);
    assert_int_equal(tc_call(ticket.client, "xenegrade", SUPPORT, "AddComment", &c.base,
                             &xd__add_comment_reply__descriptor, a, &cr, &err),
                     XD_OK);
    Xd__GetTicketRequest g = XD__GET_TICKET_REQUEST__INIT;
    Xd__GetTicketReply *got = NULL;
    g.ticket_id = t->ticket_id;
    assert_int_equal(tc_call(ticket.client, "org-a", SUPPORT, "Get", &g.base,
                             &xd__get_ticket_reply__descriptor, a, &got, &err),
                     XD_OK);
    assert_int_equal(got->ticket->n_comments, 1);
    assert_int_equal(tc_call(ticket.client, "xenegrade", SUPPORT, "Get", &g.base,
                             &xd__get_ticket_reply__descriptor, a, &got, &err),
                     XD_OK);
    assert_int_equal(got->ticket->n_comments, 2);
    assert_true(got->ticket->comments[1]->internal);
    /* A malformed id is named. */
    g.ticket_id = "12";
    assert_int_equal(tc_call(ticket.client, "org-a", SUPPORT, "Get", &g.base,
                             &xd__get_ticket_reply__descriptor, a, &got, &err),
                     XD_INVALID_ARGUMENT);
    assert_string_equal(err.field, "ticket_id");
    xd_arena_free(a);
}

static void test_list_filters_and_pages(void **state)
{
    (void)state;
    xd_arena *a = xd_arena_new();
    for (int i = 0; i < 7; i++) {
        char rcpt[64], key[16];
        snprintf(rcpt, sizeof(rcpt), "p%d@pages.example", i);
        snprintf(key, sizeof(key), "pg-%d", i);
        create("org-p", rcpt, key, a);
    }
    Xd__ListTicketsRequest l = XD__LIST_TICKETS_REQUEST__INIT;
    Xd__PageRequest page = XD__PAGE_REQUEST__INIT;
    page.page_size = 3;
    l.page = &page;
    l.recipient_domain = "PAGES.example";
    int seen = 0, pages = 0;
    xd_err err;
    do {
        Xd__ListTicketsReply *lr = NULL;
        assert_int_equal(tc_call(ticket.client, "org-p", SUPPORT, "List", &l.base,
                                 &xd__list_tickets_reply__descriptor, a, &lr, &err),
                         XD_OK);
        seen += (int)lr->n_tickets;
        pages++;
        page.page_token = xd_arena_strdup(a, lr->page->next_page_token);
    } while (*page.page_token && pages < 10);
    assert_int_equal(seen, 7);
    assert_int_equal(pages, 3);
    /* Bad filters are named. */
    Xd__TicketStatus bad_status[] = {(Xd__TicketStatus)42};
    l.statuses = bad_status;
    l.n_statuses = 1;
    page.page_token = "garbage";
    Xd__Reply *r = tc_raw(url, "org-p", SUPPORT, "List", &l.base);
    assert_int_equal(r->code, XD_INVALID_ARGUMENT);
    assert_true(has_detail(r, "statuses") && has_detail(r, "page.page_token"));
    xd__reply__free_unpacked(r, NULL);
    xd_arena_free(a);
}

static void test_restart_keeps_tickets(void **state)
{
    (void)state;
    assert_int_equal(svc_stop(&ticket), 0); /* SIGTERM: clean exit */
    assert_int_equal(svc_start(&ticket, "services/ticket/xd-ticket", ticket_env(), url, log_path),
                     0);
    xd_arena *a = xd_arena_new();
    Xd__GetTicketRequest g = XD__GET_TICKET_REQUEST__INIT;
    Xd__GetTicketReply *got = NULL;
    g.ticket_id = "XD-000001";
    xd_err err;
    assert_int_equal(tc_call(ticket.client, "org-a", SUPPORT, "Get", &g.base,
                             &xd__get_ticket_reply__descriptor, a, &got, &err),
                     XD_OK);
    assert_string_equal(got->ticket->recipient, "Jane.Doe@Example.com");
    /* Still pending (verify is down) and re-tried in the background. */
    assert_int_equal(got->ticket->findings->state,
                     XD__TICKET_FINDINGS_STATE__TICKET_FINDINGS_STATE_PENDING);
    assert_true(got->ticket->findings->attempts >= 1);
    xd_arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_validation_names_every_field),
        cmocka_unit_test(test_verify_down_stores_pending),
        cmocka_unit_test(test_concurrent_repeats_file_one_ticket),
        cmocka_unit_test(test_isolation_and_roles),
        cmocka_unit_test(test_workflow_and_comments),
        cmocka_unit_test(test_list_filters_and_pages),
        cmocka_unit_test(test_restart_keeps_tickets),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
