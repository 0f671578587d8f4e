/*
 * gw_harness.h: what the gateway's integration tests share: running shell
 * commands, HTTP calls through curl with the JSON reply parsed, starting and
 * stopping real processes. Replies own their memory (gwh_free). cmocka
 * assertions abort the test on harness failures. Single-threaded.
 */
#ifndef GW_HARNESS_H
#define GW_HARNESS_H

#include <jansson.h>
#include <sys/types.h>

extern char gwh_dir[256];      /* the test's temp dir (gwh_make_dir) */
extern char gwh_http_base[64]; /* "http://127.0.0.1:<port>" */

void gwh_make_dir(const char *name);
void gwh_remove_dir(void);
int gwh_free_port(void);

/* Runs a shell command; returns its exit status, stdout in *out (malloc'd). */
int gwh_run(const char *cmd, char **out);

typedef struct gwh_reply {
    int status;
    char *body;
    json_t *json; /* NULL when the body is not JSON */
} gwh_reply;

/* POSTs body (NULL = GET) to gwh_http_base + path with the key (NULL = none);
 * extra = more curl arguments. status 0 = no connection. */
gwh_reply gwh_http(const char *path, const char *key, const char *body, const char *extra);
void gwh_free(gwh_reply *r);
const char *gwh_str(const json_t *j, const char *key);
/* Asserts an error reply (status, code, message containing substring), frees it. */
void gwh_expect_error(gwh_reply r, int status, const char *code, const char *substring);

/* Validates a Prometheus text exposition with prom_check.py (the reference
 * parser plus family rules; fails the test with its reason) and returns its
 * canonical sample lines, malloc'd: "name{k=\"v\"} value" per line. */
char *gwh_prom_check(const char *text);

/* Starts exe with extra environment entries ("K=V", NULL-terminated). */
pid_t gwh_spawn(const char *exe, const char *const *env);
/* SIGTERM and wait; returns the exit status (-1 when killed by a signal). */
int gwh_stop(pid_t pid);

#endif
