/* gw_qstats.c: sender.QueueStats cached for GET /metrics. */
#include "gw_qstats.h"
#include "sender.pb-c.h"
#include "xd/clock.h"
#include "xd/util.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STATES_MAX 16
#define STATE_LEN  32

/* The sender's recipient states (sender.proto QueueStateCount): the first
 * three are the queue, the rest are outcomes. Always shown, 0 when absent,
 * so every series exists from the first scrape. */
static const char *const waiting[] = {"queued", "deferred", "sending"};
static const char *const outcomes[] = {"delivered", "bounced", "expired", "suppressed",
                                       "cancelled"};

typedef struct state_count {
    char state[STATE_LEN];
    uint64_t count;
} state_count;

struct gw_qstats {
    gw_backends *backends;
    int64_t cache_ms, timeout_ms;
    pthread_mutex_t lock;
    int refreshing;
    int64_t attempted_ms;                /* monotonic; 0 = never */
    int64_t fetched_ms;                  /* monotonic time of the figures below */
    int have;                            /* the last attempt brought figures */
    int up;                              /* the sender answered the last attempt */
    char error[XD_ERR_MESSAGE_MAX + 40]; /* why not, one line */
    state_count states[STATES_MAX];
    int n_states;
    int64_t oldest_waiting_age_ms;
    uint64_t outbox_pending;
};

gw_qstats *gw_qstats_new(gw_backends *backends, int64_t cache_ms, int64_t timeout_ms)
{
    gw_qstats *q = calloc(1, sizeof(*q));
    if (!q)
        return NULL;
    q->backends = backends;
    q->cache_ms = cache_ms;
    q->timeout_ms = timeout_ms;
    pthread_mutex_init(&q->lock, NULL);
    return q;
}

void gw_qstats_free(gw_qstats *q)
{
    if (!q)
        return;
    pthread_mutex_destroy(&q->lock);
    free(q);
}

/* Label values and comments stay on one line and inside their quotes. */
static void one_line(const char *in, char *out, size_t size)
{
    size_t k = 0;
    for (size_t i = 0; in[i] && k + 1 < size; i++) {
        char c = in[i];
        out[k++] = (c == '\n' || c == '\r' || c == '"' || c == '\\') ? ' ' : c;
    }
    out[k] = '\0';
}

static void refresh(gw_qstats *q)
{
    Xd__QueueStatsRequest rq = XD__QUEUE_STATS_REQUEST__INIT;
    Xd__Caller caller = XD__CALLER__INIT;
    caller.role = XD__ROLE__ROLE_SERVICE;
    caller.principal = "gateway";
    xd_call_options o = {.timeout_ms = q->timeout_ms, .caller = &caller};
    xd_arena *arena = xd_arena_new();
    ProtobufCMessage *m = NULL;
    xd_err err;
    xd_err_clear(&err);
    xd_code rc =
        arena ? xd_client_call(gw_backends_client(q->backends, GW_SVC_SENDER), &o, "QueueStats",
                               &rq.base, &xd__queue_stats_reply__descriptor, arena, &m, &err)
              : xd_err_set(&err, XD_INTERNAL, "out of memory");
    pthread_mutex_lock(&q->lock);
    q->attempted_ms = xd_monotonic_ms();
    q->up = rc != XD_UNAVAILABLE && rc != XD_DEADLINE_EXCEEDED;
    q->have = rc == XD_OK;
    if (rc == XD_OK) {
        const Xd__QueueStatsReply *r = (const Xd__QueueStatsReply *)m;
        q->fetched_ms = q->attempted_ms;
        q->n_states = 0;
        for (size_t i = 0; i < r->n_states && q->n_states < STATES_MAX; i++) {
            state_count *s = &q->states[q->n_states++];
            one_line(r->states[i]->state ? r->states[i]->state : "", s->state, sizeof(s->state));
            s->count = r->states[i]->count;
        }
        q->oldest_waiting_age_ms = r->oldest_waiting_age_ms;
        q->outbox_pending = r->outbox_pending;
        q->error[0] = '\0';
    } else {
        char line[sizeof(q->error) + 8];
        snprintf(line, sizeof(line), "%s: %s", xd_code_name(rc), err.message);
        one_line(line, q->error, sizeof(q->error));
    }
    q->refreshing = 0;
    pthread_mutex_unlock(&q->lock);
    xd_arena_free(arena);
}

static uint64_t count_of(const gw_qstats *q, const char *state)
{
    for (int i = 0; i < q->n_states; i++)
        if (strcmp(q->states[i].state, state) == 0)
            return q->states[i].count;
    return 0;
}

static int known(const char *state)
{
    for (size_t i = 0; i < XD_ARRAY_LEN(waiting); i++)
        if (strcmp(waiting[i], state) == 0)
            return 1;
    for (size_t i = 0; i < XD_ARRAY_LEN(outcomes); i++)
        if (strcmp(outcomes[i], state) == 0)
            return 1;
    return 0;
}

static void render_locked(const gw_qstats *q, FILE *f)
{
    fprintf(f,
            "# HELP xd_up 1 when the service answered the gateway's last call for these "
            "metrics.\n# TYPE xd_up gauge\nxd_up{service=\"sender\"} %d\n",
            q->up);
    if (!q->have) {
        /* A comment, not a series: stale figures are not shown as current. */
        fprintf(f, "# sender QueueStats not available: %s\n",
                q->error[0] ? q->error : "not asked yet");
        return;
    }
    fprintf(f, "# HELP xd_queue_depth Recipients waiting in the sender's queue, by state.\n"
               "# TYPE xd_queue_depth gauge\n");
    for (size_t i = 0; i < XD_ARRAY_LEN(waiting); i++)
        fprintf(f, "xd_queue_depth{state=\"%s\"} %llu\n", waiting[i],
                (unsigned long long)count_of(q, waiting[i]));
    fprintf(f, "# HELP xd_deliveries Recipients in the sender's store by final outcome (falls "
               "when retention prunes old ones).\n# TYPE xd_deliveries gauge\n");
    for (size_t i = 0; i < XD_ARRAY_LEN(outcomes); i++)
        fprintf(f, "xd_deliveries{outcome=\"%s\"} %llu\n", outcomes[i],
                (unsigned long long)count_of(q, outcomes[i]));
    for (int i = 0; i < q->n_states; i++) /* states a newer sender adds */
        if (!known(q->states[i].state))
            fprintf(f, "xd_deliveries{outcome=\"%s\"} %llu\n", q->states[i].state,
                    (unsigned long long)q->states[i].count);
    fprintf(f,
            "# HELP xd_queue_oldest_waiting_seconds Age of the oldest queued or deferred "
            "recipient.\n# TYPE xd_queue_oldest_waiting_seconds gauge\n"
            "xd_queue_oldest_waiting_seconds %.3f\n"
            "# HELP xd_sender_outbox_pending Delivery events not yet acknowledged by verify.\n"
            "# TYPE xd_sender_outbox_pending gauge\nxd_sender_outbox_pending %llu\n"
            "# HELP xd_queue_stats_age_seconds How old the queue figures above are.\n"
            "# TYPE xd_queue_stats_age_seconds gauge\nxd_queue_stats_age_seconds %.3f\n",
            (double)q->oldest_waiting_age_ms / 1000.0, (unsigned long long)q->outbox_pending,
            (double)(xd_monotonic_ms() - q->fetched_ms) / 1000.0);
}

char *gw_qstats_render(gw_qstats *q, size_t *len_out)
{
    pthread_mutex_lock(&q->lock);
    int64_t now = xd_monotonic_ms();
    int stale = !q->attempted_ms || now - q->attempted_ms >= q->cache_ms;
    int fetch = stale && !q->refreshing;
    if (fetch)
        q->refreshing = 1;
    pthread_mutex_unlock(&q->lock);
    if (fetch)
        refresh(q);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return NULL;
    pthread_mutex_lock(&q->lock);
    render_locked(q, f);
    pthread_mutex_unlock(&q->lock);
    fclose(f);
    *len_out = len;
    return buf;
}
