/*
 * test_smtp_aiosmtpd.c: STARTTLS, implicit TLS, certificate and host name
 * verification, AUTH PLAIN and LOGIN, SMTPUTF8 and the TLS policies against
 * aiosmtpd (tls_auth_server.py under /usr/bin/python3), with a CA and server
 * certificates this test makes with openssl. Also checks that credentials
 * never reach the log, even at debug level.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "smtp_client.h"
#include "smtp_test_util.h"
#include "xd/log.h"

#define USER     "relay-user@example.test"
#define PASSWORD "s3cret-Pa55word!"

static struct {
    char dir[512];
    char certs[600];
    char out[600];
    char ca[700];
    tu_child server;
    uint16_t starttls, wronghost, plain, implicit;
} g;

static int make_certs(void)
{
    /* EC keys keep generation fast; SAN carries the names that are checked */
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

static int setup(void **state)
{
    (void)state;
    char line[256];
    tu_tmpdir(g.dir, sizeof(g.dir), "xd-smtp-aiosmtpd");
    snprintf(g.certs, sizeof(g.certs), "%s/certs", g.dir);
    snprintf(g.out, sizeof(g.out), "%s/out", g.dir);
    snprintf(g.ca, sizeof(g.ca), "%s/ca.pem", g.certs);
    if (tu_sh("mkdir -p '%s' '%s'", g.certs, g.out) != 0 || make_certs() != 0) {
        fprintf(stderr, "cannot make test certificates with openssl\n");
        return -1;
    }
    char script[1024], errlog[700];
    snprintf(script, sizeof(script), "%s/tests/integration/sender_smtp/tls_auth_server.py",
             getenv("XD_SOURCE_DIR") ? getenv("XD_SOURCE_DIR") : ".");
    snprintf(errlog, sizeof(errlog), "%s/server.log", g.dir);
    char *argv[] = {"/usr/bin/python3", script, "--certs",    g.certs,  "--out", g.out,
                    "--user",           USER,   "--password", PASSWORD, NULL};
    if (tu_spawn(&g.server, argv, errlog) != 0)
        return -1;
    while (tu_read_line(&g.server, line, sizeof(line), 15000) == 0) {
        char mode[32];
        unsigned port;
        if (strcmp(line, "READY") == 0)
            return 0;
        if (sscanf(line, "PORT %31s %u", mode, &port) != 2)
            continue;
        if (strcmp(mode, "starttls") == 0)
            g.starttls = (uint16_t)port;
        else if (strcmp(mode, "wronghost") == 0)
            g.wronghost = (uint16_t)port;
        else if (strcmp(mode, "plain") == 0)
            g.plain = (uint16_t)port;
        else if (strcmp(mode, "implicit") == 0)
            g.implicit = (uint16_t)port;
    }
    fprintf(stderr, "aiosmtpd server did not start; see %s\n", errlog);
    tu_sh("cat '%s' >&2", errlog);
    return -1;
}

static int teardown(void **state)
{
    (void)state;
    tu_stop(&g.server);
    tu_rmrf(g.dir);
    return 0;
}

static void base_opts(snd_smtp_opts *o, uint16_t port)
{
    snd_smtp_opts_init(o);
    o->host = "127.0.0.1";
    o->tls_name = "localhost";
    o->port = port;
    o->ca_file = g.ca;
    o->helo_name = "client.xdmail.test";
    o->timeouts.connect_ms = 5000;
    o->timeouts.greeting_ms = o->timeouts.ehlo_ms = o->timeouts.starttls_ms = 10000;
}

/* Finds the capture whose body carries marker; returns it malloc'd. */
static char *find_capture(const char *marker)
{
    for (int attempt = 0; attempt < 50; attempt++) {
        DIR *d = opendir(g.out);
        struct dirent *de;
        while (d && (de = readdir(d)) != NULL) {
            if (!strstr(de->d_name, ".eml"))
                continue;
            char path[1024];
            snprintf(path, sizeof(path), "%s/%s", g.out, de->d_name);
            char *c = tu_read_file(path, NULL);
            if (c && strstr(c, marker)) {
                closedir(d);
                return c;
            }
            free(c);
        }
        if (d)
            closedir(d);
        usleep(20000);
    }
    return NULL;
}

static void send_one(snd_smtp_session *s, const char *marker, const char *rcpt2)
{
    const char *rcpts[] = {"first@example.test", rcpt2};
    snd_smtp_status res[2], st;
    xd_err err;
    char msg[256];
    snprintf(msg, sizeof(msg), "Subject: %s\r\n\r\nbody %s\r\n.\r\nafter dot\r\n", marker, marker);
    assert_int_equal(
        snd_smtp_send(s, "bounce@example.test", rcpts, 2, msg, strlen(msg), res, &st, &err), XD_OK);
    assert_int_equal(st.outcome, SND_SMTP_DELIVERED);
    assert_int_equal(res[0].outcome, SND_SMTP_DELIVERED);
    assert_int_equal(res[1].outcome, SND_SMTP_DELIVERED);
    assert_int_equal(res[1].reply.code, 250);
    assert_string_equal(res[1].reply.enhanced, "2.0.0");
}

static void auth_roundtrip(snd_smtp_auth_mech mech, const char *mech_name)
{
    snd_smtp_opts o;
    base_opts(&o, g.starttls);
    o.username = USER;
    o.password = PASSWORD;
    o.auth_mech = mech;
    snd_smtp_session *s = NULL;
    snd_smtp_status st;
    xd_err err;
    assert_int_equal(snd_smtp_open(&o, &s, &st, &err), XD_OK);
    assert_true(snd_smtp_tls_active(s));
    assert_true(snd_smtp_authenticated(s));
    const snd_smtp_ext *ext = snd_smtp_extensions(s);
    assert_true(ext->auth_mechs & SND_SMTP_AUTH_PLAIN);
    assert_true(ext->auth_mechs & SND_SMTP_AUTH_LOGIN);
    char marker[64];
    for (int i = 0; i < 3; i++) { /* several transactions, RSET between them */
        snprintf(marker, sizeof(marker), "auth-%s-%d", mech_name, i);
        send_one(s, marker, "second@example.test");
        char *cap = find_capture(marker);
        assert_non_null(cap);
        assert_non_null(strstr(cap, "X-TLS: yes"));
        char want[64];
        snprintf(want, sizeof(want), "X-Auth-Mech: %s", mech_name);
        assert_non_null(strstr(cap, want));
        assert_non_null(strstr(cap, "X-Rcpt-To: second@example.test"));
        assert_non_null(strstr(cap, "X-SNI: localhost"));   /* tls_name sent as SNI */
        assert_non_null(strstr(cap, "\r\n.\r\nafter dot")); /* un-stuffed by the server */
        free(cap);
    }
    assert_int_equal(snd_smtp_transactions(s), 3);
    snd_smtp_close(s);
}

static void test_starttls_auth_plain(void **state)
{
    (void)state;
    auth_roundtrip(SND_SMTP_AUTH_USE_PLAIN, "PLAIN");
}

static void test_starttls_auth_login(void **state)
{
    (void)state;
    auth_roundtrip(SND_SMTP_AUTH_USE_LOGIN, "LOGIN");
}

static void expect_open_fail(const snd_smtp_opts *o, xd_code code, snd_smtp_outcome outcome,
                             snd_smtp_phase phase, int reply_code, const char *text_part)
{
    snd_smtp_session *s = NULL;
    snd_smtp_status st;
    xd_err err;
    assert_int_equal(snd_smtp_open(o, &s, &st, &err), code);
    assert_null(s);
    print_message("open failed as expected: %s at %s: %d %s %s\n",
                  snd_smtp_outcome_name(st.outcome), snd_smtp_phase_name(st.phase), st.reply.code,
                  st.reply.enhanced, st.reply.text);
    assert_int_equal(st.outcome, outcome);
    assert_int_equal(st.phase, phase);
    assert_int_equal(st.reply.code, reply_code);
    if (text_part)
        assert_non_null(strstr(st.reply.text, text_part));
    assert_null(strstr(st.reply.text, PASSWORD));
    assert_null(strstr(err.message, PASSWORD));
}

static void test_wrong_password(void **state)
{
    (void)state;
    snd_smtp_opts o;
    base_opts(&o, g.starttls);
    o.username = USER;
    o.password = "not-the-password";
    for (int m = SND_SMTP_AUTH_USE_PLAIN; m <= SND_SMTP_AUTH_USE_LOGIN; m++) {
        o.auth_mech = (snd_smtp_auth_mech)m;
        expect_open_fail(&o, XD_UNAUTHENTICATED, SND_SMTP_PERMFAIL, SND_SMTP_PHASE_AUTH, 535, NULL);
    }
}

static void test_certificate_checks(void **state)
{
    (void)state;
    snd_smtp_opts o;
    /* the server's certificate names wrong.example; we expect localhost */
    base_opts(&o, g.wronghost);
    expect_open_fail(&o, XD_UNAVAILABLE, SND_SMTP_TEMPFAIL, SND_SMTP_PHASE_TLS, 0,
                     "hostname mismatch");
    /* a valid certificate, but we expect another name */
    base_opts(&o, g.starttls);
    o.tls_name = "mx.other.example";
    expect_open_fail(&o, XD_UNAVAILABLE, SND_SMTP_TEMPFAIL, SND_SMTP_PHASE_TLS, 0,
                     "hostname mismatch");
    /* our test CA is not in the system store */
    base_opts(&o, g.starttls);
    o.ca_file = NULL;
    expect_open_fail(&o, XD_UNAVAILABLE, SND_SMTP_TEMPFAIL, SND_SMTP_PHASE_TLS, 0,
                     "certificate verification failed");
    /* the IP literal is in the certificate too (IP SAN) */
    base_opts(&o, g.starttls);
    o.tls_name = NULL;
    snd_smtp_session *s = NULL;
    snd_smtp_status st;
    xd_err err;
    assert_int_equal(snd_smtp_open(&o, &s, &st, &err), XD_OK);
    assert_true(snd_smtp_tls_active(s));
    snd_smtp_close(s);
    /* explicit opt-out accepts the wrong certificate */
    base_opts(&o, g.wronghost);
    o.tls_no_verify = 1;
    assert_int_equal(snd_smtp_open(&o, &s, &st, &err), XD_OK);
    snd_smtp_close(s);
}

static void test_policies_without_starttls(void **state)
{
    (void)state;
    snd_smtp_opts o;
    base_opts(&o, g.plain);
    o.tls = SND_SMTP_TLS_REQUIRED;
    expect_open_fail(&o, XD_UNAVAILABLE, SND_SMTP_TEMPFAIL, SND_SMTP_PHASE_STARTTLS, 0,
                     "does not offer STARTTLS");

    o.tls = SND_SMTP_TLS_OPPORTUNISTIC;
    snd_smtp_session *s = NULL;
    snd_smtp_status st;
    xd_err err;
    assert_int_equal(snd_smtp_open(&o, &s, &st, &err), XD_OK);
    assert_false(snd_smtp_tls_active(s));
    send_one(s, "opportunistic-clear", "second@example.test");
    char *cap = find_capture("opportunistic-clear");
    assert_non_null(cap);
    assert_non_null(strstr(cap, "X-TLS: no"));
    free(cap);
    /* no SMTPUTF8 here: a non-ASCII recipient fails locally, the other goes through */
    const char *rcpts[] = {"ascii@example.test", "j\xc3\xbcrgen@example.test"};
    snd_smtp_status res[2];
    const char msg[] = "Subject: utf8-refused\r\n\r\nx\r\n";
    assert_int_equal(snd_smtp_send(s, "", rcpts, 2, msg, sizeof(msg) - 1, res, &st, &err), XD_OK);
    assert_int_equal(res[0].outcome, SND_SMTP_DELIVERED);
    assert_int_equal(res[1].outcome, SND_SMTP_PERMFAIL);
    assert_int_equal(res[1].phase, SND_SMTP_PHASE_RCPT);
    assert_non_null(strstr(res[1].reply.text, "SMTPUTF8"));
    snd_smtp_close(s);

    /* opportunistic with credentials but no STARTTLS: the password is not sent */
    o.username = USER;
    o.password = PASSWORD;
    expect_open_fail(&o, XD_UNAVAILABLE, SND_SMTP_TEMPFAIL, SND_SMTP_PHASE_AUTH, 0, "without TLS");
}

static void test_tls_off_against_required_starttls(void **state)
{
    (void)state;
    snd_smtp_opts o;
    base_opts(&o, g.starttls);
    o.tls = SND_SMTP_TLS_OFF;
    snd_smtp_session *s = NULL;
    snd_smtp_status st, res[1];
    xd_err err;
    assert_int_equal(snd_smtp_open(&o, &s, &st, &err), XD_OK);
    const char *rcpts[] = {"a@example.test"};
    assert_int_equal(snd_smtp_send(s, "b@example.test", rcpts, 1, "x", 1, res, &st, &err), XD_OK);
    /* aiosmtpd: 530 Must issue a STARTTLS command first */
    assert_int_equal(st.outcome, SND_SMTP_PERMFAIL);
    assert_int_equal(st.phase, SND_SMTP_PHASE_MAIL);
    assert_int_equal(st.reply.code, 530);
    assert_int_equal(res[0].reply.code, 530);
    snd_smtp_close(s);
}

static void test_implicit_tls_and_smtputf8(void **state)
{
    (void)state;
    snd_smtp_opts o;
    base_opts(&o, g.implicit);
    o.tls = SND_SMTP_TLS_IMPLICIT;
    o.username = USER;
    o.password = PASSWORD;
    snd_smtp_session *s = NULL;
    snd_smtp_status st;
    xd_err err;
    assert_int_equal(snd_smtp_open(&o, &s, &st, &err), XD_OK);
    assert_true(snd_smtp_tls_active(s));
    assert_true(snd_smtp_authenticated(s));
    send_one(s, "implicit-tls", "second@example.test");
    char *cap = find_capture("implicit-tls");
    assert_non_null(cap);
    assert_non_null(strstr(cap, "X-TLS: yes"));
    assert_non_null(strstr(cap, "X-Auth-Mech: PLAIN")); /* AUTO prefers PLAIN */
    assert_non_null(strstr(cap, "X-SNI: localhost"));
    free(cap);
    snd_smtp_close(s);

    /* SMTPUTF8 offered on the STARTTLS port: the UTF-8 recipient goes through */
    base_opts(&o, g.starttls);
    assert_int_equal(snd_smtp_open(&o, &s, &st, &err), XD_OK);
    assert_true(snd_smtp_extensions(s)->flags & SND_SMTP_EXT_SMTPUTF8);
    send_one(s, "utf8-accepted", "j\xc3\xbcrgen@example.test");
    cap = find_capture("utf8-accepted");
    assert_non_null(cap);
    assert_non_null(strstr(cap, "SMTPUTF8"));
    assert_non_null(strstr(cap, "X-Rcpt-To: j\xc3\xbcrgen@example.test"));
    free(cap);
    snd_smtp_close(s);
}

static int contains(const char *hay, const char *needle)
{
    return hay && strstr(hay, needle) != NULL;
}

/* With debug logging on, AUTH runs and the log shows no credential in any
 * form (clear, base64 of the PLAIN blob, base64 of LOGIN's parts). */
static void test_credentials_never_logged(void **state)
{
    (void)state;
    char logpath[700];
    snprintf(logpath, sizeof(logpath), "%s/client.log", g.dir);
    int saved = dup(2);
    int fd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0 && saved >= 0);
    dup2(fd, 2);
    close(fd);
    xd_log_init("sender-test", XD_LOG_DEBUG);
    int ok = 1;
    for (int m = SND_SMTP_AUTH_USE_PLAIN; m <= SND_SMTP_AUTH_USE_LOGIN; m++) {
        snd_smtp_opts o;
        base_opts(&o, g.starttls);
        o.username = USER;
        o.password = PASSWORD;
        o.auth_mech = (snd_smtp_auth_mech)m;
        snd_smtp_session *s = NULL;
        snd_smtp_status st;
        xd_err err;
        ok &= snd_smtp_open(&o, &s, &st, &err) == XD_OK;
        snd_smtp_close(s);
        o.password = "wrong-" PASSWORD;
        ok &= snd_smtp_open(&o, &s, &st, &err) == XD_UNAUTHENTICATED;
    }
    xd_log_init("sender-test", XD_LOG_WARN);
    dup2(saved, 2);
    close(saved);
    assert_true(ok);

    char *log = tu_read_file(logpath, NULL);
    assert_non_null(log);
    unsigned char plain_blob[128], b64[256];
    size_t ul = strlen(USER), pl = strlen(PASSWORD);
    plain_blob[0] = 0;
    memcpy(plain_blob + 1, USER, ul);
    plain_blob[1 + ul] = 0;
    memcpy(plain_blob + 2 + ul, PASSWORD, pl);
    assert_true(contains(log, "AUTH PLAIN <credentials hidden>")); /* logging did run */
    assert_true(contains(log, "<password hidden>"));
    assert_false(contains(log, PASSWORD));
    EVP_EncodeBlock(b64, plain_blob, (int)(2 + ul + pl));
    assert_false(contains(log, (char *)b64));
    EVP_EncodeBlock(b64, (const unsigned char *)PASSWORD, (int)pl);
    assert_false(contains(log, (char *)b64));
    EVP_EncodeBlock(b64, (const unsigned char *)USER, (int)ul);
    assert_false(contains(log, (char *)b64));
    free(log);
}

int main(void)
{
    if (access("/usr/bin/python3", X_OK) != 0 ||
        tu_sh("/usr/bin/python3 -c 'import aiosmtpd' 2>/dev/null") != 0) {
        fprintf(stderr, "needs Debian's /usr/bin/python3 with python3-aiosmtpd\n");
        return 1;
    }
    xd_log_init("sender-test", XD_LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_starttls_auth_plain),
        cmocka_unit_test(test_starttls_auth_login),
        cmocka_unit_test(test_wrong_password),
        cmocka_unit_test(test_certificate_checks),
        cmocka_unit_test(test_policies_without_starttls),
        cmocka_unit_test(test_tls_off_against_required_starttls),
        cmocka_unit_test(test_implicit_tls_and_smtputf8),
        cmocka_unit_test(test_credentials_never_logged),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
