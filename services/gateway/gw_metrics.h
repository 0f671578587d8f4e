/*
 * gw_metrics.h: request counters and latency histograms for GET /metrics
 * (Prometheus text format 0.0.4), plus named gauges that other parts set
 * (services' queue depth and delivery counts once they report them).
 * Owns its memory. Thread-safety: every function takes an internal lock.
 */
#ifndef GW_METRICS_H
#define GW_METRICS_H

#include <stddef.h>
#include <stdint.h>

typedef struct gw_metrics gw_metrics;

gw_metrics *gw_metrics_new(void);
void gw_metrics_free(gw_metrics *m);

/* Counts one finished request: method (as in the proto; unknown names are
 * counted as "other"), transport "nng" or "http", status code, latency. */
void gw_metrics_record(gw_metrics *m, const char *method, const char *transport, int code,
                       int64_t latency_us);

/* Sets gauge name{labels} = value; name and labels must be Prometheus-safe. */
void gw_metrics_set_gauge(gw_metrics *m, const char *name, const char *labels, double value);

/* Renders everything; returns a malloc'd NUL-terminated text (caller frees). */
char *gw_metrics_render(gw_metrics *m, size_t *len_out);

#endif
