/* dtest.c: delivery test helpers (see dtest.h). */
#include "dtest.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *const BASE_ENV[] = {
    "XD_SENDER_LOG_LEVEL=info",
    "XD_SENDER_DELIVERY_ROUTE=test_capture",
    "XD_SENDER_DELIVERY_ALLOW_CAPTURE=true",
    "XD_SENDER_OPTOUT_SECRET=0123456789abcdef0123456789abcdef-test-secret",
    "XD_SENDER_OPTOUT_BASE_URL=https://xd.test/unsubscribe",
    "XD_SENDER_OPTOUT_MAILTO=unsubscribe@xd.test",
    "XD_SENDER_RETRY_INITIAL=1s",
    "XD_SENDER_RETRY_MAX=2s",
    "XD_SENDER_RETRY_MAX_AGE=6s",
    "XD_SENDER_RETRY_JITTER_PERMILLE=0",
    "XD_SENDER_DELIVERY_IDLE_POLL=100ms",
    "XD_SENDER_DELIVERY_BOUNCE_DOMAIN=bounce.xd.test",
    "XD_SENDER_SMTP_TIMEOUT_CONNECT=2s",
    "XD_SENDER_SMTP_TIMEOUT_COMMAND=2s",
    "XD_SENDER_SMTP_TIMEOUT_DATA_END=3s",
    "XD_SENDER_DELIVERY_UNREACHABLE_RETRY=1s",
    NULL,
};

static void put_env(const char *kv)
{
    char *copy = strdup(kv);
    char *eq = strchr(copy, '=');
    if (!eq)
        return;
    *eq = '\0';
    setenv(copy, eq + 1, 1);
    free(copy);
}

int dt_sender_start(dt_sender *s, const char *dir, const char *const *env)
{
    if (!s->arena) {
        memset(s, 0, sizeof *s);
        s->arena = xd_arena_new();
    }
    snprintf(s->dir, sizeof s->dir, "%s", dir);
    snprintf(s->url, sizeof s->url, "ipc://%s/sender.sock", dir);
    snprintf(s->log, sizeof s->log, "%s/sender.log", dir);
    char bin[700];
    snprintf(bin, sizeof bin, "%s/services/sender/xd-sender",
             getenv("XD_BINARY_DIR") ? getenv("XD_BINARY_DIR") : ".");
    pid_t pid = fork();
    if (pid == 0) {
        for (int i = 0; BASE_ENV[i]; i++)
            put_env(BASE_ENV[i]);
        for (int i = 0; env && env[i]; i++)
            put_env(env[i]);
        setenv("XD_SENDER_LISTEN", s->url, 1);
        setenv("XD_SENDER_DATA_DIR", dir, 1);
        FILE *f = freopen(s->log, "a", stderr);
        (void)f;
        execl(bin, bin, (char *)NULL);
        _exit(127);
    }
    s->pid = pid;
    if (!s->client) {
        xd_err err;
        xd_client_options o = {.default_timeout_ms = 10000};
        if (xd_client_open(s->url, "sender", &o, &s->client, &err) != XD_OK)
            return -1;
    }
    /* Ready when GetMessage answers (NOT_FOUND for an unknown id). */
    int rc = -1;
    for (int i = 0; i < 100; i++) {
        Xd__GetMessageReply *r;
        rc = dt_get(s, "org-probe", "m-none", &r);
        if (rc == XD_NOT_FOUND)
            return 0;
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            fprintf(stderr, "dt: xd-sender exited during start-up (status %d); its log:\n", st);
            dt_show_log(s);
            s->pid = 0;
            return -1;
        }
        usleep(100000);
    }
    fprintf(stderr, "dt: xd-sender did not answer GetMessage (last: %s); its log:\n",
            xd_code_name(rc));
    dt_show_log(s);
    return -1;
}

void dt_show_log(const dt_sender *s)
{
    char cmd[sizeof s->log + 32];
    snprintf(cmd, sizeof cmd, "tail -n 30 '%s' >&2", s->log);
    if (system(cmd) != 0)
        fprintf(stderr, "dt: no log at %s\n", s->log);
}

int dt_sender_stop(dt_sender *s, int sig)
{
    int st = 0;
    if (s->pid > 0) {
        kill(s->pid, sig);
        waitpid(s->pid, &st, 0);
        s->pid = 0;
    }
    return st;
}

static int call(dt_sender *s, const char *org, const char *method, const ProtobufCMessage *req,
                const ProtobufCMessageDescriptor *rd, ProtobufCMessage **out)
{
    Xd__Caller caller = XD__CALLER__INIT;
    caller.org_id = (char *)org;
    xd_call_options o = {.caller = &caller, .timeout_ms = 10000};
    xd_err err;
    return xd_client_call(s->client, &o, method, req, rd, s->arena, out, &err);
}

int dt_submit(dt_sender *s, const dt_msg *m, Xd__SubmitReply **out)
{
    xd_arena *a = s->arena;
    Xd__SubmitRequest *r = xd_arena_message(a, &xd__submit_request__descriptor);
    r->org_id = (char *)m->org;
    r->module = "bulk-email";
    r->client_id = "client-7";
    Xd__MailAddress *from = xd_arena_message(a, &xd__mail_address__descriptor);
    from->address = "news@sender.xd.test";
    from->display_name = "XenDirect Tests";
    r->from = from;
    r->n_to = (size_t)m->n_to;
    r->to = (Xd__MailAddress **)xd_arena_ptrs(a, r->n_to);
    for (int i = 0; i < m->n_to; i++) {
        Xd__MailAddress *t = xd_arena_message(a, &xd__mail_address__descriptor);
        t->address = xd_arena_printf(a, "%s%d@%s", m->prefix ? m->prefix : "rcpt", i,
                                     m->domain ? m->domain : "example.test");
        r->to[i] = t;
    }
    r->subject = "Delivery test";
    r->text_body = "Hello from the delivery tests.\n.leading dot line\n";
    r->category = XD__MAIL_CATEGORY__MAIL_CATEGORY_TRANSACTIONAL;
    r->idempotency_key = (char *)(m->key ? m->key : "");
    r->send_at_ms = m->send_at_ms;
    r->copy_mode =
        m->shared ? XD__COPY_MODE__COPY_MODE_SHARED : XD__COPY_MODE__COPY_MODE_PER_RECIPIENT;
    ProtobufCMessage *rep = NULL;
    int rc = call(s, m->org, "Submit", &r->base, &xd__submit_reply__descriptor, &rep);
    *out = (Xd__SubmitReply *)rep;
    return rc;
}

int dt_get(dt_sender *s, const char *org, const char *mid, Xd__GetMessageReply **out)
{
    Xd__GetMessageRequest r = XD__GET_MESSAGE_REQUEST__INIT;
    r.org_id = (char *)org;
    r.message_id = (char *)mid;
    ProtobufCMessage *rep = NULL;
    int rc = call(s, org, "GetMessage", &r.base, &xd__get_message_reply__descriptor, &rep);
    *out = (Xd__GetMessageReply *)rep;
    return rc;
}

int dt_cancel(dt_sender *s, const char *org, const char *mid, const char *rid,
              Xd__CancelReply **out)
{
    Xd__CancelRequest r = XD__CANCEL_REQUEST__INIT;
    r.org_id = (char *)org;
    r.message_id = (char *)mid;
    char *ids[1] = {(char *)rid};
    if (rid) {
        r.n_recipient_ids = 1;
        r.recipient_ids = ids;
    }
    ProtobufCMessage *rep = NULL;
    int rc = call(s, org, "Cancel", &r.base, &xd__cancel_reply__descriptor, &rep);
    *out = (Xd__CancelReply *)rep;
    return rc;
}

int dt_set_relay(dt_sender *s, const char *org, int route, const char *host, unsigned port, int tls,
                 const char *user, const char *password)
{
    Xd__SetRelayRequest r = XD__SET_RELAY_REQUEST__INIT;
    r.org_id = (char *)org;
    r.route = (Xd__RouteKind)route;
    r.host = (char *)(host ? host : "");
    r.port = port;
    r.tls = (Xd__RelayTls)tls;
    r.username = (char *)(user ? user : "");
    r.password = (char *)(password ? password : "");
    ProtobufCMessage *rep = NULL;
    return call(s, org, "SetRelay", &r.base, &xd__set_relay_reply__descriptor, &rep);
}

int dt_final(int state)
{
    return state != 0 && state != 1 && state != 2 && state != 10;
}

Xd__GetMessageReply *dt_wait(dt_sender *s, const char *org, const char *mid, int until,
                             int64_t timeout_ms)
{
    int64_t deadline = tu_now_ms() + timeout_ms;
    for (;;) {
        Xd__GetMessageReply *r = NULL;
        if (dt_get(s, org, mid, &r) == XD_OK) {
            size_t ok = 0;
            for (size_t i = 0; i < r->n_recipients; i++)
                ok += until ? (int)r->recipients[i]->state == until
                            : dt_final(r->recipients[i]->state);
            if (ok == r->n_recipients)
                return r;
        }
        if (tu_now_ms() > deadline)
            return NULL;
        usleep(50000);
    }
}

int dt_sink_start(dt_sink *k, const char *addr, uint16_t port)
{
    memset(k, 0, sizeof *k);
    tu_tmpdir(k->dir, sizeof k->dir, "xd-dsink");
    chmod(k->dir, 0777); /* smtp-sink drops to nobody before it writes */
    snprintf(k->dump, sizeof k->dump, "%s/dump", k->dir);
    k->port = port ? port : tu_free_port(0);
    char listen[128];
    snprintf(listen, sizeof listen, "%s:%u", addr ? addr : "127.0.0.1", (unsigned)k->port);
    char *argv[12];
    int a = 0;
    argv[a++] = "/usr/sbin/smtp-sink";
    if (geteuid() == 0) {
        argv[a++] = "-u";
        argv[a++] = "nobody";
    }
    argv[a++] = "-D";
    argv[a++] = k->dump;
    argv[a++] = listen;
    argv[a++] = "256";
    argv[a] = NULL;
    if (tu_spawn(&k->child, argv, NULL) != 0)
        return -1;
    return tu_wait_port(addr ? addr : "127.0.0.1", k->port, 5000);
}

void dt_sink_stop(dt_sink *k)
{
    if (k->child.pid > 0)
        tu_stop(&k->child);
    k->child.pid = 0;
    tu_rmrf(k->dir);
}

size_t dt_count(const char *hay, const char *needle)
{
    size_t n = 0;
    if (!hay)
        return 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

size_t dt_sink_count(dt_sink *k, const char *needle)
{
    size_t len = 0;
    char *d = tu_read_file(k->dump, &len);
    size_t n = dt_count(d, needle);
    free(d);
    return n;
}
