/*
 * bench_submit.c: the delivery benchmark's client: submits n messages of
 * r recipients each to xd-sender over RPC from t threads (as the gateway
 * would), optionally after creating an RSA-2048 DKIM key for the From
 * domain. Prints the seconds the submissions took. Not a test.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sender.pb-c.h"
#include "xd/arena.h"
#include "xd/clock.h"
#include "xd/rpc_client.h"

static const char *url;
static int n_msgs, n_rcpt, n_threads;
static xd_client *client; /* one client for every thread (thread-safe) */

static void *submitter(void *arg)
{
    int id = (int)(long)arg;
    xd_client *c = client;
    xd_err err;
    xd_arena *a = xd_arena_new();
    Xd__Caller caller = XD__CALLER__INIT;
    caller.org_id = "org-bench";
    xd_call_options o = {.caller = &caller, .timeout_ms = 30000};
    for (int i = id; i < n_msgs; i += n_threads) {
        xd_arena_reset(a);
        Xd__SubmitRequest *r = xd_arena_message(a, &xd__submit_request__descriptor);
        r->org_id = "org-bench";
        r->module = "bulk-email";
        Xd__MailAddress *from = xd_arena_message(a, &xd__mail_address__descriptor);
        from->address = "news@bench.xd.test";
        r->from = from;
        r->n_to = (size_t)n_rcpt;
        r->to = (Xd__MailAddress **)xd_arena_ptrs(a, r->n_to);
        for (int k = 0; k < n_rcpt; k++) {
            Xd__MailAddress *t = xd_arena_message(a, &xd__mail_address__descriptor);
            t->address = xd_arena_printf(a, "user%d.%d@dest.test", i, k);
            r->to[k] = t;
        }
        r->subject = "Benchmark message";
        r->text_body = "A short benchmark body, about the size of a notice.\n"
                       "Second line of the message with some more words in it.\n";
        r->category = XD__MAIL_CATEGORY__MAIL_CATEGORY_TRANSACTIONAL;
        ProtobufCMessage *rep = NULL;
        if (xd_client_call(c, &o, "Submit", &r->base, &xd__submit_reply__descriptor, a, &rep,
                           &err) != XD_OK) {
            fprintf(stderr, "submit: %s\n", err.message);
            return (void *)1;
        }
    }
    xd_arena_free(a);
    return NULL;
}

static int create_key(void)
{
    xd_client *c = client;
    xd_err err;
    xd_arena *a = xd_arena_new();
    Xd__CreateDkimKeyRequest r = XD__CREATE_DKIM_KEY_REQUEST__INIT;
    r.org_id = "org-bench";
    r.domain = "bench.xd.test";
    r.selector = "bench";
    r.bits = 2048;
    Xd__Caller caller = XD__CALLER__INIT;
    caller.org_id = "org-bench";
    xd_call_options o = {.caller = &caller, .timeout_ms = 30000};
    ProtobufCMessage *rep = NULL;
    int rc = xd_client_call(c, &o, "CreateDkimKey", &r.base, &xd__create_dkim_key_reply__descriptor,
                            a, &rep, &err) == XD_OK
                 ? 0
                 : -1;
    xd_arena_free(a);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr, "usage: bench_submit URL MSGS RCPTS THREADS DKIM(0|1)\n");
        return 2;
    }
    url = argv[1];
    n_msgs = atoi(argv[2]);
    n_rcpt = atoi(argv[3]);
    n_threads = atoi(argv[4]);
    xd_err err;
    if (xd_client_open(url, "sender", NULL, &client, &err) != XD_OK)
        return 1;
    if (atoi(argv[5]) && create_key() != 0) {
        fprintf(stderr, "cannot create the DKIM key\n");
        return 1;
    }
    int64_t t0 = xd_monotonic_ns();
    pthread_t th[64];
    if (n_threads > 64)
        n_threads = 64;
    for (long i = 0; i < n_threads; i++)
        pthread_create(&th[i], NULL, submitter, (void *)i);
    int bad = 0;
    for (int i = 0; i < n_threads; i++) {
        void *r;
        pthread_join(th[i], &r);
        bad |= r != NULL;
    }
    printf("%.3f\n", (double)(xd_monotonic_ns() - t0) / 1e9);
    xd_client_close(client);
    return bad;
}
