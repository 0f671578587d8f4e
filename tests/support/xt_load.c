/* xt_load.c: SendEmail load threads, the ledger of accepted recipients, and
 * the checks that nothing accepted was lost (see xt_load.h). */
#include "xt_load.h"

#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "gateway.pb-c.h"
#include "xt_util.h"

#define MAX_RCPTS 32

typedef struct sent {
    char message_id[64];
    long seq;
    int thread;
    int n;
    uint32_t queued; /* bit i: recipient i was QUEUED */
    uint32_t final;  /* bit i: seen final */
    uint32_t delivered;
} sent;

typedef struct worker {
    struct xt_load *l;
    int index;
    pthread_t tid;
    sent *ledger;
    size_t n_ledger, cap_ledger;
    double *lat_ms;
    size_t n_lat, cap_lat;
    pthread_mutex_t lock; /* lat_ms and ledger: read by xt_load_get_stats while running */
} worker;

struct xt_load {
    xt_load_options o;
    worker *w;
    atomic_int stop;
    atomic_long calls, sends_ok, sends_failed, accepted;
    atomic_long errors[XT_CODES];
    int64_t started_ms, stopped_ms;
};

static void address(const xt_load *l, int thread, long seq, int i, char *out, size_t cap)
{
    snprintf(out, cap, "%s-%d-%ld-%d@%s", l->o.tag, thread, seq, i, l->o.domain);
}

static void push_latency(worker *w, double ms)
{
    pthread_mutex_lock(&w->lock);
    if (w->n_lat == w->cap_lat) {
        size_t cap = w->cap_lat ? w->cap_lat * 2 : 4096;
        double *p = realloc(w->lat_ms, cap * sizeof *p);
        if (p) {
            w->lat_ms = p;
            w->cap_lat = cap;
        }
    }
    if (w->n_lat < w->cap_lat)
        w->lat_ms[w->n_lat++] = ms;
    pthread_mutex_unlock(&w->lock);
}

/* Called with w->lock held. */
static sent *push_sent(worker *w)
{
    if (w->n_ledger == w->cap_ledger) {
        size_t cap = w->cap_ledger ? w->cap_ledger * 2 : 1024;
        sent *p = realloc(w->ledger, cap * sizeof *p);
        if (!p)
            return NULL;
        w->ledger = p;
        w->cap_ledger = cap;
    }
    sent *s = &w->ledger[w->n_ledger++];
    memset(s, 0, sizeof *s);
    return s;
}

/* One attempt of send number seq (the request, and its key, are the same
 * on every attempt). XD_OK when it was answered and recorded. */
static xd_code attempt(worker *w, long seq, xd_arena *a)
{
    xt_load *l = w->l;
    int n = l->o.recipients;
    Xd__SubmitRequest *r = xd_arena_message(a, &xd__submit_request__descriptor);
    r->module = "bulk-email";
    r->client_id = xd_arena_printf(a, "client-%d", w->index);
    Xd__MailAddress *from = xd_arena_message(a, &xd__mail_address__descriptor);
    from->address = "news@acme.test";
    r->from = from;
    r->n_to = (size_t)n;
    r->to = (Xd__MailAddress **)xd_arena_ptrs(a, (size_t)n);
    for (int i = 0; i < n; i++) {
        char addr[160];
        address(l, w->index, seq, i, addr, sizeof addr);
        r->to[i] = xd_arena_message(a, &xd__mail_address__descriptor);
        r->to[i]->address = xd_arena_strdup(a, addr);
    }
    r->subject = "Weekly news";
    r->text_body = "Hello from the load test.\n";
    r->category = XD__MAIL_CATEGORY__MAIL_CATEGORY_TRANSACTIONAL;
    r->idempotency_key = xd_arena_printf(a, "%s-%d-%ld", l->o.tag, w->index, seq);
    ProtobufCMessage *rep = NULL;
    xd_err err;
    int64_t t0 = xt_now_ms();
    atomic_fetch_add(&l->calls, 1);
    Xd__Caller caller = XD__CALLER__INIT;
    caller.principal = (char *)l->o.key;
    xd_call_options co = {.caller = &caller,
                          .timeout_ms = l->o.call_timeout_ms ? l->o.call_timeout_ms : 30000};
    xd_err_clear(&err);
    xd_code rc = xd_client_call(l->o.suite->gw, &co, "SendEmail", &r->base,
                                &xd__send_email_reply__descriptor, a, &rep, &err);
    if (rc != XD_OK) {
        atomic_fetch_add(&l->errors[rc >= 0 && rc < XT_CODES ? rc : XD_UNKNOWN], 1);
        return rc;
    }
    push_latency(w, (double)(xt_now_ms() - t0));
    const Xd__SendEmailReply *se = (const Xd__SendEmailReply *)rep;
    pthread_mutex_lock(&w->lock);
    sent *s = push_sent(w);
    if (s) {
        snprintf(s->message_id, sizeof s->message_id, "%s", se->message_id);
        s->seq = seq;
        s->thread = w->index;
        s->n = n;
        for (size_t i = 0; i < se->n_recipients && i < MAX_RCPTS; i++)
            if (se->recipients[i]->outcome == XD__RECIPIENT_OUTCOME__OUTCOME__OUTCOME_QUEUED)
                s->queued |= 1u << i;
        atomic_fetch_add(&l->accepted, __builtin_popcount(s->queued));
    }
    pthread_mutex_unlock(&w->lock);
    atomic_fetch_add(&l->sends_ok, 1);
    return XD_OK;
}

#define MAX_PENDING 256

typedef struct pending {
    long seq;
    int64_t next_ms, give_up_ms;
} pending;

/* Failed sends wait in a small list and are retried (same key) between new
 * sends, so one stuck key does not stop a module thread. After stop, the
 * thread keeps retrying what is pending until each is answered or its
 * retry budget ends. */
static void *run(void *arg)
{
    worker *w = arg;
    xt_load *l = w->l;
    pending p[MAX_PENDING];
    int n_p = 0;
    long seq = 0;
    for (;;) {
        int stopping = atomic_load(&l->stop);
        if (stopping && n_p == 0)
            break;
        int64_t now = xt_now_ms();
        int due = -1;
        for (int i = 0; i < n_p && due < 0; i++)
            if (p[i].next_ms <= now || n_p == MAX_PENDING)
                due = i;
        if (due < 0 && stopping) {
            xt_sleep_ms(50);
            continue;
        }
        long this_seq = due >= 0 ? p[due].seq : seq++;
        xd_arena *a = xd_arena_new();
        xd_code rc = attempt(w, this_seq, a);
        xd_arena_free(a);
        now = xt_now_ms();
        if (due >= 0) {
            if (rc == XD_OK || now >= p[due].give_up_ms) {
                if (rc != XD_OK)
                    atomic_fetch_add(&l->sends_failed, 1);
                p[due] = p[--n_p];
            } else {
                p[due].next_ms = now + 500;
            }
        } else if (rc != XD_OK) {
            if (l->o.retry_for_ms > 0)
                p[n_p++] = (pending){this_seq, now + 500, now + l->o.retry_for_ms};
            else
                atomic_fetch_add(&l->sends_failed, 1);
        }
        if (l->o.pause_ms > 0)
            xt_sleep_ms(l->o.pause_ms);
    }
    return NULL;
}

int xt_load_start(xt_load **out, const xt_load_options *o)
{
    if (o->threads < 1 || o->recipients < 1 || o->recipients > MAX_RCPTS)
        return -1;
    xt_load *l = calloc(1, sizeof *l);
    l->o = *o;
    l->w = calloc((size_t)o->threads, sizeof *l->w);
    l->started_ms = xt_now_ms();
    for (int i = 0; i < o->threads; i++) {
        l->w[i].l = l;
        l->w[i].index = i;
        pthread_mutex_init(&l->w[i].lock, NULL);
        if (pthread_create(&l->w[i].tid, NULL, run, &l->w[i]) != 0)
            return -1;
    }
    *out = l;
    return 0;
}

void xt_load_stop(xt_load *l)
{
    if (atomic_exchange(&l->stop, 1))
        return;
    for (int i = 0; i < l->o.threads; i++)
        pthread_join(l->w[i].tid, NULL);
    l->stopped_ms = xt_now_ms();
}

void xt_load_free(xt_load *l)
{
    if (!l)
        return;
    xt_load_stop(l);
    for (int i = 0; i < l->o.threads; i++) {
        free(l->w[i].ledger);
        free(l->w[i].lat_ms);
        pthread_mutex_destroy(&l->w[i].lock);
    }
    free(l->w);
    free(l);
}

long xt_load_accepted(xt_load *l)
{
    return atomic_load(&l->accepted);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

void xt_load_get_stats(xt_load *l, xt_load_stats *out)
{
    memset(out, 0, sizeof *out);
    out->calls = atomic_load(&l->calls);
    out->sends_ok = atomic_load(&l->sends_ok);
    out->sends_failed = atomic_load(&l->sends_failed);
    out->accepted = atomic_load(&l->accepted);
    for (int i = 0; i < XT_CODES; i++)
        out->errors[i] = atomic_load(&l->errors[i]);
    int64_t end = l->stopped_ms ? l->stopped_ms : xt_now_ms();
    out->elapsed_s = (double)(end - l->started_ms) / 1000.0;
    double *all = NULL;
    size_t n = 0;
    for (int i = 0; i < l->o.threads; i++) {
        worker *w = &l->w[i];
        pthread_mutex_lock(&w->lock);
        double *bigger = realloc(all, (n + w->n_lat + 1) * sizeof *all);
        if (bigger) {
            all = bigger;
            memcpy(all + n, w->lat_ms, w->n_lat * sizeof *all);
            n += w->n_lat;
        }
        pthread_mutex_unlock(&w->lock);
    }
    if (n == 0) {
        free(all);
        return;
    }
    qsort(all, n, sizeof *all, cmp_double);
    out->p50_ms = all[(n - 1) / 2];
    out->p99_ms = all[(size_t)((double)(n - 1) * 0.99)];
    free(all);
}

/* ---------------------------------------------------------- final states */

static int is_final(Xd__RecipientState st)
{
    return st != XD__RECIPIENT_STATE__RECIPIENT_STATE_QUEUED &&
           st != XD__RECIPIENT_STATE__RECIPIENT_STATE_DEFERRED &&
           st != XD__RECIPIENT_STATE__RECIPIENT_STATE_SENDING &&
           st != XD__RECIPIENT_STATE__RECIPIENT_STATE_UNSPECIFIED;
}

/* One GetEmailStatus; marks the recipients that are final. */
static void check_sent(xt_load *l, const char *key, sent *s)
{
    if (!s->message_id[0])
        return;
    xd_arena *a = xd_arena_new();
    Xd__GetMessageStatusRequest q = XD__GET_MESSAGE_STATUS_REQUEST__INIT;
    q.message_id = s->message_id;
    ProtobufCMessage *rep = NULL;
    xd_err err;
    if (xt_gw_call(l->o.suite, key, "GetEmailStatus", &q.base,
                   &xd__get_message_status_reply__descriptor, a, &rep, &err) == XD_OK) {
        const Xd__GetMessageStatusReply *r = (const Xd__GetMessageStatusReply *)rep;
        for (int i = 0; i < s->n; i++) {
            char addr[160];
            address(l, s->thread, s->seq, i, addr, sizeof addr);
            for (size_t k = 0; k < r->n_recipients; k++)
                if (strcmp(r->recipients[k]->recipient, addr) == 0 &&
                    is_final(r->recipients[k]->state)) {
                    s->final |= 1u << i;
                    if (r->recipients[k]->state == XD__RECIPIENT_STATE__RECIPIENT_STATE_DELIVERED)
                        s->delivered |= 1u << i;
                }
        }
    }
    xd_arena_free(a);
}

int xt_load_wait_final(xt_load *l, const char *status_key, int64_t timeout_ms, xt_load_final *out)
{
    int64_t end = xt_now_ms() + timeout_ms;
    long n_pending;
    do {
        n_pending = 0;
        for (int t = 0; t < l->o.threads; t++)
            for (size_t i = 0; i < l->w[t].n_ledger; i++) {
                sent *s = &l->w[t].ledger[i];
                if ((s->final & s->queued) != s->queued) {
                    check_sent(l, status_key, s);
                    if ((s->final & s->queued) != s->queued)
                        n_pending++;
                }
            }
        if (n_pending)
            xt_sleep_ms(500);
    } while (n_pending && xt_now_ms() < end);
    memset(out, 0, sizeof *out);
    for (int t = 0; t < l->o.threads; t++)
        for (size_t i = 0; i < l->w[t].n_ledger; i++) {
            const sent *s = &l->w[t].ledger[i];
            out->accepted += __builtin_popcount(s->queued);
            out->delivered += __builtin_popcount(s->queued & s->delivered);
            out->other_final += __builtin_popcount(s->queued & s->final & ~s->delivered);
            uint32_t lost = s->queued & ~s->final;
            for (int r = 0; r < s->n && lost; r++)
                if ((lost >> r) & 1 && out->lost < 5) {
                    char addr[160];
                    address(l, s->thread, s->seq, r, addr, sizeof addr);
                    fprintf(stderr, "not final: %s (message %s)\n", addr, s->message_id);
                    if (!out->first_lost_message[0])
                        snprintf(out->first_lost_message, sizeof out->first_lost_message, "%s",
                                 s->message_id);
                }
            out->lost += __builtin_popcount(lost);
        }
    return out->lost == 0 ? 0 : -1;
}

/* ---------------------------------------------------------- sink tally */

typedef struct copy {
    char addr[160];
    int64_t mtime;
} copy;

static int cmp_copy(const void *a, const void *b)
{
    return strcmp(((const copy *)a)->addr, ((const copy *)b)->addr);
}

static void collect(const char *dir, copy **cs, size_t *n, size_t *cap, long *files)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        char *text = stat(path, &st) == 0 ? xt_read_file(path, NULL) : NULL;
        if (!text)
            continue;
        (*files)++;
        /* smtp-sink: "X-Rcpt-Args: <a@b>"; aiosmtpd recorder: "X-Rcpt-To: a@b". */
        for (const char *p = text; (p = strstr(p, "X-Rcpt-")) != NULL; p++) {
            const char *v = strchr(p, ':');
            if (!v || (size_t)(v - p) > 12)
                continue;
            v += 1 + strspn(v + 1, " <");
            size_t len = strcspn(v, ">\r\n ");
            if (*n == *cap) {
                *cap = *cap ? *cap * 2 : 8192;
                *cs = realloc(*cs, *cap * sizeof **cs);
            }
            copy *c = &(*cs)[(*n)++];
            snprintf(c->addr, sizeof c->addr, "%.*s", (int)len, v);
            c->mtime = (int64_t)st.st_mtime;
        }
        free(text);
    }
    if (d)
        closedir(d);
}

static int in_window(int64_t t, const int64_t (*w)[2], int n, int slack)
{
    for (int i = 0; i < n; i++)
        if (t >= w[i][0] - slack && t <= w[i][1] + slack)
            return 1;
    return 0;
}

void xt_load_tally(xt_load *l, const char *const *sink_dirs, const int64_t (*windows)[2],
                   int n_windows, int slack_s, xt_sink_tally *out)
{
    memset(out, 0, sizeof *out);
    copy *cs = NULL;
    size_t n = 0, cap = 0;
    for (int i = 0; sink_dirs[i]; i++)
        collect(sink_dirs[i], &cs, &n, &cap, &out->files);
    if (n)
        qsort(cs, n, sizeof *cs, cmp_copy);
    /* Accepted addresses, sorted, each with its delivered flag. */
    size_t n_acc = 0, k = 0;
    for (int t = 0; t < l->o.threads; t++)
        for (size_t i = 0; i < l->w[t].n_ledger; i++)
            n_acc += (size_t)__builtin_popcount(l->w[t].ledger[i].queued);
    copy *acc = calloc(n_acc ? n_acc : 1, sizeof *acc);
    for (int t = 0; t < l->o.threads; t++)
        for (size_t i = 0; i < l->w[t].n_ledger; i++) {
            const sent *s = &l->w[t].ledger[i];
            for (int r = 0; r < s->n; r++)
                if (s->queued & (1u << r)) {
                    address(l, s->thread, s->seq, r, acc[k].addr, sizeof acc[k].addr);
                    acc[k++].mtime = (s->delivered >> r) & 1; /* reused: delivered flag */
                }
        }
    qsort(acc, n_acc, sizeof *acc, cmp_copy);
    size_t i = 0, j = 0;
    while (i < n || j < n_acc) {
        int c = i >= n ? 1 : j >= n_acc ? -1 : strcmp(cs[i].addr, acc[j].addr);
        if (c < 0) { /* at the sink, never accepted */
            out->unknown++;
            i++;
        } else if (c > 0) { /* accepted, no copy */
            if (acc[j].mtime)
                out->missing++;
            j++;
        } else {
            size_t first = i;
            while (i < n && strcmp(cs[i].addr, acc[j].addr) == 0)
                i++;
            size_t copies = i - first;
            out->accepted_seen++;
            if (copies > 1) {
                out->duplicates += (long)(copies - 1);
                out->dup_recipients++;
                int explained = 0;
                for (size_t c2 = first; c2 < i && !explained; c2++)
                    explained = in_window(cs[c2].mtime, windows, n_windows, slack_s);
                if (!explained) {
                    out->unexplained++;
                    fprintf(stderr, "unexplained duplicate: %s (%zu copies)\n", acc[j].addr,
                            copies);
                }
            }
            j++;
        }
    }
    free(acc);
    free(cs);
}
