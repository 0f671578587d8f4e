/*
 * dtest.h: helpers for the delivery tests: an xd-sender process with a
 * given environment, RPC calls to it (Submit, GetMessage, Cancel,
 * SetRelay), waiting for recipients to reach a final state, and an
 * smtp-sink whose dump file is counted. Processes come from the SMTP
 * client tests' helpers (smtp_test_util.h).
 * Memory: replies live in the dt_sender's arena until dt_reset_arena.
 * Thread-safety: single-threaded test code.
 */
#ifndef DTEST_H
#define DTEST_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "sender.pb-c.h"
#include "smtp_test_util.h"
#include "xd/arena.h"
#include "xd/rpc_client.h"

typedef struct dt_sender {
    char dir[512];
    char url[600];
    char log[600];
    pid_t pid;
    xd_client *client;
    xd_arena *arena;
} dt_sender;

/* Starts xd-sender with data in dir and env ("KEY=VALUE", NULL-ended) on
 * top of a test base (short retries, ipc URL, opt-out secret). Waits until
 * it answers. Returns 0 or -1. */
int dt_sender_start(dt_sender *s, const char *dir, const char *const *env);
/* SIGTERM (clean) or SIGKILL; reaps. Returns the wait status. */
int dt_sender_stop(dt_sender *s, int sig);
/* The last lines of the sender's log, on stderr (for a failure report). */
void dt_show_log(const dt_sender *s);

typedef struct dt_msg {
    const char *org;
    const char *key;    /* idempotency key or NULL */
    int n_to;           /* recipients rcpt<i>@<domain> */
    const char *domain; /* recipients' domain */
    const char *prefix; /* local part prefix ("rcpt") */
    int shared;
    int64_t send_at_ms;
} dt_msg;

/* Submits; returns the code, *out the reply (in the arena). */
int dt_submit(dt_sender *s, const dt_msg *m, Xd__SubmitReply **out);
int dt_get(dt_sender *s, const char *org, const char *mid, Xd__GetMessageReply **out);
int dt_cancel(dt_sender *s, const char *org, const char *mid, const char *rid,
              Xd__CancelReply **out);
int dt_set_relay(dt_sender *s, const char *org, int route, const char *host, unsigned port, int tls,
                 const char *user, const char *password);

/* 1 when state is final (everything but QUEUED, DEFERRED, SENDING). */
int dt_final(int state);
/* Waits until every recipient of mid is final (or in state `until` when
 * until != 0 for all of them); returns the reply or NULL on timeout. */
Xd__GetMessageReply *dt_wait(dt_sender *s, const char *org, const char *mid, int until,
                             int64_t timeout_ms);

typedef struct dt_sink {
    tu_child child;
    char dir[512];
    char dump[600];
    uint16_t port;
} dt_sink;

/* smtp-sink on 127.0.0.1:<free port> (or the given address) dumping every
 * transaction to one file. */
int dt_sink_start(dt_sink *k, const char *addr, uint16_t port);
void dt_sink_stop(dt_sink *k);
/* Occurrences of needle in the dump. */
size_t dt_sink_count(dt_sink *k, const char *needle);

size_t dt_count(const char *hay, const char *needle);

#endif
