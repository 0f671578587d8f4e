/*
 * test_smtp_sink.c: the SMTP client against Postfix's smtp-sink on loopback:
 * many messages with several recipients over one session (RSET between
 * transactions), with and without PIPELINING, over IPv4 and IPv6. The sink's
 * own counters (-c) and its dump file (-D) must show every message, every
 * recipient and the body un-stuffed exactly as given.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "smtp_client.h"
#include "smtp_test_util.h"
#include "xd/log.h"

#define SINK "/usr/sbin/smtp-sink"

typedef struct sink sink;
static void stop_sink(sink *k);
static sink *running; /* stopped by the teardown when an assertion fails */

struct sink {
    tu_child child;
    char dir[512];
    char dump[600];
    uint16_t port;
    char out[65536]; /* everything the sink printed (counters) */
    size_t out_len;
};

static void stop_sink(sink *k)
{
    tu_stop(&k->child);
    tu_rmrf(k->dir);
    if (running == k)
        running = NULL;
}

static int teardown(void **state)
{
    (void)state;
    if (running)
        stop_sink(running);
    running = NULL;
    return 0;
}

static int start_sink(sink *k, const char *host, int ipv6, const char *extra_flag)
{
    char listen[128];
    memset(k, 0, sizeof(*k));
    tu_tmpdir(k->dir, sizeof(k->dir), "xd-smtp-sink");
    chmod(k->dir, 0777); /* smtp-sink drops to nobody before it writes the dump */
    snprintf(k->dump, sizeof(k->dump), "%s/dump", k->dir);
    k->port = tu_free_port(ipv6);
    snprintf(listen, sizeof(listen), ipv6 ? "[%s]:%u" : "%s:%u", host, (unsigned)k->port);
    char *argv[12];
    int a = 0;
    argv[a++] = SINK;
    argv[a++] = "-c";
    if (geteuid() == 0) { /* smtp-sink refuses to run as root without -u */
        argv[a++] = "-u";
        argv[a++] = "nobody";
    }
    argv[a++] = "-D";
    argv[a++] = k->dump;
    if (extra_flag)
        argv[a++] = (char *)extra_flag;
    argv[a++] = listen;
    argv[a++] = "64";
    argv[a] = NULL;
    if (tu_spawn(&k->child, argv, NULL) != 0)
        return -1;
    running = k;
    return tu_wait_port(host, k->port, 5000);
}

/* Reads the sink's output until needle shows up or the timeout passes. */
static int sink_wait_output(sink *k, const char *needle, int64_t timeout_ms)
{
    int64_t deadline = tu_now_ms() + timeout_ms;
    for (;;) {
        k->out[k->out_len] = '\0';
        if (strstr(k->out, needle))
            return 0;
        int64_t left = deadline - tu_now_ms();
        if (left <= 0 || k->out_len + 1 >= sizeof(k->out))
            return -1;
        struct pollfd pfd = {.fd = k->child.out_fd, .events = POLLIN};
        if (poll(&pfd, 1, (int)left) <= 0)
            continue;
        ssize_t r = read(k->child.out_fd, k->out + k->out_len, sizeof(k->out) - 1 - k->out_len);
        if (r <= 0)
            return -1;
        k->out_len += (size_t)r;
    }
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

/* Sends n_msgs messages of n_rcpt recipients over one session and checks
 * the sink saw them all. Returns messages/s for the report. */
static double run_session(const char *host, int ipv6, const char *flag, int n_msgs, int n_rcpt,
                          int expect_pipelining)
{
    sink k;
    assert_int_equal(start_sink(&k, host, ipv6, flag), 0);
    snd_smtp_opts o;
    snd_smtp_opts_init(&o);
    o.host = host;
    o.port = k.port;
    o.tls = SND_SMTP_TLS_OPPORTUNISTIC; /* the sink offers no STARTTLS: clear text */
    o.helo_name = "client.xdmail.test";
    o.timeouts.connect_ms = 5000;
    o.timeouts.greeting_ms = o.timeouts.mail_ms = o.timeouts.rcpt_ms = 10000;
    snd_smtp_session *s = NULL;
    snd_smtp_status st;
    xd_err err;
    assert_int_equal(snd_smtp_open(&o, &s, &st, &err), XD_OK);
    const snd_smtp_ext *ext = snd_smtp_extensions(s);
    assert_int_equal(!!(ext->flags & SND_SMTP_EXT_PIPELINING), expect_pipelining);
    assert_true(ext->flags & SND_SMTP_EXT_8BITMIME);
    assert_true(ext->flags & SND_SMTP_EXT_ENHANCEDSTATUSCODES);
    assert_false(snd_smtp_tls_active(s));

    char rcpt_buf[16][64];
    const char *rcpts[16];
    snd_smtp_status res[16];
    for (int r = 0; r < n_rcpt; r++) {
        snprintf(rcpt_buf[r], sizeof(rcpt_buf[r]), "rcpt%d@example.test", r);
        rcpts[r] = rcpt_buf[r];
    }
    int64_t t0 = tu_now_ms();
    for (int m = 0; m < n_msgs; m++) {
        char msg[512];
        /* bare LF, a line that starts with a dot, no final newline */
        snprintf(msg, sizeof(msg),
                 "From: a@example.test\nSubject: message %d\n\n.dot line %d\r\nlast line", m, m);
        assert_int_equal(snd_smtp_send(s, "bounce@example.test", rcpts, (size_t)n_rcpt, msg,
                                       strlen(msg), res, &st, &err),
                         XD_OK);
        assert_int_equal(st.outcome, SND_SMTP_DELIVERED);
        assert_int_equal(st.phase, SND_SMTP_PHASE_DATA_END);
        for (int r = 0; r < n_rcpt; r++) {
            assert_int_equal(res[r].outcome, SND_SMTP_DELIVERED);
            assert_int_equal(res[r].reply.code, 250);
            assert_string_equal(res[r].reply.enhanced, "2.0.0");
        }
    }
    int64_t elapsed = tu_now_ms() - t0;
    assert_int_equal(snd_smtp_transactions(s), (unsigned)n_msgs);
    assert_true(snd_smtp_usable(s));
    snd_smtp_close(s); /* QUIT: the sink prints its counters */

    char want[64];
    /* "sess" also counts the readiness probe; one QUIT means one session carried all */
    snprintf(want, sizeof(want), "quit=1 mesg=%d", n_msgs);
    if (sink_wait_output(&k, want, 5000) != 0) {
        size_t tail = k.out_len > 200 ? k.out_len - 200 : 0;
        print_message("sink output ends: %s\n", k.out + tail);
        fail_msg("smtp-sink did not count %d messages in one session", n_msgs);
    }
    size_t dlen = 0;
    char *dump = tu_read_file(k.dump, &dlen);
    assert_non_null(dump);
    assert_int_equal(count(dump, "X-Mail-Args: <bounce@example.test>"), (size_t)n_msgs);
    assert_int_equal(count(dump, "X-Rcpt-Args: <rcpt"), (size_t)(n_msgs * n_rcpt));
    assert_int_equal(count(dump, "\n.dot line "), (size_t)n_msgs); /* un-stuffed by the sink */
    assert_int_equal(count(dump, "\n..dot line "), 0);
    assert_int_equal(count(dump, "\nlast line\n"), (size_t)n_msgs);
    char probe[64];
    snprintf(probe, sizeof(probe), "Subject: message %d\n", n_msgs - 1);
    assert_non_null(strstr(dump, probe));
    free(dump);
    stop_sink(&k);
    return elapsed > 0 ? n_msgs * 1000.0 / (double)elapsed : 0;
}

static void test_pipelined_many_messages(void **state)
{
    (void)state;
    double rate = run_session("127.0.0.1", 0, NULL, 300, 3, 1);
    printf("INFO smtp-sink ipv4 pipelining: 300 messages x 3 recipients, one session, %.0f "
           "messages/s\n",
           rate);
}

static void test_without_pipelining(void **state)
{
    (void)state;
    double rate = run_session("127.0.0.1", 0, "-p", 100, 5, 0);
    printf("INFO smtp-sink ipv4 no pipelining: 100 messages x 5 recipients, %.0f messages/s\n",
           rate);
}

static void test_ipv6(void **state)
{
    (void)state;
    if (tu_sh("grep -q '^00000000000000000000000000000001' /proc/net/if_inet6") != 0)
        skip(); /* no ::1 on this host */
    run_session("::1", 1, NULL, 20, 2, 1);
}

/* The largest transaction allowed: 1000 recipients go out in pipelined
 * groups and each one gets its own result; 1001 is refused up front. */
static void test_max_recipients(void **state)
{
    (void)state;
    sink k;
    assert_int_equal(start_sink(&k, "127.0.0.1", 0, NULL), 0);
    snd_smtp_opts o;
    snd_smtp_opts_init(&o);
    o.host = "127.0.0.1";
    o.port = k.port;
    o.tls = SND_SMTP_TLS_OPPORTUNISTIC;
    snd_smtp_session *s = NULL;
    snd_smtp_status st;
    xd_err err;
    assert_int_equal(snd_smtp_open(&o, &s, &st, &err), XD_OK);
    size_t n = SND_SMTP_MAX_RCPTS + 1;
    char(*names)[48] = calloc(n, sizeof(*names));
    const char **rcpts = calloc(n, sizeof(*rcpts));
    snd_smtp_status *res = calloc(n, sizeof(*res));
    for (size_t i = 0; i < n; i++) {
        snprintf(names[i], sizeof(names[i]), "many%zu@example.test", i);
        rcpts[i] = names[i];
    }
    assert_int_equal(snd_smtp_send(s, "b@example.test", rcpts, n, "x", 1, res, &st, &err),
                     XD_INVALID_ARGUMENT);
    assert_string_equal(err.field, "rcpts");
    assert_int_equal(snd_smtp_send(s, "b@example.test", rcpts, n - 1, "x", 1, res, &st, &err),
                     XD_OK);
    assert_int_equal(st.outcome, SND_SMTP_DELIVERED);
    for (size_t i = 0; i < n - 1; i++)
        assert_int_equal(res[i].outcome, SND_SMTP_DELIVERED);
    snd_smtp_close(s);
    assert_int_equal(sink_wait_output(&k, "quit=1 mesg=1", 5000), 0);
    char *dump = tu_read_file(k.dump, NULL);
    assert_non_null(dump);
    assert_int_equal(count(dump, "X-Rcpt-Args: <many"), n - 1);
    assert_non_null(strstr(dump, "X-Rcpt-Args: <many999@example.test>"));
    free(dump);
    free(names);
    free(rcpts);
    free(res);
    stop_sink(&k);
}

/* 8-bit bodies: BODY=8BITMIME when offered; refused locally (permanent, no
 * command sent, session still usable) when the server lacks 8BITMIME. */
static void test_8bitmime(void **state)
{
    (void)state;
    const char *flags[] = {NULL, "-8"};
    for (int i = 0; i < 2; i++) {
        sink k;
        assert_int_equal(start_sink(&k, "127.0.0.1", 0, flags[i]), 0);
        snd_smtp_opts o;
        snd_smtp_opts_init(&o);
        o.host = "127.0.0.1";
        o.port = k.port;
        o.tls = SND_SMTP_TLS_OPPORTUNISTIC;
        snd_smtp_session *s = NULL;
        snd_smtp_status st, res[1];
        xd_err err;
        assert_int_equal(snd_smtp_open(&o, &s, &st, &err), XD_OK);
        const char *rcpts[] = {"r@example.test"};
        const char body8[] = "Subject: caf\xc3\xa9\r\n\r\nna\xc3\xafve\r\n";
        assert_int_equal(
            snd_smtp_send(s, "b@example.test", rcpts, 1, body8, sizeof(body8) - 1, res, &st, &err),
            XD_OK);
        if (i == 0) {
            assert_int_equal(st.outcome, SND_SMTP_DELIVERED);
        } else {
            assert_int_equal(st.outcome, SND_SMTP_PERMFAIL);
            assert_int_equal(st.phase, SND_SMTP_PHASE_MAIL);
            assert_non_null(strstr(st.reply.text, "8BITMIME"));
            assert_true(snd_smtp_usable(s));
            assert_int_equal(
                snd_smtp_send(s, "b@example.test", rcpts, 1, "seven bit", 9, res, &st, &err),
                XD_OK);
            assert_int_equal(st.outcome, SND_SMTP_DELIVERED);
        }
        snd_smtp_close(s);
        assert_int_equal(sink_wait_output(&k, "quit=1 mesg=1", 5000), 0);
        char *dump = tu_read_file(k.dump, NULL);
        assert_non_null(dump);
        if (i == 0)
            assert_non_null(strstr(dump, "X-Mail-Args: <b@example.test> BODY=8BITMIME"));
        else
            assert_null(strstr(dump, "BODY=8BITMIME"));
        free(dump);
        stop_sink(&k);
    }
}

static void test_connect_refused(void **state)
{
    (void)state;
    snd_smtp_opts o;
    snd_smtp_opts_init(&o);
    o.host = "127.0.0.1";
    o.port = tu_free_port(0); /* nobody listens */
    o.tls = SND_SMTP_TLS_OFF;
    snd_smtp_session *s = NULL;
    snd_smtp_status st;
    xd_err err;
    assert_int_equal(snd_smtp_open(&o, &s, &st, &err), XD_UNAVAILABLE);
    assert_null(s);
    assert_int_equal(st.outcome, SND_SMTP_TEMPFAIL);
    assert_int_equal(st.phase, SND_SMTP_PHASE_CONNECT);
    assert_int_equal(st.reply.code, 0);
    assert_non_null(strstr(st.reply.text, "refused"));
}

int main(void)
{
    if (access(SINK, X_OK) != 0) {
        fprintf(stderr, "%s missing: apt-get install postfix (see DESIGN.md section 8)\n", SINK);
        return 1;
    }
    xd_log_init("sender-test", XD_LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_pipelined_many_messages, teardown),
        cmocka_unit_test_teardown(test_without_pipelining, teardown),
        cmocka_unit_test_teardown(test_ipv6, teardown),
        cmocka_unit_test_teardown(test_max_recipients, teardown),
        cmocka_unit_test_teardown(test_8bitmime, teardown),
        cmocka_unit_test_teardown(test_connect_refused, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
