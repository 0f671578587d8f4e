/* test_ticket_verify.c: the intake check end to end: real xd-ticket and real
 * xd-verify over ipc://, delivery events recorded into verify with
 * RecordEvents (as the sender's outbox pump does), then tickets filed and
 * their findings checked per verdict; and verify down, then back up. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dnsmasq_run.h"
#include "svc_proc.h"
#include "ticket_client.h"
#include "verify.pb-c.h"
#include "xd/clock.h"

#define SUPPORT XD__ROLE__ROLE_SUPPORT
#define SERVICE XD__ROLE__ROLE_SERVICE

static char dir[64], ticket_url[128], verify_url[128], ticket_log[128], verify_log[128];
static char t_env[4][192], v_env[3][192];
static svc_proc ticket, verify;
static dnsmasq_run dns;
static int64_t hour_ago_ms;

static const char *const *ticket_env(void)
{
    static const char *env[8];
    snprintf(t_env[0], sizeof(t_env[0]), "XD_TICKET_LISTEN=%s", ticket_url);
    snprintf(t_env[1], sizeof(t_env[1]), "XD_TICKET_DATA_DIR=%s/ticket-data", dir);
    snprintf(t_env[2], sizeof(t_env[2]), "XD_TICKET_VERIFY_URL=%s", verify_url);
    env[0] = t_env[0];
    env[1] = t_env[1];
    env[2] = t_env[2];
    env[3] = "XD_TICKET_RECHECK_INTERVAL=200ms";
    env[4] = "XD_TICKET_RECHECK_MAX_INTERVAL=1s";
    env[5] = "XD_TICKET_VERIFY_TIMEOUT=2s";
    env[6] = NULL;
    return env;
}

static const char *const *verify_env(void)
{
    static const char *env[4];
    snprintf(v_env[0], sizeof(v_env[0]), "XD_VERIFY_LISTEN=%s", verify_url);
    snprintf(v_env[1], sizeof(v_env[1]), "XD_VERIFY_DATA_DIR=%s/verify-data", dir);
    /* verify checks recipient domains against our dnsmasq only. */
    snprintf(v_env[2], sizeof(v_env[2]), "XD_VERIFY_DNS_SERVERS=127.0.0.1:%d", dns.port);
    env[0] = v_env[0];
    env[1] = v_env[1];
    env[2] = v_env[2];
    env[3] = NULL;
    return env;
}

static int start_verify(void)
{
    return svc_start(&verify, "services/verify/xd-verify", verify_env(), verify_url, verify_log);
}

static int start_ticket(void)
{
    return svc_start(&ticket, "services/ticket/xd-ticket", ticket_env(), ticket_url, ticket_log);
}

static int setup(void **state)
{
    (void)state;
    svc_tempdir(dir, sizeof(dir));
    snprintf(ticket_url, sizeof(ticket_url), "ipc://%s/ticket.sock", dir);
    snprintf(verify_url, sizeof(verify_url), "ipc://%s/verify.sock", dir);
    snprintf(ticket_log, sizeof(ticket_log), "%s/ticket.log", dir);
    snprintf(verify_log, sizeof(verify_log), "%s/verify.log", dir);
    hour_ago_ms = xd_clock_now_ms(xd_clock_system()) - 3600 * 1000LL;
    /* The recipient domains of these tests take mail; any other .test name
     * does not exist (NXDOMAIN). */
    static const char *const records[] = {"--mx-host=corp.test,mx1.corp.test,10",
                                          "--mx-host=strict.test,mx.strict.test,10",
                                          "--mx-host=maze.test,mx.maze.test,10",
                                          "--mx-host=blocked.test,mx.blocked.test,10",
                                          "--host-record=mx1.corp.test,127.0.0.1",
                                          "--host-record=mx.strict.test,127.0.0.1",
                                          "--host-record=mx.maze.test,127.0.0.1",
                                          "--host-record=mx.blocked.test,127.0.0.1",
                                          NULL};
    if (dnsmasq_start(&dns, records) != 0)
        return -1;
    if (start_verify() != 0)
        return -1;
    return start_ticket();
}

static int teardown(void **state)
{
    (void)state;
    int t = svc_stop(&ticket), v = svc_stop(&verify);
    dnsmasq_stop(&dns);
    if (t != 0 || v != 0) {
        svc_dump_log(ticket_log);
        svc_dump_log(verify_log);
        return -1;
    }
    if (getenv("XD_KEEP_LOGS"))
        fprintf(stderr, "logs kept in %s\n", dir);
    else
        svc_rmtree(dir);
    return 0;
}

/* One recipient's history as the sender reports it: queued, then `final`
 * (0 = none) with an SMTP reply, a minute later, then maybe `after`. */
typedef struct history {
    const char *org, *recipient, *message_id;
    Xd__RecipientState final, after;
    unsigned code;
    const char *enhanced, *text;
    Xd__FailureCategory category;
} history;

static void record(const history *h)
{
    static int next_event;
    Xd__DeliveryEvent ev[3];
    Xd__DeliveryEvent *evp[3];
    char ids[3][32];
    Xd__SmtpReply reply = XD__SMTP_REPLY__INIT;
    reply.code = h->code;
    reply.enhanced_code = (char *)h->enhanced;
    reply.text = (char *)h->text;
    Xd__RecipientState states[3] = {XD__RECIPIENT_STATE__RECIPIENT_STATE_QUEUED, h->final,
                                    h->after};
    size_t n = 0;
    for (int i = 0; i < 3; i++) {
        if (states[i] == 0)
            continue;
        xd__delivery_event__init(&ev[n]);
        snprintf(ids[n], sizeof(ids[n]), "ev-%d", ++next_event);
        ev[n].event_id = ids[n];
        ev[n].org_id = (char *)h->org;
        ev[n].message_id = (char *)h->message_id;
        ev[n].recipient = (char *)h->recipient;
        ev[n].state = states[i];
        ev[n].event_time_ms = hour_ago_ms + i * 60000;
        ev[n].sequence = (uint64_t)i + 1;
        ev[n].module = "course-registration";
        ev[n].category = "transactional";
        ev[n].subject = "Your registration for Welding 101";
        ev[n].from = "courses@school.example";
        ev[n].message_id_header = "<m1@school.example>";
        if (i > 0) {
            ev[n].reply = &reply;
            ev[n].remote_host = "mx1.corp.test";
            ev[n].tls_version = "TLSv1.3";
            ev[n].failure_category = h->category;
        }
        evp[n] = &ev[n];
        n++;
    }
    Xd__RecordEventsRequest rq = XD__RECORD_EVENTS_REQUEST__INIT;
    rq.events = evp;
    rq.n_events = n;
    xd_arena *a = xd_arena_new();
    Xd__RecordEventsReply *r = NULL;
    xd_err err;
    xd_code rc = tc_call(verify.client, "", SERVICE, "RecordEvents", &rq.base,
                         &xd__record_events_reply__descriptor, a, &r, &err);
    if (rc != XD_OK)
        fail_msg("RecordEvents: %s %s", xd_code_name(rc), err.message);
    assert_int_equal(r->applied, n);
    xd_arena_free(a);
}

static Xd__SupportTicket *file(const char *org, const char *rcpt, const char *key,
                               Xd__TicketIssueType issue, xd_arena *a)
{
    Xd__CreateTicketRequest rq = tc_valid_create(rcpt, key);
    rq.occurred_at = (char *)tc_occurred_at(hour_ago_ms);
    rq.issue_type = issue;
    Xd__CreateTicketReply *r = NULL;
    xd_err err;
    xd_code rc = tc_call(ticket.client, org, SUPPORT, "Create", &rq.base,
                         &xd__create_ticket_reply__descriptor, a, &r, &err);
    if (rc != XD_OK)
        fail_msg("Create: %s %s", xd_code_name(rc), err.message);
    assert_true(r->created);
    return r->ticket;
}

#define NOT_RECEIVED XD__TICKET_ISSUE_TYPE__TICKET_ISSUE_TYPE_NOT_RECEIVED
#define COMPLETE     XD__TICKET_FINDINGS_STATE__TICKET_FINDINGS_STATE_COMPLETE

static void expect(const Xd__SupportTicket *t, Xd__TicketVerdict verdict, Xd__TicketStatus status,
                   Xd__TicketAction action, const char *phrase)
{
    const Xd__TicketFindings *f = t->findings;
    if (f->state != COMPLETE || f->verdict != verdict || t->status != status ||
        f->action != action || !strstr(f->next_step, phrase))
        fail_msg("%s: findings state %d verdict %d status %d action %d; summary \"%s\"; next "
                 "step \"%s\"",
                 t->ticket_id, f->state, f->verdict, t->status, f->action, f->summary,
                 f->next_step);
    assert_true(f->n_steps >= 3); /* verify's troubleshooting steps came along */
    assert_true(f->checked_ms > 0);
}

static void test_delivered(void **state)
{
    (void)state;
    history h = {"org-a", "amy@corp.test",
                 "msg-1", XD__RECIPIENT_STATE__RECIPIENT_STATE_DELIVERED,
                 0,       250,
                 "2.0.0", "Ok: queued as 4F2A1"};
    record(&h);
    xd_arena *a = xd_arena_new();
    Xd__SupportTicket *t = file("org-a", h.recipient, "t-delivered", NOT_RECEIVED, a);
    expect(t, XD__TICKET_VERDICT__TICKET_VERDICT_DELIVERED,
           XD__TICKET_STATUS__TICKET_STATUS_WAITING_ON_RECIPIENT_IT,
           XD__TICKET_ACTION__TICKET_ACTION_CONTACT_RECIPIENT_IT, "whitelist");
    const Xd__TicketFindings *f = t->findings;
    assert_true(f->record_found);
    assert_int_equal(f->record_state, XD__RECIPIENT_STATE__RECIPIENT_STATE_DELIVERED);
    assert_non_null(f->reply);
    assert_int_equal(f->reply->code, 250);
    assert_string_equal(f->remote_host, "mx1.corp.test");
    assert_true(f->delivered_ms > 0);
    assert_true(strlen(f->case_note) > 0);
    assert_non_null(strstr(f->next_step, "mx1.corp.test"));
    tc_show_ticket("filed: accepted by the recipient's server", t);
    xd_arena_free(a);
}

static void test_bounced_unknown_user(void **state)
{
    (void)state;
    history h = {"org-a",
                 "gone@corp.test",
                 "msg-2",
                 XD__RECIPIENT_STATE__RECIPIENT_STATE_BOUNCED,
                 0,
                 550,
                 "5.1.1",
                 "User unknown",
                 XD__FAILURE_CATEGORY__FAILURE_CATEGORY_INVALID_RECIPIENT};
    record(&h);
    xd_arena *a = xd_arena_new();
    Xd__SupportTicket *t = file("org-a", h.recipient, "t-bounced", NOT_RECEIVED, a);
    expect(t, XD__TICKET_VERDICT__TICKET_VERDICT_BOUNCED,
           XD__TICKET_STATUS__TICKET_STATUS_WAITING_ON_CUSTOMER,
           XD__TICKET_ACTION__TICKET_ACTION_CONFIRM_ADDRESS, "550 5.1.1 User unknown");
    assert_int_equal(t->findings->failure_category,
                     XD__FAILURE_CATEGORY__FAILURE_CATEGORY_INVALID_RECIPIENT);
    tc_show_ticket("filed: bounced, unknown user", t);
    xd_arena_free(a);
}

static void test_policy_block_waits_on_recipient_it(void **state)
{
    (void)state;
    history h = {"org-a",
                 "boss@strict.test",
                 "msg-3",
                 XD__RECIPIENT_STATE__RECIPIENT_STATE_BOUNCED,
                 0,
                 554,
                 "5.7.1",
                 "Service unavailable; client host blocked",
                 XD__FAILURE_CATEGORY__FAILURE_CATEGORY_POLICY_BLOCK};
    record(&h);
    xd_arena *a = xd_arena_new();
    Xd__SupportTicket *t = file("org-a", h.recipient, "t-policy", NOT_RECEIVED, a);
    expect(t, XD__TICKET_VERDICT__TICKET_VERDICT_BOUNCED,
           XD__TICKET_STATUS__TICKET_STATUS_WAITING_ON_RECIPIENT_IT,
           XD__TICKET_ACTION__TICKET_ACTION_CONTACT_RECIPIENT_IT, "whitelist");
    xd_arena_free(a);
}

static void test_deferred_waits_for_retries(void **state)
{
    (void)state;
    history h = {"org-a",
                 "slow@corp.test",
                 "msg-9",
                 XD__RECIPIENT_STATE__RECIPIENT_STATE_DEFERRED,
                 0,
                 451,
                 "4.7.1",
                 "Greylisted, try again later",
                 XD__FAILURE_CATEGORY__FAILURE_CATEGORY_RATE_LIMITED};
    record(&h);
    xd_arena *a = xd_arena_new();
    Xd__SupportTicket *t = file("org-a", h.recipient, "t-deferred", NOT_RECEIVED, a);
    expect(t, XD__TICKET_VERDICT__TICKET_VERDICT_IN_PROGRESS, XD__TICKET_STATUS__TICKET_STATUS_OPEN,
           XD__TICKET_ACTION__TICKET_ACTION_WAIT_FOR_RETRIES, "451 4.7.1 Greylisted");
    xd_arena_free(a);
}

static void test_expired_waits_on_recipient_it(void **state)
{
    (void)state;
    history h = {"org-a",
                 "down@corp.test",
                 "msg-10",
                 XD__RECIPIENT_STATE__RECIPIENT_STATE_DEFERRED,
                 XD__RECIPIENT_STATE__RECIPIENT_STATE_EXPIRED,
                 421,
                 "4.4.2",
                 "Connection timed out",
                 XD__FAILURE_CATEGORY__FAILURE_CATEGORY_CONNECTION_FAILURE};
    record(&h);
    xd_arena *a = xd_arena_new();
    Xd__SupportTicket *t = file("org-a", h.recipient, "t-expired", NOT_RECEIVED, a);
    expect(t, XD__TICKET_VERDICT__TICKET_VERDICT_EXPIRED,
           XD__TICKET_STATUS__TICKET_STATUS_WAITING_ON_RECIPIENT_IT,
           XD__TICKET_ACTION__TICKET_ACTION_CONTACT_RECIPIENT_IT, "maximum age");
    xd_arena_free(a);
}

static void test_domain_problem(void **state)
{
    (void)state;
    /* Six recipients at blocked.test rejected by policy: verify sees the
     * domain failing for everyone, not just the ticket's recipient. */
    history h = {"org-e",
                 NULL,
                 NULL,
                 XD__RECIPIENT_STATE__RECIPIENT_STATE_BOUNCED,
                 0,
                 550,
                 "5.7.1",
                 "Rejected by policy: sender blocked",
                 XD__FAILURE_CATEGORY__FAILURE_CATEGORY_POLICY_BLOCK};
    char rcpt[6][64], mid[6][32];
    for (int i = 0; i < 6; i++) {
        snprintf(rcpt[i], sizeof(rcpt[i]), "staff%d@blocked.test", i);
        snprintf(mid[i], sizeof(mid[i]), "msg-blk-%d", i);
        h.recipient = rcpt[i];
        h.message_id = mid[i];
        record(&h);
    }
    xd_arena *a = xd_arena_new();
    Xd__SupportTicket *t = file("org-e", rcpt[0], "t-domain", NOT_RECEIVED, a);
    expect(t, XD__TICKET_VERDICT__TICKET_VERDICT_DOMAIN_PROBLEM,
           XD__TICKET_STATUS__TICKET_STATUS_WAITING_ON_RECIPIENT_IT,
           XD__TICKET_ACTION__TICKET_ACTION_CONTACT_RECIPIENT_IT, "fails for other recipients");
    assert_true(t->findings->domain_problem);
    /* The grouping flags the domain from that one ticket. */
    Xd__GroupByDomainRequest g = XD__GROUP_BY_DOMAIN_REQUEST__INIT;
    Xd__GroupByDomainReply *r = NULL;
    xd_err err;
    assert_int_equal(tc_call(ticket.client, "org-e", SUPPORT, "GroupByDomain", &g.base,
                             &xd__group_by_domain_reply__descriptor, a, &r, &err),
                     XD_OK);
    assert_int_equal(r->n_groups, 1);
    assert_true(r->groups[0]->domain_pattern);
    assert_non_null(strstr(r->groups[0]->pattern, "failing for other recipients"));
    xd_arena_free(a);
}

static void test_domain_without_mail_is_invalid_address(void **state)
{
    (void)state;
    xd_arena *a = xd_arena_new();
    Xd__SupportTicket *t = file("org-a", "someone@nowhere.test", "t-nxdomain", NOT_RECEIVED, a);
    expect(t, XD__TICKET_VERDICT__TICKET_VERDICT_INVALID_ADDRESS,
           XD__TICKET_STATUS__TICKET_STATUS_WAITING_ON_CUSTOMER,
           XD__TICKET_ACTION__TICKET_ACTION_CONFIRM_ADDRESS, "cannot receive mail");
    tc_show_ticket("filed: the recipient's domain takes no mail", t);
    xd_arena_free(a);
}

static void test_opted_out_resolves(void **state)
{
    (void)state;
    Xd__AddSuppressionRequest s = XD__ADD_SUPPRESSION_REQUEST__INIT;
    s.org_id = "org-a";
    s.address = "optout@corp.test";
    s.reason = XD__SUPPRESSION_REASON__SUPPRESSION_REASON_UNSUBSCRIBED;
    s.source = "one-click";
    xd_arena *a = xd_arena_new();
    Xd__AddSuppressionReply *sr = NULL;
    xd_err err;
    assert_int_equal(tc_call(verify.client, "", SERVICE, "AddSuppression", &s.base,
                             &xd__add_suppression_reply__descriptor, a, &sr, &err),
                     XD_OK);
    Xd__SupportTicket *t = file("org-a", "optout@corp.test", "t-optout", NOT_RECEIVED, a);
    expect(t, XD__TICKET_VERDICT__TICKET_VERDICT_SUPPRESSED,
           XD__TICKET_STATUS__TICKET_STATUS_RESOLVED,
           XD__TICKET_ACTION__TICKET_ACTION_RESOLVE_WITH_EXPLANATION, "suppression list");
    assert_true(t->findings->suppressed);
    assert_true(t->resolved_ms > 0);
    tc_show_ticket("filed: recipient opted out", t);
    xd_arena_free(a);
}

static void test_complaint_resolves(void **state)
{
    (void)state;
    history h = {"org-a",
                 "angry@corp.test",
                 "msg-4",
                 XD__RECIPIENT_STATE__RECIPIENT_STATE_DELIVERED,
                 XD__RECIPIENT_STATE__RECIPIENT_STATE_COMPLAINED,
                 250,
                 "2.0.0",
                 "OK"};
    record(&h);
    xd_arena *a = xd_arena_new();
    Xd__SupportTicket *t = file("org-a", h.recipient, "t-complaint", NOT_RECEIVED, a);
    expect(t, XD__TICKET_VERDICT__TICKET_VERDICT_COMPLAINED,
           XD__TICKET_STATUS__TICKET_STATUS_RESOLVED,
           XD__TICKET_ACTION__TICKET_ACTION_RESOLVE_WITH_EXPLANATION, "spam");
    xd_arena_free(a);
}

static void test_no_record_escalates_and_orgs_stay_apart(void **state)
{
    (void)state;
    /* org-b sent to this recipient; org-a did not: org-a's ticket finds nothing. */
    history h = {"org-b", "shared@corp.test",
                 "msg-5", XD__RECIPIENT_STATE__RECIPIENT_STATE_DELIVERED,
                 0,       250,
                 "2.0.0", "OK"};
    record(&h);
    xd_arena *a = xd_arena_new();
    Xd__SupportTicket *t = file("org-a", h.recipient, "t-norecord", NOT_RECEIVED, a);
    expect(t, XD__TICKET_VERDICT__TICKET_VERDICT_NO_RECORD,
           XD__TICKET_STATUS__TICKET_STATUS_INVESTIGATING,
           XD__TICKET_ACTION__TICKET_ACTION_ESCALATE_TO_XENEGRADE, "Escalate to Xenegrade");
    assert_false(t->findings->record_found);
    t = file("org-b", h.recipient, "t-b", NOT_RECEIVED, a);
    assert_int_equal(t->findings->verdict, XD__TICKET_VERDICT__TICKET_VERDICT_DELIVERED);
    xd_arena_free(a);
}

static void test_group_shows_domain_pattern(void **state)
{
    (void)state;
    history h = {
        "org-c", "x1@maze.test", "msg-6", XD__RECIPIENT_STATE__RECIPIENT_STATE_DELIVERED, 0,
        250,     "2.0.0",        "OK"};
    record(&h);
    h.recipient = "x2@maze.test";
    h.message_id = "msg-7";
    record(&h);
    xd_arena *a = xd_arena_new();
    file("org-c", "x1@maze.test", "t-g1", NOT_RECEIVED, a);
    file("org-c", "x2@maze.test", "t-g2", XD__TICKET_ISSUE_TYPE__TICKET_ISSUE_TYPE_SPAM_FOLDER, a);
    Xd__GroupByDomainRequest g = XD__GROUP_BY_DOMAIN_REQUEST__INIT;
    Xd__GroupByDomainReply *r = NULL;
    xd_err err;
    assert_int_equal(tc_call(ticket.client, "org-c", SUPPORT, "GroupByDomain", &g.base,
                             &xd__group_by_domain_reply__descriptor, a, &r, &err),
                     XD_OK);
    assert_int_equal(r->n_groups, 1);
    const Xd__TicketDomainGroup *grp = r->groups[0];
    assert_string_equal(grp->recipient_domain, "maze.test");
    assert_int_equal(grp->tickets, 2);
    assert_true(grp->domain_pattern);
    assert_non_null(strstr(grp->pattern, "2 different recipients at maze.test"));
    assert_int_equal(grp->n_by_verdict, 1);
    assert_int_equal(grp->by_verdict[0]->verdict, XD__TICKET_VERDICT__TICKET_VERDICT_DELIVERED);
    assert_int_equal(grp->n_by_issue_type, 2);
    xd_arena_free(a);
}

/* Starts xd-ticket while xd-verify is down, files a ticket (stored, findings
 * pending), starts xd-verify, and waits (bounded) for the background
 * re-check to fill the findings in. */
static void test_verify_down_then_up(void **state)
{
    (void)state;
    history h = {"org-d", "late@corp.test",
                 "msg-8", XD__RECIPIENT_STATE__RECIPIENT_STATE_DELIVERED,
                 0,       250,
                 "2.0.0", "Ok: queued as 77B"};
    record(&h);
    assert_int_equal(svc_stop(&ticket), 0);
    assert_int_equal(svc_stop(&verify), 0);
    assert_int_equal(start_ticket(), 0);

    xd_arena *a = xd_arena_new();
    Xd__CreateTicketRequest rq = tc_valid_create(h.recipient, "t-late");
    rq.occurred_at = (char *)tc_occurred_at(hour_ago_ms);
    Xd__CreateTicketReply *cr = NULL;
    xd_err err;
    assert_int_equal(tc_call(ticket.client, "org-d", SUPPORT, "Create", &rq.base,
                             &xd__create_ticket_reply__descriptor, a, &cr, &err),
                     XD_OK);
    const Xd__SupportTicket *t = cr->ticket;
    assert_int_equal(t->findings->state, XD__TICKET_FINDINGS_STATE__TICKET_FINDINGS_STATE_PENDING);
    assert_int_equal(t->status, XD__TICKET_STATUS__TICKET_STATUS_OPEN);
    assert_non_null(strstr(t->findings->last_error, "UNAVAILABLE"));
    tc_show_ticket("filed while verify is down", t);

    assert_int_equal(start_verify(), 0);
    Xd__GetTicketRequest g = XD__GET_TICKET_REQUEST__INIT;
    g.ticket_id = t->ticket_id;
    Xd__GetTicketReply *got = NULL;
    for (int i = 0; i < 150; i++) { /* bounded: 15 s */
        assert_int_equal(tc_call(ticket.client, "org-d", SUPPORT, "Get", &g.base,
                                 &xd__get_ticket_reply__descriptor, a, &got, &err),
                         XD_OK);
        if (got->ticket->findings->state !=
            XD__TICKET_FINDINGS_STATE__TICKET_FINDINGS_STATE_PENDING)
            break;
        usleep(100 * 1000);
    }
    t = got->ticket;
    expect(t, XD__TICKET_VERDICT__TICKET_VERDICT_DELIVERED,
           XD__TICKET_STATUS__TICKET_STATUS_WAITING_ON_RECIPIENT_IT,
           XD__TICKET_ACTION__TICKET_ACTION_CONTACT_RECIPIENT_IT, "whitelist");
    assert_true(t->findings->attempts >= 2);
    assert_int_equal(t->n_comments, 1);
    assert_string_equal(t->comments[0]->author, "intake");
    tc_show_ticket("the same ticket after verify came back", t);
    xd_arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_delivered),
        cmocka_unit_test(test_bounced_unknown_user),
        cmocka_unit_test(test_policy_block_waits_on_recipient_it),
        cmocka_unit_test(test_deferred_waits_for_retries),
        cmocka_unit_test(test_expired_waits_on_recipient_it),
        cmocka_unit_test(test_domain_problem),
        cmocka_unit_test(test_domain_without_mail_is_invalid_address),
        cmocka_unit_test(test_opted_out_resolves),
        cmocka_unit_test(test_complaint_resolves),
        cmocka_unit_test(test_no_record_escalates_and_orgs_stay_apart),
        cmocka_unit_test(test_group_shows_domain_pattern),
        cmocka_unit_test(test_verify_down_then_up),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
