/*
 * smtp_throughput.c: measures messages/s of one SMTP client session (not a
 * test; run by throughput.sh against smtp-sink, next to Postfix's
 * smtp-source on the same sink).
 * Usage: smtp_throughput HOST PORT MESSAGES RCPTS BODY_BYTES
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "smtp_client.h"
#include "xd/log.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: %s HOST PORT MESSAGES RCPTS BODY_BYTES\n", argv[0]);
        return 2;
    }
    int n_msgs = atoi(argv[3]), n_rcpt = atoi(argv[4]);
    size_t body = (size_t)atol(argv[5]);
    if (n_msgs <= 0 || n_rcpt <= 0 || n_rcpt > 100 || body > (1u << 24))
        return 2;
    xd_log_init("smtp-throughput", XD_LOG_WARN);
    snd_smtp_opts o;
    snd_smtp_opts_init(&o);
    o.host = argv[1];
    o.port = (uint16_t)atoi(argv[2]);
    o.tls = SND_SMTP_TLS_OPPORTUNISTIC;
    snd_smtp_session *s = NULL;
    snd_smtp_status st, *res = calloc((size_t)n_rcpt, sizeof(*res));
    xd_err err;
    if (snd_smtp_open(&o, &s, &st, &err) != XD_OK) {
        fprintf(stderr, "open: %s\n", err.message);
        return 1;
    }
    char **rcpts = calloc((size_t)n_rcpt, sizeof(char *));
    for (int r = 0; r < n_rcpt; r++) {
        rcpts[r] = malloc(64);
        snprintf(rcpts[r], 64, "rcpt%d@example.test", r);
    }
    char *msg = malloc(body + 128);
    int h = snprintf(msg, 128, "From: a@example.test\r\nSubject: throughput\r\n\r\n");
    for (size_t i = 0; i < body; i++)
        msg[h + (int)i] = (i % 72 == 71) ? '\n' : 'x';
    size_t len = (size_t)h + body;
    double t0 = now_s();
    int delivered = 0;
    for (int m = 0; m < n_msgs; m++) {
        if (snd_smtp_send(s, "bounce@example.test", (const char *const *)rcpts, (size_t)n_rcpt, msg,
                          len, res, &st, &err) != XD_OK ||
            st.outcome != SND_SMTP_DELIVERED) {
            fprintf(stderr, "message %d: %s %s\n", m, snd_smtp_outcome_name(st.outcome),
                    st.reply.text);
            break;
        }
        delivered++;
    }
    double dt = now_s() - t0;
    snd_smtp_close(s);
    printf("%d %.3f %.1f\n", delivered, dt, delivered / dt);
    for (int r = 0; r < n_rcpt; r++)
        free(rcpts[r]);
    free(rcpts);
    free(msg);
    free(res);
    return delivered == n_msgs ? 0 : 1;
}
