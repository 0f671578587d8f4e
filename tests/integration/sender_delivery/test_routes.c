/*
 * test_routes.c: the delivery routes against real peers on loopback.
 * DIRECT_MX: a dnsmasq serves MX records pointing at loopback addresses;
 * the preferred MX (127.0.0.2) refuses connections, so the copy must go to
 * the next one (127.0.0.3, an smtp-sink); a domain without MX goes to its
 * own A record; a null MX bounces without a connection. ORG_RELAY:
 * aiosmtpd with STARTTLS required and AUTH (certificates made here with
 * openssl, verified against the test CA): delivered over TLS with AUTH;
 * a relay whose certificate names another host is deferred (TLS
 * failure); a relay that refuses the login (535) defers the recipient as a
 * configuration problem of the relay, not a bounce. The delivery event
 * records the negotiated TLS version and cipher. Two MX hosts of equal
 * preference (sinks on 127.0.0.3 and 127.0.0.4) both get traffic (RFC 5321
 * 5.1 shuffle). The relay password is stored sealed (not in the database in
 * clear) and never written to the log.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dnsmasq_run.h"
#include "dtest.h"

#define USER     "relay-user"
#define PASSWORD "s3cret-relay-pass"

static struct {
    char dir[512], certs[600], out[600];
    dnsmasq_run dns;
    dt_sink sink;  /* on 127.0.0.3 */
    dt_sink sink4; /* on 127.0.0.4, same port */
    tu_child relay;
    uint16_t starttls, wronghost;
    dt_sender s;
} g;

static int make_certs(void)
{
    return tu_sh("set -e; cd '%s'; "
                 "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
                 "  -keyout ca.key -out ca.pem -days 2 -subj '/CN=xdmail test CA' 2>/dev/null; "
                 "for n in server:localhost wrong:wrong.example; do f=${n%%%%:*}; h=${n#*:}; "
                 "  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
                 "    -keyout $f.key -out $f.csr -subj \"/CN=$h\" 2>/dev/null; "
                 "  printf 'subjectAltName=DNS:%%s,IP:127.0.0.1\\nbasicConstraints=CA:FALSE\\n"
                 "extendedKeyUsage=serverAuth\\n' $h > $f.ext; "
                 "  openssl x509 -req -in $f.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 "
                 "    -extfile $f.ext -out $f.pem 2>/dev/null; "
                 "done",
                 g.certs);
}

static int start_relay(void)
{
    char script[1024], errlog[700], line[256];
    snprintf(script, sizeof script, "%s/tests/integration/sender_smtp/tls_auth_server.py",
             getenv("XD_SOURCE_DIR") ? getenv("XD_SOURCE_DIR") : ".");
    snprintf(errlog, sizeof errlog, "%s/relay.log", g.dir);
    char *argv[] = {"/usr/bin/python3", script, "--certs",    g.certs,  "--out", g.out,
                    "--user",           USER,   "--password", PASSWORD, NULL};
    if (tu_spawn(&g.relay, argv, errlog) != 0)
        return -1;
    while (tu_read_line(&g.relay, line, sizeof line, 15000) == 0) {
        char mode[32];
        unsigned port;
        if (strcmp(line, "READY") == 0)
            return 0;
        if (sscanf(line, "PORT %31s %u", mode, &port) == 2) {
            if (strcmp(mode, "starttls") == 0)
                g.starttls = (uint16_t)port;
            else if (strcmp(mode, "wronghost") == 0)
                g.wronghost = (uint16_t)port;
        }
    }
    return -1;
}

static int setup(void **state)
{
    (void)state;
    tu_tmpdir(g.dir, sizeof g.dir, "xd-droutes");
    snprintf(g.certs, sizeof g.certs, "%s/certs", g.dir);
    snprintf(g.out, sizeof g.out, "%s/out", g.dir);
    if (tu_sh("mkdir -p '%s' '%s'", g.certs, g.out) != 0 || make_certs() != 0 || start_relay() != 0)
        return -1;
    if (dt_sink_start(&g.sink, "127.0.0.3", 0) != 0 ||
        dt_sink_start(&g.sink4, "127.0.0.4", g.sink.port) != 0)
        return -1;
    const char *records[] = {
        "--mx-host=mx.test,mx1.mx.test,10", /* preferred: refuses */
        "--mx-host=mx.test,mx2.mx.test,20", /* fallback: the sink */
        "--host-record=mx1.mx.test,127.0.0.2", "--host-record=mx2.mx.test,127.0.0.3",
        "--host-record=amx.test,127.0.0.3", /* no MX: implicit MX */
        "--mx-host=nullmx.test,.,0",        /* RFC 7505 */
        "--mx-host=eq.test,mxa.eq.test,10", /* equal preference: shuffled */
        "--mx-host=eq.test,mxb.eq.test,10",    "--host-record=mxa.eq.test,127.0.0.3",
        "--host-record=mxb.eq.test,127.0.0.4", NULL,
    };
    if (dnsmasq_start(&g.dns, records) != 0)
        return -1;
    char dns_env[96], port_env[96], ca_env[700];
    snprintf(dns_env, sizeof dns_env, "XD_SENDER_DNS_SERVERS=127.0.0.1:%d", g.dns.port);
    snprintf(port_env, sizeof port_env, "XD_SENDER_DIRECT_PORT=%u", (unsigned)g.sink.port);
    snprintf(ca_env, sizeof ca_env, "XD_SENDER_SMTP_CA_FILE=%s/ca.pem", g.certs);
    const char *env[] = {dns_env,
                         port_env,
                         ca_env,
                         "XD_SENDER_DELIVERY_ROUTE=direct_mx",
                         "XD_SENDER_RETRY_MAX_AGE=1h",
                         NULL};
    if (dt_sender_start(&g.s, g.dir, env) != 0) {
        tu_sh("cat '%s/sender.log' >&2", g.dir);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    dt_sender_stop(&g.s, SIGTERM);
    dt_sink_stop(&g.sink);
    dt_sink_stop(&g.sink4);
    dnsmasq_stop(&g.dns);
    tu_stop(&g.relay);
    xd_client_close(g.s.client);
    xd_arena_free(g.s.arena);
    if (!getenv("XD_KEEP"))
        tu_rmrf(g.dir);
    return 0;
}

static Xd__RecipientStatus *deliver_one(const char *org, const char *domain, int until)
{
    dt_msg m = {.org = org, .n_to = 1, .domain = domain, .prefix = "route"};
    Xd__SubmitReply *r;
    assert_int_equal(dt_submit(&g.s, &m, &r), XD_OK);
    Xd__GetMessageReply *gm = dt_wait(&g.s, org, r->message_id, until, 60000);
    assert_non_null(gm);
    return gm->recipients[0];
}

static void test_mx_preference_and_fallback(void **state)
{
    (void)state;
    Xd__RecipientStatus *rs = deliver_one("org-mx", "mx.test", 0);
    assert_int_equal(rs->state, XD__RECIPIENT_STATE__RECIPIENT_STATE_DELIVERED);
    assert_string_equal(rs->remote_host, "mx2.mx.test");
    assert_true(dt_sink_count(&g.sink, "route0@mx.test") >= 1);
}

static void test_implicit_mx(void **state)
{
    (void)state;
    Xd__RecipientStatus *rs = deliver_one("org-mx", "amx.test", 0);
    assert_int_equal(rs->state, XD__RECIPIENT_STATE__RECIPIENT_STATE_DELIVERED);
    assert_string_equal(rs->remote_host, "amx.test");
}

static void test_null_mx_bounces(void **state)
{
    (void)state;
    Xd__RecipientStatus *rs = deliver_one("org-mx", "nullmx.test", 0);
    assert_int_equal(rs->state, XD__RECIPIENT_STATE__RECIPIENT_STATE_BOUNCED);
    assert_int_equal(rs->failure, XD__FAILURE_CATEGORY__FAILURE_CATEGORY_DNS_FAILURE);
    assert_non_null(strstr(rs->last_reply->text, "null MX"));
}

static void test_org_relay_starttls_auth(void **state)
{
    (void)state;
    assert_int_equal(dt_set_relay(&g.s, "org-relay", 3, "localhost", g.starttls, 1, USER, PASSWORD),
                     XD_OK);
    Xd__RecipientStatus *rs = deliver_one("org-relay", "relayed.test", 0);
    assert_int_equal(rs->state, XD__RECIPIENT_STATE__RECIPIENT_STATE_DELIVERED);
    assert_string_equal(rs->remote_host, "localhost");
    assert_int_equal(tu_sh("grep -l 'X-Rcpt-To: route0@relayed.test' '%s'/*.eml | xargs grep -q "
                           "'X-TLS: yes'",
                           g.out),
                     0);
    assert_int_equal(tu_sh("grep -l 'X-Rcpt-To: route0@relayed.test' '%s'/*.eml | xargs grep -Eq "
                           "'X-Auth-Mech: (PLAIN|LOGIN)'",
                           g.out),
                     0);
    /* Sealed at rest, never logged. */
    assert_int_not_equal(tu_sh("sqlite3 '%s/sender.db' \"SELECT hex(password_sealed) FROM relays\" "
                               "| grep -qi \"$(printf %%s '%s' | od -An -tx1 | tr -d ' \\n')\"",
                               g.dir, PASSWORD),
                         0);
    assert_int_not_equal(
        tu_sh("grep -q '%s' '%s/sender.log' '%s/sender.db'", PASSWORD, g.dir, g.dir), 0);
    /* The delivery event carries the negotiated TLS version and cipher. */
    assert_int_equal(tu_sh("sqlite3 '%s/sender.db' \"SELECT tls_version FROM outbox WHERE state = "
                           "3 AND address = 'route0@relayed.test'\" | tee /dev/stderr | "
                           "grep -Eq '^TLSv1\\.[23] [A-Z0-9_-]+$'",
                           g.dir),
                     0);
}

static void test_org_relay_login_refused_defers(void **state)
{
    (void)state;
    assert_int_equal(
        dt_set_relay(&g.s, "org-badlogin", 3, "localhost", g.starttls, 1, USER, "not-the-password"),
        XD_OK);
    Xd__RecipientStatus *rs = deliver_one("org-badlogin", "badlogin.test", 2 /* DEFERRED */);
    printf("ROUTES 535: state %d attempts %u code %u failure %d: %s\n", rs->state, rs->attempts,
           rs->last_reply ? rs->last_reply->code : 0, rs->failure,
           rs->last_reply ? rs->last_reply->text : "");
    assert_true(rs->attempts >= 1);
    assert_non_null(rs->last_reply);
    assert_int_equal(rs->last_reply->code, 535);
    assert_int_equal(rs->failure, XD__FAILURE_CATEGORY__FAILURE_CATEGORY_AUTH_FAILURE);
    assert_non_null(strstr(rs->last_reply->text, "configuration problem"));
    assert_non_null(strstr(rs->last_reply->text, "organization's own SMTP server"));
    assert_int_not_equal(tu_sh("grep -q 'not-the-password' '%s/sender.log'", g.dir), 0);
}

static void test_equal_preference_mx_shuffled(void **state)
{
    (void)state;
    /* One message at a time (each its own connection and route plan). */
    int at3 = 0, at4 = 0;
    for (int i = 0; i < 16 && !(at3 && at4); i++) {
        char org[32];
        snprintf(org, sizeof org, "org-eq%d", i);
        Xd__RecipientStatus *rs = deliver_one(org, "eq.test", 0);
        assert_int_equal(rs->state, XD__RECIPIENT_STATE__RECIPIENT_STATE_DELIVERED);
        at3 += strcmp(rs->remote_host, "mxa.eq.test") == 0;
        at4 += strcmp(rs->remote_host, "mxb.eq.test") == 0;
    }
    printf("ROUTES equal-preference MX: mxa %d, mxb %d\n", at3, at4);
    /* Both hosts served: with a fixed order one would get all 16 (the
     * chance of that under a fair shuffle is 2^-15). */
    assert_true(at3 > 0 && at4 > 0);
    assert_true(dt_sink_count(&g.sink4, "@eq.test") > 0);
}

static void test_org_relay_wrong_certificate_defers(void **state)
{
    (void)state;
    assert_int_equal(
        dt_set_relay(&g.s, "org-wrong", 3, "localhost", g.wronghost, 1, USER, PASSWORD), XD_OK);
    Xd__RecipientStatus *rs = deliver_one("org-wrong", "wrongcert.test", 2 /* DEFERRED */);
    assert_int_equal(rs->failure, XD__FAILURE_CATEGORY__FAILURE_CATEGORY_TLS_FAILURE);
    assert_true(rs->attempts >= 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mx_preference_and_fallback),
        cmocka_unit_test(test_implicit_mx),
        cmocka_unit_test(test_null_mx_bounces),
        cmocka_unit_test(test_org_relay_starttls_auth),
        cmocka_unit_test(test_org_relay_wrong_certificate_defers),
        cmocka_unit_test(test_org_relay_login_refused_defers),
        cmocka_unit_test(test_equal_preference_mx_shuffled),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
