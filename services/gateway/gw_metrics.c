/* gw_metrics.c: counters, histograms and gauges in Prometheus text format. */
#include "gw_metrics.h"
#include "xd/status.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define METHODS_MAX  64
#define NAME_MAX_LEN 48
#define CODES        17
#define GAUGES_MAX   64
#define TRANSPORTS   2

static const double bucket_ms[] = {1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000};
#define BUCKETS (sizeof(bucket_ms) / sizeof(bucket_ms[0]))
static const char *const transports[TRANSPORTS] = {"nng", "http"};

typedef struct method_stats {
    char name[NAME_MAX_LEN];
    uint64_t count[TRANSPORTS][CODES];
    uint64_t bucket[BUCKETS]; /* cumulative at render time */
    uint64_t observations;
    double sum_seconds;
} method_stats;

typedef struct gauge {
    char name[64];
    char labels[128];
    double value;
} gauge;

struct gw_metrics {
    pthread_mutex_t lock;
    method_stats methods[METHODS_MAX];
    int n_methods;
    gauge gauges[GAUGES_MAX];
    int n_gauges;
};

gw_metrics *gw_metrics_new(void)
{
    gw_metrics *m = calloc(1, sizeof(*m));
    if (m)
        pthread_mutex_init(&m->lock, NULL);
    return m;
}

void gw_metrics_free(gw_metrics *m)
{
    if (!m)
        return;
    pthread_mutex_destroy(&m->lock);
    free(m);
}

/* Method names come from requests: only [A-Za-z0-9] up to 47 chars are kept
 * as labels, and the table is bounded, so a client cannot grow it. */
static int safe_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= NAME_MAX_LEN)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9')))
            return 0;
    return 1;
}

static method_stats *find(gw_metrics *m, const char *method)
{
    const char *name = safe_name(method) ? method : "other";
    for (int i = 0; i < m->n_methods; i++)
        if (strcmp(m->methods[i].name, name) == 0)
            return &m->methods[i];
    if (m->n_methods >= METHODS_MAX - 1) /* keep one slot for "other" */
        name = "other";
    for (int i = 0; i < m->n_methods; i++)
        if (strcmp(m->methods[i].name, name) == 0)
            return &m->methods[i];
    method_stats *s = &m->methods[m->n_methods++];
    snprintf(s->name, sizeof(s->name), "%s", name);
    return s;
}

void gw_metrics_record(gw_metrics *m, const char *method, const char *transport, int code,
                       int64_t latency_us)
{
    if (!m)
        return;
    int t = transport && strcmp(transport, "http") == 0 ? 1 : 0;
    if (code < 0 || code >= CODES)
        code = XD_UNKNOWN;
    double ms = (double)latency_us / 1000.0;
    pthread_mutex_lock(&m->lock);
    method_stats *s = find(m, method ? method : "other");
    s->count[t][code]++;
    for (size_t b = 0; b < BUCKETS; b++)
        if (ms <= bucket_ms[b]) {
            s->bucket[b]++;
            break;
        }
    s->observations++;
    s->sum_seconds += ms / 1000.0;
    pthread_mutex_unlock(&m->lock);
}

void gw_metrics_set_gauge(gw_metrics *m, const char *name, const char *labels, double value)
{
    if (!m)
        return;
    pthread_mutex_lock(&m->lock);
    for (int i = 0; i < m->n_gauges; i++)
        if (strcmp(m->gauges[i].name, name) == 0 && strcmp(m->gauges[i].labels, labels) == 0) {
            m->gauges[i].value = value;
            pthread_mutex_unlock(&m->lock);
            return;
        }
    if (m->n_gauges < GAUGES_MAX) {
        gauge *g = &m->gauges[m->n_gauges++];
        snprintf(g->name, sizeof(g->name), "%s", name);
        snprintf(g->labels, sizeof(g->labels), "%s", labels ? labels : "");
        g->value = value;
    }
    pthread_mutex_unlock(&m->lock);
}

typedef struct text {
    char *buf;
    size_t len, cap;
} text;

static void put(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(text *t, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->buf ? t->buf + t->len : NULL, t->buf ? t->cap - t->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0)
            return;
        if (t->buf && t->len + (size_t)n < t->cap) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = (t->cap ? t->cap * 2 : 8192) + (size_t)n;
        char *nb = realloc(t->buf, cap);
        if (!nb)
            return;
        t->buf = nb;
        t->cap = cap;
    }
}

char *gw_metrics_render(gw_metrics *m, size_t *len_out)
{
    text t = {0};
    put(&t, "# HELP xd_gateway_requests_total Requests answered, by method, transport and "
            "status.\n# TYPE xd_gateway_requests_total counter\n");
    pthread_mutex_lock(&m->lock);
    for (int i = 0; i < m->n_methods; i++)
        for (int tr = 0; tr < TRANSPORTS; tr++)
            for (int c = 0; c < CODES; c++)
                if (m->methods[i].count[tr][c])
                    put(&t,
                        "xd_gateway_requests_total{method=\"%s\",transport=\"%s\",code=\"%s\"} "
                        "%llu\n",
                        m->methods[i].name, transports[tr], xd_code_name(c),
                        (unsigned long long)m->methods[i].count[tr][c]);
    put(&t, "# HELP xd_gateway_request_duration_seconds Time to answer a request, by method.\n"
            "# TYPE xd_gateway_request_duration_seconds histogram\n");
    for (int i = 0; i < m->n_methods; i++) {
        method_stats *s = &m->methods[i];
        uint64_t cum = 0;
        for (size_t b = 0; b < BUCKETS; b++) {
            cum += s->bucket[b];
            put(&t, "xd_gateway_request_duration_seconds_bucket{method=\"%s\",le=\"%g\"} %llu\n",
                s->name, bucket_ms[b] / 1000.0, (unsigned long long)cum);
        }
        put(&t, "xd_gateway_request_duration_seconds_bucket{method=\"%s\",le=\"+Inf\"} %llu\n",
            s->name, (unsigned long long)s->observations);
        put(&t, "xd_gateway_request_duration_seconds_sum{method=\"%s\"} %.6f\n", s->name,
            s->sum_seconds);
        put(&t, "xd_gateway_request_duration_seconds_count{method=\"%s\"} %llu\n", s->name,
            (unsigned long long)s->observations);
    }
    /* Each gauge family once: its TYPE line, then all its series. */
    for (int i = 0; i < m->n_gauges; i++) {
        int first = 1;
        for (int k = 0; k < i && first; k++)
            first = strcmp(m->gauges[k].name, m->gauges[i].name) != 0;
        if (!first)
            continue;
        put(&t, "# TYPE %s gauge\n", m->gauges[i].name);
        for (int k = i; k < m->n_gauges; k++) {
            gauge *g = &m->gauges[k];
            if (strcmp(g->name, m->gauges[i].name) != 0)
                continue;
            put(&t, "%s%s%s%s %g\n", g->name, g->labels[0] ? "{" : "", g->labels,
                g->labels[0] ? "}" : "", g->value);
        }
    }
    pthread_mutex_unlock(&m->lock);
    if (!t.buf) {
        t.buf = calloc(1, 1);
        t.len = 0;
    }
    *len_out = t.len;
    return t.buf;
}
