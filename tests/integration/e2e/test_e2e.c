/*
 * test_e2e.c: the whole suite as one system. Five real processes (ratelimit,
 * verify, sender, ticket, gateway) driven only through the gateway's NNG
 * socket and its HTTPS face (curl), as a module, support staff, an
 * organization admin and an operator would, against real peers on loopback:
 * dnsmasq (MX records), Postfix's smtp-sink (the recipients' MX), aiosmtpd
 * (the organization's own server, STARTTLS + AUTH). The steps run in order
 * and build on each other: organization and keys -> DKIM key -> SendEmail
 * -> delivered at the MX -> DKIM verified by dkimverify and opendkim-testmsg
 * -> one-click unsubscribe -> case notes, status, counts -> a rejection and
 * a DSN -> suppression -> Diagnose and a ticket -> own relay -> suspension
 * -> other organizations -> quota.
 *
 * The DSN enters through the gateway's IngestBounce as the operator's
 * bounce processor would (an operator key naming the organization).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "e2e_flow.h"
#include "xt_util.h"

#define RELAY_USER     "acme-relay"
#define RELAY_PASSWORD "Rel4y-pass-e2e-0427"

#define G g_e2e

static const char *const SENDER_ENV_FMT[] = {
    "XD_SENDER_DELIVERY_ROUTE=direct_mx",
    "XD_SENDER_DELIVERY_ALLOW_CAPTURE=false",
    "XD_SENDER_RETRY_INITIAL=1s",
    "XD_SENDER_RETRY_MAX=2s",
    "XD_SENDER_RETRY_JITTER_PERMILLE=0",
    "XD_SENDER_DELIVERY_IDLE_POLL=100ms",
    "XD_SENDER_DELIVERY_UNREACHABLE_RETRY=1s",
    "XD_SENDER_SMTP_TIMEOUT_CONNECT=3s",
    "XD_SENDER_SMTP_TIMEOUT_COMMAND=5s",
};
#define N_FIXED (sizeof SENDER_ENV_FMT / sizeof SENDER_ENV_FMT[0])
static char sender_dyn[2][128], verify_dyn[128];
static const char *sender_env[N_FIXED + 3], *verify_env[3];

static int setup(void **state)
{
    (void)state;
    G.arena = xd_arena_new();
    if (xt_tmpdir(G.peers, sizeof G.peers, "e2e-peers") != 0)
        return -1;
    chmod(G.peers, 0711); /* smtp-sink writes below it as nobody */
    const char *records[] = {
        "mx-host=e2e.test,mx.e2e.test,10",         "host-record=mx.e2e.test,127.0.0.1",
        "mx-host=rejects.test,mx.rejects.test,10", "host-record=mx.rejects.test,127.0.0.2",
        "mx-host=acme.test,mx.e2e.test,10",        NULL,
    };
    if (xt_dns_start(&G.dns, G.peers, records) != 0)
        return -1;
    char dir[400];
    snprintf(dir, sizeof dir, "%s/mx", G.peers);
    if (xt_sink_start(&G.sink, dir, "127.0.0.1", 0, NULL) != 0)
        return -1;
    /* The same port on 127.0.0.2 (direct.port is one port for every MX). */
    const char *hard[] = {"-f", "rcpt", NULL};
    snprintf(dir, sizeof dir, "%s/reject", G.peers);
    if (xt_sink_start(&G.reject, dir, "127.0.0.2", G.sink.port, hard) != 0)
        return -1;
    for (size_t i = 0; i < N_FIXED; i++)
        sender_env[i] = SENDER_ENV_FMT[i];
    snprintf(sender_dyn[0], sizeof sender_dyn[0], "XD_SENDER_DNS_SERVERS=127.0.0.1:%d", G.dns.port);
    snprintf(sender_dyn[1], sizeof sender_dyn[1], "XD_SENDER_DIRECT_PORT=%d", G.sink.port);
    sender_env[N_FIXED] = sender_dyn[0];
    sender_env[N_FIXED + 1] = sender_dyn[1];
    snprintf(verify_dyn, sizeof verify_dyn, "XD_VERIFY_DNS_SERVERS=127.0.0.1:%d", G.dns.port);
    verify_env[0] = verify_dyn;
    G.s.env[XT_SENDER] = sender_env;
    G.s.env[XT_VERIFY] = verify_env;
    if (xt_suite_start(&G.s, "e2e") != 0)
        return -1;
    char out[400];
    snprintf(out, sizeof out, "%s/relay", G.peers);
    return xt_relay_start(&G.relay, G.s.src_dir, G.s.certs, out, RELAY_USER, RELAY_PASSWORD);
}

static int teardown(void **state)
{
    (void)state;
    xt_relay_stop(&G.relay);
    int unclean = xt_suite_stop(&G.s); /* every service exits 0 on SIGTERM */
    xt_sink_stop(&G.sink);
    xt_sink_stop(&G.reject);
    xt_dns_stop(&G.dns);
    if (!getenv("XD_KEEP"))
        xt_rmrf(G.peers);
    free(G.admin_a);
    free(G.module_a);
    free(G.support_a);
    free(G.support_b);
    free(G.module_b);
    free(G.admin_b);
    xd_arena_free(G.arena);
    return unclean;
}

/* ---- 1. the operator makes the organization and its keys ---- */

static void test_organization_and_keys(void **state)
{
    (void)state;
    assert_int_equal(xt_create_org(&G.s, "Acme College", G.org_a, sizeof G.org_a), 0);
    assert_int_equal(xt_create_org(&G.s, "Beta School", G.org_b, sizeof G.org_b), 0);
    G.admin_a = xt_create_key(&G.s, G.org_a, "ROLE_ADMIN");
    G.module_a = xt_create_key(&G.s, G.org_a, "ROLE_MODULE");
    G.support_a = xt_create_key(&G.s, G.org_a, "ROLE_SUPPORT");
    G.support_b = xt_create_key(&G.s, G.org_b, "ROLE_SUPPORT");
    G.module_b = xt_create_key(&G.s, G.org_b, "ROLE_MODULE");
    G.admin_b = xt_create_key(&G.s, G.org_b, "ROLE_ADMIN");
    assert_non_null(G.admin_b);
    assert_non_null(G.admin_a);
    assert_non_null(G.module_a);
    assert_non_null(G.support_a);
    assert_non_null(G.support_b);
    assert_non_null(G.module_b);
    const char *keys[] = {G.admin_a, G.module_a, G.support_a};
    const char *roles[] = {"ROLE_ADMIN", "ROLE_MODULE", "ROLE_SUPPORT"};
    for (int i = 0; i < 3; i++) {
        xt_http_reply r = xt_api(&G.s, keys[i], "WhoAmI", "{}");
        assert_int_equal(r.status, 200);
        assert_string_equal(xt_str(r.json, "orgId"), G.org_a);
        assert_string_equal(xt_str(r.json, "role"), roles[i]);
        assert_string_equal(xt_str(r.json, "orgStatus"), "ORG_STATUS_ENABLED");
        xt_http_free(&r);
    }
    /* A module key may not make keys. */
    xt_http_reply r = xt_api(&G.s, G.module_a, "CreateApiKey", "{\"role\":\"ROLE_MODULE\"}");
    assert_int_equal(r.status, 403);
    xt_http_free(&r);
}

/* ---- 2. the admin makes a DKIM key; its TXT record is what we publish ---- */

static void test_dkim_key(void **state)
{
    (void)state;
    xt_http_reply r = xt_api(&G.s, G.admin_a, "CreateDkimKey",
                             "{\"domain\":\"acme.test\",\"selector\":\"e2e2026\"}");
    if (r.status != 200)
        fail_msg("CreateDkimKey: %d %s", r.status, r.body);
    json_t *key = json_object_get(r.json, "key");
    json_t *rec = json_object_get(key, "record");
    assert_string_equal(xt_str(key, "state"), "DKIM_KEY_STATE_ACTIVE");
    assert_string_equal(xt_str(rec, "name"), "e2e2026._domainkey.acme.test");
    assert_int_equal(strncmp(xt_str(rec, "value"), "v=DKIM1; k=rsa; p=", 18), 0);
    assert_null(strstr(r.body, "PRIVATE")); /* the private key never leaves the sender */
    snprintf(G.dkim_name, sizeof G.dkim_name, "%s", xt_str(rec, "name"));
    json_t *chunks = json_object_get(rec, "chunks");
    assert_true(json_array_size(chunks) >= 2); /* a 2048-bit key needs two strings */
    snprintf(G.dkim_chunks, sizeof G.dkim_chunks, "%s/dkim-chunks.txt", G.peers);
    FILE *f = fopen(G.dkim_chunks, "w");
    for (size_t i = 0; i < json_array_size(chunks); i++)
        fprintf(f, "%s\n", json_string_value(json_array_get(chunks, i)));
    fclose(f);
    xt_http_free(&r);
}

/* ---- 3. a module sends to several recipients; the MX gets each copy ---- */

static void test_send_and_deliver(void **state)
{
    (void)state;
    e2e_reset_arena();
    const char *to[] = {"alice@e2e.test", "bob@e2e.test", "carol@e2e.test"};
    Xd__SendEmailReply *rep;
    xd_err err;
    xd_code rc = e2e_send(G.module_a, "enrol-4711", to, 3, &rep, &err);
    if (rc != XD_OK)
        fail_msg("SendEmail: %s", err.message);
    assert_int_equal(rep->n_recipients, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(rep->recipients[i]->outcome,
                         XD__RECIPIENT_OUTCOME__OUTCOME__OUTCOME_QUEUED);
        assert_true(strlen(rep->recipients[i]->recipient_id) > 0);
    }
    assert_false(rep->duplicate);
    snprintf(G.message_id, sizeof G.message_id, "%s", rep->message_id);
    /* The same key again: the first reply, nothing queued twice. */
    Xd__SendEmailReply *again;
    assert_int_equal(e2e_send(G.module_a, "enrol-4711", to, 3, &again, &err), XD_OK);
    assert_true(again->duplicate);
    assert_string_equal(again->message_id, G.message_id);

    Xd__GetMessageStatusReply *st = e2e_wait_final(G.support_a, G.message_id, 3, 60000);
    assert_non_null(st);
    for (size_t i = 0; i < 3; i++) {
        const Xd__RecipientRecord *rr = e2e_record(st, to[i]);
        assert_non_null(rr);
        assert_int_equal(rr->state, XD__RECIPIENT_STATE__RECIPIENT_STATE_DELIVERED);
        assert_string_equal(rr->remote_host, "mx.e2e.test");
        assert_int_equal(rr->last_reply->code, 250);
        char file[600];
        e2e_sink_file(&G.sink, to[i], file, sizeof file);
        assert_true(file[0] != '\0'); /* the copy is at the MX */
    }
    assert_int_equal(st->n_case_notes, 3);
    assert_int_equal(xt_sink_messages(&G.sink), 3); /* one copy each, no duplicate */
}

/* ---- 4. DKIM: two independent verifiers, the key from CreateDkimKey ---- */

static int dkim_check(const char *file)
{
    char *out = NULL;
    int rc = xt_sh_out(&out, "'%s/tests/integration/e2e/dkim_check.sh' '%s' '%s' '%s' 2>&1",
                       G.s.src_dir, file, G.dkim_name, G.dkim_chunks);
    fprintf(stderr, "%s", out ? out : "");
    free(out);
    return rc;
}

static void test_dkim_verifies(void **state)
{
    (void)state;
    if (geteuid() != 0) { /* dkim_check.sh needs unshare --net --mount */
        fprintf(stderr, "DKIM verification needs root (private DNS namespace): skipped\n");
        skip();
    }
    char file[600];
    e2e_sink_file(&G.sink, "bob@e2e.test", file, sizeof file);
    char *msg = xt_read_file(file, NULL);
    assert_non_null(msg);
    assert_non_null(strstr(msg, "DKIM-Signature: v=1; a=rsa-sha256;"));
    assert_non_null(strstr(msg, "d=acme.test"));
    assert_non_null(strstr(msg, "s=e2e2026"));
    free(msg);
    assert_int_equal(dkim_check(file), 0);
    /* The check can fail: one altered body byte and both verifiers refuse. */
    char bad[700];
    snprintf(bad, sizeof bad, "%s/tampered.eml", G.peers);
    assert_int_equal(xt_sh("sed 's/Your enrolment is confirmed/Your enrolment is cancelled/' "
                           "'%s' > '%s'",
                           file, bad),
                     0);
    assert_int_not_equal(dkim_check(bad), 0);
}

/* ---- 5. the one-click unsubscribe from the List-Unsubscribe header ---- */

static void test_one_click_unsubscribe(void **state)
{
    (void)state;
    char file[600];
    e2e_sink_file(&G.sink, "carol@e2e.test", file, sizeof file);
    char *msg = xt_read_file(file, NULL);
    assert_non_null(msg);
    assert_non_null(strstr(msg, "\nList-Unsubscribe-Post: List-Unsubscribe=One-Click"));
    const char *h = strstr(msg, "\nList-Unsubscribe:");
    assert_non_null(h);
    const char *lt = strstr(h, "<https://");
    assert_non_null(lt);
    char url[1200];
    snprintf(url, sizeof url, "%.*s", (int)strcspn(lt + 1, ">"), lt + 1);
    free(msg);
    /* The header may be folded: unfolding leaves no whitespace in a URL. */
    assert_null(strpbrk(url, " \t\r\n"));
    const char *path = strstr(url, "/unsubscribe?t=");
    assert_non_null(path);
    assert_int_equal(strncmp(url, G.s.http_base, strlen(G.s.http_base)), 0);
    /* RFC 8058: a POST with "List-Unsubscribe=One-Click", no key. */
    xt_http_reply r = xt_http(&G.s, path, NULL, "List-Unsubscribe=One-Click");
    if (r.status != 200)
        fail_msg("one-click POST: %d %s", r.status, r.body);
    xt_http_free(&r);
    r = xt_api(&G.s, G.support_a, "ListSuppressions", "{\"address\":\"carol@e2e.test\"}");
    assert_int_equal(r.status, 200);
    json_t *list = json_object_get(r.json, "suppressions");
    assert_int_equal(json_array_size(list), 1);
    assert_string_equal(xt_str(json_array_get(list, 0), "reason"),
                        "SUPPRESSION_REASON_UNSUBSCRIBED");
    xt_http_free(&r);
}

/* ---- 6. case notes, status and client counts ---- */

static void test_case_notes_and_counts(void **state)
{
    (void)state;
    xt_http_reply r = xt_api(&G.s, G.support_a, "ListCaseNotes",
                             "{\"recipient\":\"alice@e2e.test\",\"deliveredOnly\":true}");
    assert_int_equal(r.status, 200);
    json_t *notes = json_object_get(r.json, "caseNotes");
    assert_int_equal(json_array_size(notes), 1);
    json_t *n0 = json_array_get(notes, 0);
    assert_string_equal(xt_str(n0, "messageId"), G.message_id);
    assert_string_equal(xt_str(n0, "remoteHost"), "mx.e2e.test");
    assert_string_equal(xt_str(n0, "clientId"), "client-42");
    assert_non_null(strstr(xt_str(n0, "text"), "alice@e2e.test"));
    xt_http_free(&r);
    char month[16];
    time_t now = time(NULL);
    strftime(month, sizeof month, "%Y-%m", gmtime(&now));
    r = xt_api(&G.s, G.support_a, "GetClientEmailCounts", "{\"month\":\"%s\"}", month);
    assert_int_equal(r.status, 200);
    json_t *clients = json_object_get(r.json, "clients");
    json_t *c42 = NULL;
    for (size_t i = 0; i < json_array_size(clients); i++)
        if (strcmp(xt_str(json_array_get(clients, i), "clientId"), "client-42") == 0)
            c42 = json_array_get(clients, i);
    if (!c42)
        fail_msg("client-42 missing from %s", r.body);
    json_t *counts = json_object_get(c42, "counts");
    /* proto3 JSON: uint64 as strings. */
    assert_string_equal(xt_str(counts, "sent"), "3");
    assert_string_equal(xt_str(counts, "delivered"), "3");
    xt_http_free(&r);
}

/* ---- 7. a rejection at RCPT, a DSN, the suppression they cause ---- */

static const char DSN_FMT[] =
    "From: MAILER-DAEMON@mx.e2e.test\r\n"
    "To: bounces@acme.test\r\n"
    "Subject: Undelivered Mail Returned to Sender\r\n"
    "Message-ID: <dsn-e2e-1@mx.e2e.test>\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: multipart/report; report-type=delivery-status; boundary=\"b0\"\r\n"
    "\r\n"
    "--b0\r\n"
    "Content-Type: text/plain\r\n"
    "\r\n"
    "Your message could not be delivered to alice@e2e.test.\r\n"
    "--b0\r\n"
    "Content-Type: message/delivery-status\r\n"
    "\r\n"
    "Reporting-MTA: dns; mx.e2e.test\r\n"
    "\r\n"
    "Final-Recipient: rfc822; alice@e2e.test\r\n"
    "Action: failed\r\n"
    "Status: 5.1.1\r\n"
    "Remote-MTA: dns; mx.e2e.test\r\n"
    "Diagnostic-Code: smtp; 550 5.1.1 <alice@e2e.test>: Recipient address rejected: "
    "User unknown in local recipient table\r\n"
    "--b0--\r\n";

static void test_bounce_and_suppression(void **state)
{
    (void)state;
    e2e_reset_arena();
    xd_err err;
    /* A hard rejection at RCPT (rejects.test's MX answers 5xx): BOUNCED. */
    const char *dave[] = {"dave@rejects.test"};
    Xd__SendEmailReply *rep;
    assert_int_equal(e2e_send(G.module_a, NULL, dave, 1, &rep, &err), XD_OK);
    Xd__GetMessageStatusReply *st = e2e_wait_final(G.support_a, rep->message_id, 1, 60000);
    assert_non_null(st);
    assert_int_equal(st->recipients[0]->state, XD__RECIPIENT_STATE__RECIPIENT_STATE_BOUNCED);
    assert_int_equal(st->recipients[0]->last_reply->code / 100, 5);

    /* A DSN for alice, handed in as the operator's bounce processor would. */
    Xd__IngestBounceRequest ib = XD__INGEST_BOUNCE_REQUEST__INIT;
    ib.org_id = G.org_a;
    ib.message.data = (uint8_t *)DSN_FMT;
    ib.message.len = strlen(DSN_FMT);
    ib.bounce_id = "e2e-dsn-1";
    ib.message_id = G.message_id;
    ProtobufCMessage *m = NULL;
    /* A module may not feed bounces; another organization's admin cannot
     * name this organization. */
    assert_int_equal(xt_gw_call(&G.s, G.module_a, "IngestBounce", &ib.base,
                                &xd__ingest_bounce_reply__descriptor, G.arena, &m, &err),
                     XD_PERMISSION_DENIED);
    assert_int_equal(xt_gw_call(&G.s, G.admin_b, "IngestBounce", &ib.base,
                                &xd__ingest_bounce_reply__descriptor, G.arena, &m, &err),
                     XD_NOT_FOUND);
    xd_code rc = xt_gw_call(&G.s, G.s.operator_key, "IngestBounce", &ib.base,
                            &xd__ingest_bounce_reply__descriptor, G.arena, &m, &err);
    if (rc != XD_OK)
        fail_msg("IngestBounce: %s", err.message);
    const Xd__IngestBounceReply *br = (const Xd__IngestBounceReply *)m;
    assert_int_equal(br->kind, XD__BOUNCE_KIND__BOUNCE_KIND_DSN);
    assert_int_equal(br->n_recipients, 1);
    assert_true(br->recipients[0]->hard);
    assert_int_equal(br->suppressed, 1);

    /* The next SendEmail reports both suppressed, queues only bob. */
    const char *next[] = {"alice@e2e.test", "carol@e2e.test", "bob@e2e.test"};
    assert_int_equal(e2e_send(G.module_a, NULL, next, 3, &rep, &err), XD_OK);
    assert_int_equal(rep->n_recipients, 3);
    assert_int_equal(rep->recipients[0]->outcome,
                     XD__RECIPIENT_OUTCOME__OUTCOME__OUTCOME_SUPPRESSED);
    assert_non_null(strstr(rep->recipients[0]->reason, "HARD_BOUNCE"));
    assert_true(rep->recipients[0]->since_ms > 0);
    assert_int_equal(rep->recipients[1]->outcome,
                     XD__RECIPIENT_OUTCOME__OUTCOME__OUTCOME_SUPPRESSED);
    assert_non_null(strstr(rep->recipients[1]->reason, "UNSUBSCRIBED"));
    assert_int_equal(rep->recipients[2]->outcome, XD__RECIPIENT_OUTCOME__OUTCOME__OUTCOME_QUEUED);
    st = e2e_wait_final(G.support_a, rep->message_id, 1, 60000);
    assert_non_null(st);
    assert_int_equal(st->recipients[0]->state, XD__RECIPIENT_STATE__RECIPIENT_STATE_DELIVERED);
}

/* ---- 8. Diagnose and a ticket that carries its findings ---- */

static void test_diagnose_and_ticket(void **state)
{
    (void)state;
    xt_http_reply r =
        xt_api(&G.s, G.support_a, "DiagnoseDelivery", "{\"recipient\":\"dave@rejects.test\"}");
    assert_int_equal(r.status, 200);
    assert_string_equal(xt_str(r.json, "verdict"), "DIAGNOSE_VERDICT_BOUNCED");
    assert_true(json_array_size(json_object_get(r.json, "steps")) >= 2);
    assert_true(json_array_size(json_object_get(r.json, "nextSteps")) >= 1);
    xt_http_free(&r);
    r = xt_api(&G.s, G.support_a, "DiagnoseDelivery", "{\"recipient\":\"alice@e2e.test\"}");
    assert_int_equal(r.status, 200);
    const char *v = xt_str(r.json, "verdict");
    if (strcmp(v, "DIAGNOSE_VERDICT_SUPPRESSED") != 0 && strcmp(v, "DIAGNOSE_VERDICT_BOUNCED") != 0)
        fail_msg("alice: %s", r.body);
    xt_http_free(&r);

    time_t now = time(NULL);
    char when[32];
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    r = xt_api(&G.s, G.support_a, "CreateSupportTicket",
               "{\"occurredAt\":\"%s\",\"recipient\":\"dave@rejects.test\","
               "\"module\":\"registration\",\"otherDomainTried\":\"TICKET_OTHER_DOMAIN_TRIED_NO\","
               "\"issueType\":\"TICKET_ISSUE_TYPE_NOT_RECEIVED\",\"description\":\"Dave says the "
               "enrolment mail never arrived\",\"reporter\":\"Acme helpdesk\","
               "\"idempotencyKey\":\"e2e-ticket-1\"}",
               when);
    if (r.status != 200)
        fail_msg("CreateSupportTicket: %d %s", r.status, r.body);
    json_t *t = json_object_get(r.json, "ticket");
    snprintf(G.ticket_id, sizeof G.ticket_id, "%s", xt_str(t, "ticketId"));
    xt_http_free(&r);
    /* The findings come from verify.Diagnose, at once or by the re-check. */
    json_t *f = NULL;
    for (int64_t end = xt_now_ms() + 60000; xt_now_ms() < end; xt_sleep_ms(500)) {
        r = xt_api(&G.s, G.support_a, "GetSupportTicket", "{\"ticketId\":\"%s\"}", G.ticket_id);
        assert_int_equal(r.status, 200);
        f = json_object_get(json_object_get(r.json, "ticket"), "findings");
        if (strcmp(xt_str(f, "state"), "TICKET_FINDINGS_STATE_COMPLETE") == 0)
            break;
        xt_http_free(&r);
        f = NULL;
    }
    assert_non_null(f);
    assert_string_equal(xt_str(f, "verdict"), "TICKET_VERDICT_BOUNCED");
    assert_true(json_is_true(json_object_get(f, "recordFound")));
    assert_true(json_array_size(json_object_get(f, "steps")) >= 2);
    assert_true(strlen(xt_str(f, "nextStep")) > 0);
    xt_http_free(&r);
}

/* ---- 9. the organization's own SMTP server: STARTTLS + AUTH ---- */

static void test_own_relay_starttls_auth(void **state)
{
    (void)state;
    xt_http_reply r = xt_api(&G.s, G.admin_a, "SetSmtpRelay",
                             "{\"route\":\"ROUTE_KIND_ORG_RELAY\",\"host\":\"localhost\","
                             "\"port\":%d,\"tls\":\"RELAY_TLS_STARTTLS_REQUIRED\","
                             "\"username\":\"" RELAY_USER "\",\"password\":\"" RELAY_PASSWORD "\"}",
                             G.relay.starttls_port);
    if (r.status != 200)
        fail_msg("SetSmtpRelay: %d %s", r.status, r.body);
    assert_null(strstr(r.body, RELAY_PASSWORD)); /* never returned */
    xt_http_free(&r);
    e2e_reset_arena();
    const char *to[] = {"erin@elsewhere.test"};
    Xd__SendEmailReply *rep;
    xd_err err;
    assert_int_equal(e2e_send(G.module_a, NULL, to, 1, &rep, &err), XD_OK);
    Xd__GetMessageStatusReply *st = e2e_wait_final(G.support_a, rep->message_id, 1, 60000);
    assert_non_null(st);
    const Xd__RecipientRecord *rr = st->recipients[0];
    if (rr->state != XD__RECIPIENT_STATE__RECIPIENT_STATE_DELIVERED)
        fail_msg("relay: state %d, %s", rr->state, rr->last_reply ? rr->last_reply->text : "");
    assert_string_equal(rr->remote_host, "localhost");
    assert_true(strlen(rr->tls_version) > 0);
    assert_int_equal(xt_sh("grep -l 'X-Rcpt-To: erin@elsewhere.test' '%s'/*.eml | "
                           "xargs grep -q 'X-TLS: yes'",
                           G.relay.out),
                     0);
    assert_int_equal(xt_sh("grep -l 'X-Rcpt-To: erin@elsewhere.test' '%s'/*.eml | "
                           "xargs grep -Eq 'X-Auth-Mech: (PLAIN|LOGIN)'",
                           G.relay.out),
                     0);
    /* The password is in no log and in no database in clear (the request
     * body this test wrote for curl excepted). */
    assert_int_not_equal(
        xt_sh("grep -rqa --exclude='http-*' -F '%s' '%s'", RELAY_PASSWORD, G.s.dir), 0);
}

/* ---- 10. a suspended organization may not send ---- */

static void test_suspended_organization(void **state)
{
    (void)state;
    xt_http_reply r = xt_api(&G.s, G.s.operator_key, "SetOrganizationStatus",
                             "{\"orgId\":\"%s\",\"status\":\"ORG_STATUS_SUSPENDED\","
                             "\"reason\":\"complaint rate above 0.3%%\"}",
                             G.org_b);
    assert_int_equal(r.status, 200);
    xt_http_free(&r);
    e2e_reset_arena();
    const char *to[] = {"frank@e2e.test"};
    Xd__SendEmailReply *rep;
    xd_err err;
    assert_int_equal(e2e_send(G.module_b, NULL, to, 1, &rep, &err), XD_FAILED_PRECONDITION);
    assert_non_null(strstr(err.message, "complaint rate above 0.3%"));
    r = xt_api(&G.s, G.s.operator_key, "SetOrganizationStatus",
               "{\"orgId\":\"%s\",\"status\":\"ORG_STATUS_ENABLED\"}", G.org_b);
    assert_int_equal(r.status, 200);
    xt_http_free(&r);
    assert_int_equal(e2e_send(G.module_b, NULL, to, 1, &rep, &err), XD_OK);
    assert_int_equal(rep->recipients[0]->outcome, XD__RECIPIENT_OUTCOME__OUTCOME__OUTCOME_QUEUED);
}

/* ---- 11. another organization sees nothing of A's ---- */

static void expect_not_found(const char *method, const char *body)
{
    xt_http_reply r = xt_api(&G.s, G.support_b, method, "%s", body);
    if (r.status != 404 || strcmp(xt_str(r.json, "code"), "NOT_FOUND") != 0)
        fail_msg("%s %s: want 404 NOT_FOUND, got %d %s", method, body, r.status, r.body);
    xt_http_free(&r);
}

static void test_cross_organization_not_found(void **state)
{
    (void)state;
    char body[300];
    snprintf(body, sizeof body, "{\"messageId\":\"%s\"}", G.message_id);
    expect_not_found("GetEmailStatus", body);
    snprintf(body, sizeof body, "{\"ticketId\":\"%s\"}", G.ticket_id);
    expect_not_found("GetSupportTicket", body);
    snprintf(body, sizeof body, "{\"orgId\":\"%s\",\"recipient\":\"alice@e2e.test\"}", G.org_a);
    expect_not_found("ListCaseNotes", body);
    expect_not_found("DiagnoseDelivery", body);
    snprintf(body, sizeof body, "{\"orgId\":\"%s\"}", G.org_a);
    expect_not_found("ListSuppressions", body);
    /* B's own view of alice: no record of A's mail. */
    xt_http_reply r =
        xt_api(&G.s, G.support_b, "ListCaseNotes", "{\"recipient\":\"alice@e2e.test\"}");
    assert_int_equal(r.status, 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "records")), 0);
    xt_http_free(&r);
}

/* ---- 12. quota: RESOURCE_EXHAUSTED with a retry-after, nothing queued ---- */

static void test_quota_exhausted(void **state)
{
    (void)state;
    xt_http_reply r =
        xt_api(&G.s, G.s.operator_key, "SetRateLimitPolicy",
               "{\"policyJson\":\"{\\\"rules\\\":[{\\\"name\\\":\\\"org-hour\\\","
               "\\\"kind\\\":\\\"window\\\",\\\"scope\\\":[\\\"org\\\"],\\\"limit\\\":3,"
               "\\\"window_ms\\\":3600000}]}\"}");
    if (r.status != 200)
        fail_msg("SetRateLimitPolicy: %d %s", r.status, r.body);
    xt_http_free(&r);
    char org_q[64];
    assert_int_equal(xt_create_org(&G.s, "Quota College", org_q, sizeof org_q), 0);
    char *module_q = xt_create_key(&G.s, org_q, "ROLE_MODULE");
    assert_non_null(module_q);
    e2e_reset_arena();
    const char *three[] = {"q1@e2e.test", "q2@e2e.test", "q3@e2e.test"};
    Xd__SendEmailReply *rep;
    xd_err err;
    assert_int_equal(e2e_send(module_q, NULL, three, 3, &rep, &err), XD_OK);
    const char *one[] = {"q4@e2e.test"};
    assert_int_equal(e2e_send(module_q, NULL, one, 1, &rep, &err), XD_RESOURCE_EXHAUSTED);
    assert_true(err.retry_after_ms > 0);
    assert_true(err.retry_after_ms <= 3600000);
    assert_non_null(strstr(err.message, "org-hour"));
    /* Over HTTP: 429 with Retry-After in seconds. */
    r = xt_api(&G.s, module_q, "SendEmail",
               "{\"module\":\"registration\",\"category\":\"MAIL_CATEGORY_TRANSACTIONAL\","
               "\"from\":{\"address\":\"noreply@quota.test\"},\"subject\":\"s\",\"textBody\":\"t\","
               "\"to\":[{\"address\":\"q5@e2e.test\"}]}");
    assert_int_equal(r.status, 429);
    assert_string_equal(xt_str(r.json, "code"), "RESOURCE_EXHAUSTED");
    assert_true(atoi(r.retry_after) > 0);
    xt_http_free(&r);
    /* Nothing of the refused sends was queued: q4 and q5 have no record. */
    char *support_q = xt_create_key(&G.s, org_q, "ROLE_SUPPORT");
    r = xt_api(&G.s, support_q, "ListCaseNotes", "{\"recipient\":\"q4@e2e.test\"}");
    assert_int_equal(r.status, 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "records")), 0);
    xt_http_free(&r);
    free(module_q);
    free(support_q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_organization_and_keys),
        cmocka_unit_test(test_dkim_key),
        cmocka_unit_test(test_send_and_deliver),
        cmocka_unit_test(test_dkim_verifies),
        cmocka_unit_test(test_one_click_unsubscribe),
        cmocka_unit_test(test_case_notes_and_counts),
        cmocka_unit_test(test_bounce_and_suppression),
        cmocka_unit_test(test_diagnose_and_ticket),
        cmocka_unit_test(test_own_relay_starttls_auth),
        cmocka_unit_test(test_suspended_organization),
        cmocka_unit_test(test_cross_organization_not_found),
        cmocka_unit_test(test_quota_exhausted),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
