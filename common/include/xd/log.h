/*
 * log.h: one line per event on stderr:
 *   2026-11-27T21:44:00.123Z INFO sender req=0f3a... message
 * The service name and level are process-wide (set once at start-up); the
 * request id is per thread (the RPC server sets it around each handler).
 * Never pass secrets (passwords, keys, tokens) to these functions.
 * Thread-safety: safe from any thread; each line is written with one write().
 */
#ifndef XD_LOG_H
#define XD_LOG_H

typedef enum xd_log_level {
    XD_LOG_DEBUG = 0,
    XD_LOG_INFO = 1,
    XD_LOG_WARN = 2,
    XD_LOG_ERROR = 3,
} xd_log_level;

/* Sets the service name shown on every line and the lowest level printed. */
void xd_log_init(const char *service, xd_log_level level);

/* Parses "debug" / "info" / "warn" / "error"; returns -1 otherwise. */
int xd_log_level_parse(const char *name);

/* Sets this thread's request id ("" or NULL clears it). */
void xd_log_set_request_id(const char *request_id);

int xd_log_enabled(xd_log_level level);

void xd_log(xd_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define XD_DEBUG(...) xd_log(XD_LOG_DEBUG, __VA_ARGS__)
#define XD_INFO(...)  xd_log(XD_LOG_INFO, __VA_ARGS__)
#define XD_WARN(...)  xd_log(XD_LOG_WARN, __VA_ARGS__)
#define XD_ERROR(...) xd_log(XD_LOG_ERROR, __VA_ARGS__)

#endif
