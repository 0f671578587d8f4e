/*
 * test_smtp_faults.c: the SMTP client against a scripted fault server
 * (fault_server.py): 421/554 greetings, 450/451/452/550/552/554 at MAIL,
 * RCPT, DATA and the final dot, a connection reset mid-DATA, TLS handshake
 * failures (garbage, a stall, and a real handshake with an untrusted
 * certificate), a stall past every timeout (timeouts set to 400 ms here), and
 * malformed, over-long and endless replies. Each fault must end in the right
 * outcome (temporary / permanent), phase and per-recipient result, without a
 * hang or a crash. Prints the fault matrix ("FAULT ...") for the report.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "smtp_client.h"
#include "smtp_test_util.h"
#include "xd/log.h"

#define SHORT_MS 400
#define BIG_MSG  (8u * 1024 * 1024) /* larger than loopback socket buffers */

enum { D = SND_SMTP_DELIVERED, T = SND_SMTP_TEMPFAIL, P = SND_SMTP_PERMFAIL, X = -1 };

typedef struct fault_case {
    const char *scenario;
    snd_smtp_tls_policy tls;
    int at_open; /* 1: the failure is reported by snd_smtp_open */
    int outcome; /* overall */
    snd_smtp_phase phase;
    int code;        /* 0: no reply (network, timeout, protocol) */
    int r_ok, r_bad; /* per recipient "ok@" and "bad@"; X when at_open */
    snd_smtp_phase bad_phase;
    const char *text; /* expected in the status text, or NULL */
    int big;          /* 1: send an 8 MiB message, 2: a 4 KiB one */
} fault_case;

#define OPP   SND_SMTP_TLS_OPPORTUNISTIC
#define REQ   SND_SMTP_TLS_REQUIRED
#define PH(x) SND_SMTP_PHASE_##x

static const fault_case cases[] = {
    {"normal", OPP, 0, D, PH(DATA_END), 250, D, D, PH(DATA_END), NULL, 0},
    {"helo_fallback", OPP, 0, D, PH(DATA_END), 250, D, D, PH(DATA_END), NULL, 0},
    {"greeting_421", OPP, 1, T, PH(GREETING), 421, X, X, 0, "not available", 0},
    {"greeting_554", OPP, 1, P, PH(GREETING), 554, X, X, 0, NULL, 0},
    {"ehlo_421", OPP, 1, T, PH(EHLO), 421, X, X, 0, NULL, 0},
#define CODES(c, cls)                                                                              \
    {"mail_" #c, OPP, 0, cls, PH(MAIL), c, cls, cls, PH(MAIL), NULL, 0},                           \
        {"rcpt_" #c, OPP, 0, D, PH(DATA_END), 250, D, cls, PH(RCPT), "see policy", 0},             \
        {"data_" #c, OPP, 0, cls, PH(DATA), c, cls, cls, PH(DATA), NULL, 0},                       \
    {                                                                                              \
        "dot_" #c, OPP, 0, cls, PH(DATA_END), c, cls, cls, PH(DATA_END), NULL, 0                   \
    }
    CODES(450, T),
    CODES(451, T),
    CODES(452, T),
    CODES(550, P),
    CODES(552, P),
    CODES(554, P),
    {"drop_mid_data", OPP, 0, T, PH(BODY), 0, T, T, PH(BODY), NULL, 1},
    {"close_at_rcpt", OPP, 0, T, PH(RCPT), 0, T, T, PH(RCPT), "closed", 0},
    {"starttls_garbage", REQ, 1, T, PH(TLS), 0, X, X, 0, "TLS handshake", 0},
    {"starttls_inject", REQ, 1, T, PH(STARTTLS), 0, X, X, 0, "after its STARTTLS reply", 0},
    {"starttls_untrusted", REQ, 1, T, PH(TLS), 0, X, X, 0, "certificate verification failed", 0},
    {"starttls_454", REQ, 1, T, PH(STARTTLS), 454, X, X, 0, NULL, 0},
    {"starttls_454", OPP, 0, D, PH(DATA_END), 250, D, D, PH(DATA_END), NULL, 0},
    {"implicit_to_plain", SND_SMTP_TLS_IMPLICIT, 1, T, PH(TLS), 0, X, X, 0, "TLS handshake", 0},
    {"stall_greeting", OPP, 1, T, PH(GREETING), 0, X, X, 0, "timeout", 0},
    {"stall_ehlo", OPP, 1, T, PH(EHLO), 0, X, X, 0, "timeout", 0},
    {"stall_starttls", REQ, 1, T, PH(STARTTLS), 0, X, X, 0, "timeout", 0},
    {"stall_tls_handshake", REQ, 1, T, PH(TLS), 0, X, X, 0, "timeout", 0},
    {"stall_mail", OPP, 0, T, PH(MAIL), 0, T, T, PH(MAIL), "timeout", 0},
    {"stall_rcpt", OPP, 0, T, PH(RCPT), 0, T, T, PH(RCPT), "timeout", 0},
    {"stall_data", OPP, 0, T, PH(DATA), 0, T, T, PH(DATA), "timeout", 0},
    {"stall_body", OPP, 0, T, PH(BODY), 0, T, T, PH(BODY), "timeout", 1},
    {"stall_dot", OPP, 0, T, PH(DATA_END), 0, T, T, PH(DATA_END), "timeout", 0},
    {"malformed_greeting", OPP, 1, T, PH(GREETING), 0, X, X, 0, "protocol error", 0},
    {"malformed_mail", OPP, 0, T, PH(MAIL), 0, T, T, PH(MAIL), "protocol error", 0},
    {"malformed_multiline", OPP, 0, T, PH(RCPT), 0, T, T, PH(RCPT), "protocol error", 0},
    {"long_line_rcpt", OPP, 0, T, PH(RCPT), 0, T, T, PH(RCPT), "protocol error", 0},
    {"many_lines_rcpt", OPP, 0, T, PH(RCPT), 0, T, T, PH(RCPT), "protocol error", 0},
    {"garbage_bytes_mail", OPP, 0, T, PH(MAIL), 0, T, T, PH(MAIL), "protocol error", 0},
    {"size_limit", OPP, 0, P, PH(MAIL), 0, P, P, PH(MAIL), "SIZE limit", 2},
};

static struct {
    tu_child server;
    char dir[512];
    char names[80][32];
    uint16_t ports[80];
    int n;
    char *big;
} g;

static int setup(void **state)
{
    (void)state;
    char script[1024], errlog[700], line[256];
    tu_tmpdir(g.dir, sizeof(g.dir), "xd-smtp-faults");
    snprintf(script, sizeof(script), "%s/tests/integration/sender_smtp/fault_server.py",
             getenv("XD_SOURCE_DIR") ? getenv("XD_SOURCE_DIR") : ".");
    snprintf(errlog, sizeof(errlog), "%s/server.log", g.dir);
    char *argv[] = {"/usr/bin/python3", script, NULL};
    if (tu_spawn(&g.server, argv, errlog) != 0)
        return -1;
    while (tu_read_line(&g.server, line, sizeof(line), 15000) == 0) {
        unsigned port;
        if (strcmp(line, "READY") == 0)
            break;
        if (g.n < 80 && sscanf(line, "PORT %31s %u", g.names[g.n], &port) == 2)
            g.ports[g.n++] = (uint16_t)port;
    }
    if (g.n == 0) {
        tu_sh("cat '%s' >&2", errlog);
        return -1;
    }
    g.big = malloc(BIG_MSG);
    for (size_t i = 0; i < BIG_MSG; i++)
        g.big[i] = (i % 78 == 77) ? '\n' : (char)('a' + i % 26);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tu_stop(&g.server);
    tu_rmrf(g.dir);
    free(g.big);
    return 0;
}

static uint16_t port_of(const char *scenario)
{
    for (int i = 0; i < g.n; i++)
        if (strcmp(g.names[i], scenario) == 0)
            return g.ports[i];
    return 0;
}

static const char *oname(int o)
{
    return o == X ? "-" : snd_smtp_outcome_name((snd_smtp_outcome)o);
}

/* Runs one case; prints its matrix line; returns 1 when it matched. */
static int run_case(const fault_case *c)
{
    snd_smtp_opts o;
    snd_smtp_opts_init(&o);
    o.host = "127.0.0.1";
    o.port = port_of(c->scenario);
    o.tls = c->tls;
    o.helo_name = "client.xdmail.test";
    snd_smtp_timeouts *t = &o.timeouts;
    t->connect_ms = 2000;
    t->greeting_ms = t->ehlo_ms = t->starttls_ms = t->auth_ms = t->mail_ms = t->rcpt_ms =
        t->data_init_ms = t->data_block_ms = t->data_end_ms = t->rset_ms = t->quit_ms = SHORT_MS;
    if (o.port == 0) {
        printf("FAULT %-20s missing from the server\n", c->scenario);
        return 0;
    }
    snd_smtp_session *s = NULL;
    snd_smtp_status st, res[2] = {{0}};
    xd_err err;
    const char *rcpts[] = {"ok@example.test", "bad@example.test"};
    int64_t t0 = tu_now_ms();
    xd_code rc = snd_smtp_open(&o, &s, &st, &err);
    int sent = 0, usable = 0, reused = 1;
    if (rc == XD_OK) {
        const char *msg = c->big ? g.big : "Subject: fault test\r\n\r\nhello\r\n";
        size_t len = c->big == 1 ? BIG_MSG : c->big == 2 ? 4096 : strlen(msg);
        rc = snd_smtp_send(s, "sender@example.test", rcpts, 2, msg, len, res, &st, &err);
        sent = 1;
        usable = snd_smtp_usable(s);
        unsigned tx1 = snd_smtp_transactions(s); /* 0 when refused before any command */
        if (rc == XD_OK && usable && c->big != 1) {
            /* the same session carries a second transaction (RSET first) */
            snd_smtp_status res2[2], st2;
            reused = snd_smtp_send(s, "sender@example.test", rcpts, 2, msg, len, res2, &st2,
                                   &err) == XD_OK &&
                     res2[0].outcome == res[0].outcome && res2[1].outcome == res[1].outcome &&
                     snd_smtp_transactions(s) == 2 * tx1;
        }
        snd_smtp_close(s);
    }
    int64_t ms = tu_now_ms() - t0;
    int match = (c->at_open ? (!sent && rc != XD_OK) : (sent && rc == XD_OK)) &&
                (int)st.outcome == c->outcome && st.phase == c->phase && st.reply.code == c->code &&
                reused &&
                (!c->text || strstr(st.reply.text, c->text) || strstr(res[1].reply.text, c->text));
    if (!c->at_open)
        match = match && (int)res[0].outcome == c->r_ok && (int)res[1].outcome == c->r_bad &&
                res[1].phase == c->bad_phase;
    char rcpt_col[96] = "-";
    if (sent)
        snprintf(rcpt_col, sizeof(rcpt_col), "ok:%s bad:%s/%s/%d", oname(res[0].outcome),
                 oname(res[1].outcome), snd_smtp_phase_name(res[1].phase), res[1].reply.code);
    printf(
        "FAULT %-20s %-14s %-5s -> %-9s %-9s %3d %-6s rcpt=[%-36s] reuse=%s %5lldms %s | %.70s\n",
        c->scenario,
        c->tls == REQ   ? "tls=required"
        : c->tls == OPP ? "tls=opportun."
                        : "tls=implicit",
        c->at_open ? "open" : "send", snd_smtp_outcome_name(st.outcome),
        snd_smtp_phase_name(st.phase), st.reply.code,
        st.reply.enhanced[0] ? st.reply.enhanced : "-", rcpt_col,
        sent ? (usable ? (reused ? "yes" : "NO") : "closed") : "-", (long long)ms,
        match ? "ok" : "MISMATCH", st.reply.text);
    if (!match)
        printf("      expected %s at %s code %d, rcpt ok:%s bad:%s at %s, text \"%s\"\n",
               oname(c->outcome), snd_smtp_phase_name(c->phase), c->code, oname(c->r_ok),
               oname(c->r_bad), snd_smtp_phase_name(c->bad_phase), c->text ? c->text : "");
    fflush(stdout);
    return match;
}

static void test_fault_matrix(void **state)
{
    (void)state;
    int failed = 0;
    printf("FAULT %-20s %-14s %-5s -> %-9s %-9s %3s %-6s %-43s %-12s %7s\n", "scenario", "policy",
           "step", "outcome", "phase", "code", "enh", "per-recipient", "reuse", "time");
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        failed += !run_case(&cases[i]);
    printf("FAULT matrix: %zu cases, %d mismatches\n", sizeof(cases) / sizeof(cases[0]), failed);
    assert_int_equal(failed, 0);
}

/* A listener that never accepts and whose backlog is full: SYNs are dropped,
 * so the connect must give up at connect_ms (and try no other address). */
static void test_connect_timeout(void **state)
{
    (void)state;
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    socklen_t al = sizeof(a);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(lfd, 0), 0);
    assert_int_equal(getsockname(lfd, (struct sockaddr *)&a, &al), 0);
    int fillers[8], n_fill = 0;
    for (; n_fill < 8; n_fill++) { /* fill the accept queue */
        fillers[n_fill] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        (void)connect(fillers[n_fill], (struct sockaddr *)&a, sizeof(a));
    }
    usleep(100000);
    snd_smtp_opts o;
    snd_smtp_opts_init(&o);
    o.host = "127.0.0.1";
    o.port = ntohs(a.sin_port);
    o.tls = SND_SMTP_TLS_OFF;
    o.timeouts.connect_ms = SHORT_MS;
    snd_smtp_session *s = NULL;
    snd_smtp_status st;
    xd_err err;
    int64_t t0 = tu_now_ms();
    xd_code rc = snd_smtp_open(&o, &s, &st, &err);
    printf("FAULT %-20s %-14s %-5s -> %-9s %-9s %3d %-6s %5lldms | %s\n", "connect_timeout",
           "tls=off", "open", snd_smtp_outcome_name(st.outcome), snd_smtp_phase_name(st.phase),
           st.reply.code, "-", (long long)(tu_now_ms() - t0), st.reply.text);
    for (int i = 0; i < n_fill; i++)
        close(fillers[i]);
    close(lfd);
    assert_int_equal(rc, XD_UNAVAILABLE);
    assert_int_equal(st.outcome, SND_SMTP_TEMPFAIL);
    assert_int_equal(st.phase, SND_SMTP_PHASE_CONNECT);
    assert_non_null(strstr(st.reply.text, "timed out"));
}

int main(void)
{
    if (tu_sh("/usr/bin/python3 -c 'import asyncio' 2>/dev/null") != 0) {
        fprintf(stderr, "needs /usr/bin/python3\n");
        return 1;
    }
    xd_log_init("sender-test", XD_LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fault_matrix),
        cmocka_unit_test(test_connect_timeout),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
