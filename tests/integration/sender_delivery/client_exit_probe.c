/*
 * client_exit_probe.c: a separate client process for test_client_exit.c
 * (exec'd, never forked after nng): opens clients to xd-sender, submits,
 * and exits in one of several ways; or measures how long Submits take.
 *   client_exit_probe URL two-exit N      two xd_clients, N Submits each, exit
 *                                          without closing them
 *   client_exit_probe URL inflight-exit MS two xd_clients submitting from
 *                                          threads, _exit() after MS ms
 *   client_exit_probe URL spawn-exit S     two xd_clients, one Submit each,
 *                                          posix_spawn "sleep S" (inherits
 *                                          the fds), exit
 *   client_exit_probe URL submit N         N Submits on one client; prints
 *                                          "MAXMS <ms> FAILED <n>"
 * Not a test by itself.
 */
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sender.pb-c.h"
#include "xd/arena.h"
#include "xd/clock.h"
#include "xd/rpc_client.h"

static const char *url;

static int submit_one(xd_client *c, xd_arena *a, int i, xd_err *err)
{
    xd_arena_reset(a);
    Xd__SubmitRequest *r = xd_arena_message(a, &xd__submit_request__descriptor);
    r->org_id = "org-probe";
    r->module = "probe";
    Xd__MailAddress *from = xd_arena_message(a, &xd__mail_address__descriptor);
    from->address = "news@probe.xd.test";
    r->from = from;
    r->n_to = 1;
    r->to = (Xd__MailAddress **)xd_arena_ptrs(a, 1);
    Xd__MailAddress *t = xd_arena_message(a, &xd__mail_address__descriptor);
    t->address = xd_arena_printf(a, "p%d.%d@probe.test", (int)getpid(), i);
    r->to[0] = t;
    r->subject = "probe";
    r->category = XD__MAIL_CATEGORY__MAIL_CATEGORY_TRANSACTIONAL;
    r->text_body = "probe\n";
    Xd__Caller caller = XD__CALLER__INIT;
    caller.org_id = "org-probe";
    xd_call_options o = {.caller = &caller, .timeout_ms = 60000};
    ProtobufCMessage *rep = NULL;
    return xd_client_call(c, &o, "Submit", &r->base, &xd__submit_reply__descriptor, a, &rep, err);
}

static void *spin(void *arg)
{
    xd_client *c = arg;
    xd_arena *a = xd_arena_new();
    xd_err err;
    for (int i = 0;; i++)
        submit_one(c, a, i, &err);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 4)
        return 2;
    url = argv[1];
    const char *mode = argv[2];
    int n = atoi(argv[3]);
    xd_err err;
    xd_client_options co = {.default_timeout_ms = 60000};
    if (strcmp(mode, "submit") == 0) {
        xd_client *c;
        if (xd_client_open(url, "sender", &co, &c, &err) != XD_OK)
            return 1;
        xd_arena *a = xd_arena_new();
        int64_t max = 0;
        int failed = 0;
        for (int i = 0; i < n; i++) {
            int64_t t0 = xd_monotonic_ms();
            if (submit_one(c, a, i, &err) != XD_OK) {
                failed++;
                fprintf(stderr, "submit %d: %s\n", i, err.message);
            }
            int64_t d = xd_monotonic_ms() - t0;
            max = d > max ? d : max;
        }
        printf("MAXMS %lld FAILED %d\n", (long long)max, failed);
        xd_arena_free(a);
        xd_client_close(c);
        return 0;
    }
    xd_client *c1, *c2;
    if (xd_client_open(url, "sender", &co, &c1, &err) != XD_OK ||
        xd_client_open(url, "sender", &co, &c2, &err) != XD_OK)
        return 1;
    if (strcmp(mode, "two-exit") == 0) {
        xd_arena *a = xd_arena_new();
        for (int i = 0; i < n; i++) {
            submit_one(c1, a, i, &err);
            submit_one(c2, a, i + n, &err);
        }
        printf("DONE\n");
        fflush(stdout);
        exit(0); /* the clients are not closed */
    }
    if (strcmp(mode, "spawn-exit") == 0) {
        xd_arena *a = xd_arena_new();
        submit_one(c1, a, 0, &err);
        submit_one(c2, a, 1, &err);
        extern char **environ;
        char *sargv[] = {"/bin/sleep", argv[3], NULL};
        pid_t pid;
        posix_spawn(&pid, "/bin/sleep", NULL, NULL, sargv, environ);
        printf("DONE %d\n", (int)pid);
        fflush(stdout);
        exit(0);
    }
    if (strcmp(mode, "inflight-exit") == 0) {
        pthread_t t[4];
        for (int i = 0; i < 4; i++)
            pthread_create(&t[i], NULL, spin, i % 2 ? c2 : c1);
        usleep((useconds_t)n * 1000);
        printf("DONE\n");
        fflush(stdout);
        _exit(0);
    }
    return 2;
}
