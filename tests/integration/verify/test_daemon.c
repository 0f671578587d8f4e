/* test_daemon.c: the real xd-verify process over ipc://, driven through the
 * common RPC client as the gateway, sender and an operator would. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common.pb-c.h"
#include "verify.pb-c.h"
#include "xd/rpc_client.h"

static char dir[64], url[128];
static pid_t daemon_pid;
static xd_client *client;

static void start_daemon(void)
{
    const char *bin_dir = getenv("XD_BINARY_DIR");
    char bin[512];
    snprintf(bin, sizeof bin, "%s/services/verify/xd-verify", bin_dir ? bin_dir : "build");
    daemon_pid = fork();
    assert_true(daemon_pid >= 0);
    if (daemon_pid == 0) {
        setenv("XD_VERIFY_LISTEN", url, 1);
        setenv("XD_VERIFY_DATA_DIR", dir, 1);
        setenv("XD_VERIFY_LOG_LEVEL", "warn", 1);
        execl(bin, bin, (char *)NULL);
        _exit(127);
    }
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/vf_it_XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(url, sizeof url, "ipc://%s/verify.sock", dir);
    start_daemon();
    xd_err err;
    assert_int_equal(xd_client_open(url, "verify", NULL, &client, &err), XD_OK);
    /* Wait (bounded) until the daemon answers Health. */
    for (int i = 0; i < 100; i++) {
        xd_arena *a = xd_arena_new();
        Xd__HealthRequest req = XD__HEALTH_REQUEST__INIT;
        ProtobufCMessage *rep = NULL;
        xd_call_options o = {.timeout_ms = 500};
        xd_code rc = xd_client_call(client, &o, "Health", &req.base, &xd__health_reply__descriptor,
                                    a, &rep, &err);
        xd_arena_free(a);
        if (rc == XD_OK)
            return 0;
        usleep(100 * 1000);
    }
    fail_msg("xd-verify did not answer Health at %s", url);
    return -1;
}

static int teardown(void **state)
{
    (void)state;
    xd_client_close(client);
    kill(daemon_pid, SIGTERM);
    int status = 0;
    waitpid(daemon_pid, &status, 0);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        return -1;
    /* A clean SIGTERM shutdown exits 0. */
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

static xd_code call(const char *method, const ProtobufCMessage *req,
                    const ProtobufCMessageDescriptor *desc, const char *org, Xd__Role role,
                    xd_arena *a, void *out, xd_err *err)
{
    Xd__Caller caller = XD__CALLER__INIT;
    caller.org_id = (char *)org;
    caller.role = role;
    caller.principal = "test";
    xd_call_options o = {.timeout_ms = 5000, .caller = &caller};
    return xd_client_call(client, &o, method, req, desc, a, (ProtobufCMessage **)out, err);
}

static Xd__DeliveryEvent *event(xd_arena *a, const char *id, const char *org, const char *msg,
                                const char *rcpt, Xd__RecipientState st, int64_t t)
{
    Xd__DeliveryEvent *e = xd_arena_message(a, &xd__delivery_event__descriptor);
    e->event_id = (char *)id;
    e->org_id = (char *)org;
    e->message_id = (char *)msg;
    e->recipient = (char *)rcpt;
    e->state = st;
    e->event_time_ms = t;
    e->client_id = "client-7";
    e->module = "registration";
    e->subject = "Your enrolment";
    e->from = "office@org.example";
    if (st == XD__RECIPIENT_STATE__RECIPIENT_STATE_DELIVERED) {
        Xd__SmtpReply *r = xd_arena_message(a, &xd__smtp_reply__descriptor);
        r->code = 250;
        r->enhanced_code = "2.0.0";
        r->text = "OK id=42";
        e->reply = r;
        e->remote_host = "mx1.example.com";
        e->tls_version = "TLSv1.3";
    }
    return e;
}

#define ROLE(x) XD__ROLE__ROLE_##x

static void test_events_and_scoping(void **state)
{
    (void)state;
    xd_arena *a = xd_arena_new();
    xd_err err;
    int64_t now = (int64_t)time(NULL) * 1000;
    Xd__DeliveryEvent *evs[3] = {
        event(a, "ev-1", "org-a", "msg-1", "ann@example.com", 1, now - 2000),
        event(a, "ev-2", "org-a", "msg-1", "ann@example.com", 3, now - 1000),
        event(a, "ev-1", "org-a", "msg-1", "ann@example.com", 1, now - 2000),
    };
    Xd__RecordEventsRequest req = XD__RECORD_EVENTS_REQUEST__INIT;
    req.n_events = 3;
    req.events = evs;
    Xd__RecordEventsReply *rep;
    assert_int_equal(call("RecordEvents", &req.base, &xd__record_events_reply__descriptor, "",
                          ROLE(SERVICE), a, &rep, &err),
                     XD_OK);
    assert_int_equal(rep->applied, 2);
    assert_int_equal(rep->duplicates, 1);
    /* A module of org-b cannot write org-a's log. */
    assert_int_equal(call("RecordEvents", &req.base, &xd__record_events_reply__descriptor, "org-b",
                          ROLE(MODULE), a, &rep, &err),
                     XD_PERMISSION_DENIED);

    Xd__GetMessageStatusRequest st = XD__GET_MESSAGE_STATUS_REQUEST__INIT;
    st.message_id = "msg-1";
    Xd__GetMessageStatusReply *sr;
    assert_int_equal(call("GetMessageStatus", &st.base, &xd__get_message_status_reply__descriptor,
                          "org-a", ROLE(SUPPORT), a, &sr, &err),
                     XD_OK);
    assert_int_equal(sr->n_recipients, 1);
    assert_int_equal(sr->recipients[0]->state, XD__RECIPIENT_STATE__RECIPIENT_STATE_DELIVERED);
    assert_int_equal(sr->n_case_notes, 1);
    assert_non_null(strstr(sr->case_notes[0]->text, "mx1.example.com"));
    assert_string_equal(sr->case_notes[0]->reply->enhanced_code, "2.0.0");
    /* Another org: not found; naming org-a: denied; an operator may. */
    assert_int_equal(call("GetMessageStatus", &st.base, &xd__get_message_status_reply__descriptor,
                          "org-b", ROLE(SUPPORT), a, &sr, &err),
                     XD_NOT_FOUND);
    st.org_id = "org-a";
    assert_int_equal(call("GetMessageStatus", &st.base, &xd__get_message_status_reply__descriptor,
                          "org-b", ROLE(ADMIN), a, &sr, &err),
                     XD_PERMISSION_DENIED);
    assert_int_equal(call("GetMessageStatus", &st.base, &xd__get_message_status_reply__descriptor,
                          "", ROLE(OPERATOR), a, &sr, &err),
                     XD_OK);
    /* Case notes by client, and Diagnose. */
    Xd__ListCaseNotesRequest lc = XD__LIST_CASE_NOTES_REQUEST__INIT;
    lc.client_id = "client-7";
    lc.delivered_only = 1;
    Xd__ListCaseNotesReply *lr;
    assert_int_equal(call("ListCaseNotes", &lc.base, &xd__list_case_notes_reply__descriptor,
                          "org-a", ROLE(SUPPORT), a, &lr, &err),
                     XD_OK);
    assert_int_equal(lr->n_case_notes, 1);
    Xd__DiagnoseRequest dq = XD__DIAGNOSE_REQUEST__INIT;
    dq.recipient = "ann@example.com";
    Xd__DiagnoseReply *dr;
    assert_int_equal(call("Diagnose", &dq.base, &xd__diagnose_reply__descriptor, "org-a",
                          ROLE(SUPPORT), a, &dr, &err),
                     XD_OK);
    assert_int_equal(dr->verdict, XD__DIAGNOSE_VERDICT__DIAGNOSE_VERDICT_DELIVERED);
    assert_non_null(dr->case_note);
    xd_arena_free(a);
}

static void test_bounce_then_suppressed(void **state)
{
    (void)state;
    xd_arena *a = xd_arena_new();
    xd_err err;
    const char *corp = getenv("XD_CORPORA");
    char path[512];
    snprintf(path, sizeof path, "%s/dsn-arf-kumomta/rfc3464/6.eml",
             corp ? corp : "/work/shared/corpora");
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static uint8_t buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    Xd__IngestBounceRequest req = XD__INGEST_BOUNCE_REQUEST__INIT;
    req.message.data = buf;
    req.message.len = n;
    Xd__IngestBounceReply *rep;
    assert_int_equal(call("IngestBounce", &req.base, &xd__ingest_bounce_reply__descriptor, "org-a",
                          ROLE(SERVICE), a, &rep, &err),
                     XD_OK);
    assert_int_equal(rep->kind, XD__BOUNCE_KIND__BOUNCE_KIND_DSN);
    assert_int_equal(rep->n_recipients, 1);
    assert_string_equal(rep->recipients[0]->recipient, "redacted@example.com");
    assert_false(rep->duplicate);
    int hard = rep->recipients[0]->hard;
    /* Same bytes again: recognised by content hash, nothing applied twice. */
    assert_int_equal(call("IngestBounce", &req.base, &xd__ingest_bounce_reply__descriptor, "org-a",
                          ROLE(SERVICE), a, &rep, &err),
                     XD_OK);
    assert_true(rep->duplicate);
    Xd__ListSuppressionsRequest ls = XD__LIST_SUPPRESSIONS_REQUEST__INIT;
    Xd__ListSuppressionsReply *lr;
    assert_int_equal(call("ListSuppressions", &ls.base, &xd__list_suppressions_reply__descriptor,
                          "org-a", ROLE(ADMIN), a, &lr, &err),
                     XD_OK);
    assert_int_equal(lr->n_suppressions, hard ? 1 : 0);
    assert_int_equal(call("ListSuppressions", &ls.base, &xd__list_suppressions_reply__descriptor,
                          "org-b", ROLE(ADMIN), a, &lr, &err),
                     XD_OK);
    assert_int_equal(lr->n_suppressions, 0);
    /* Empty bounce: a clear error naming the field. */
    req.message.len = 0;
    assert_int_equal(call("IngestBounce", &req.base, &xd__ingest_bounce_reply__descriptor, "org-a",
                          ROLE(SERVICE), a, &rep, &err),
                     XD_INVALID_ARGUMENT);
    xd_arena_free(a);
}

static void test_reports_answer(void **state)
{
    (void)state;
    xd_arena *a = xd_arena_new();
    xd_err err;
    Xd__GetEmailCountsRequest cq = XD__GET_EMAIL_COUNTS_REQUEST__INIT;
    cq.month = "2026-1";
    Xd__GetEmailCountsReply *cr;
    assert_int_equal(call("GetEmailCounts", &cq.base, &xd__get_email_counts_reply__descriptor,
                          "org-a", ROLE(SUPPORT), a, &cr, &err),
                     XD_INVALID_ARGUMENT);
    Xd__GetOrgHealthRequest hq = XD__GET_ORG_HEALTH_REQUEST__INIT;
    Xd__GetOrgHealthReply *hr;
    assert_int_equal(call("GetOrgHealth", &hq.base, &xd__get_org_health_reply__descriptor, "org-a",
                          ROLE(SERVICE), a, &hr, &err),
                     XD_OK);
    assert_int_equal(hr->n_windows, 2);
    assert_int_equal(hr->level, XD__HEALTH_LEVEL__HEALTH_LEVEL_OK);
    assert_true(hr->complaint_warn > 0.0009 && hr->complaint_warn < 0.0011);
    xd_arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_events_and_scoping, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bounce_then_suppressed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reports_answer, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
