/* log.c: single-line structured logging to stderr. */
#include "xd/log.h"
#include "xd/clock.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static char log_service[32] = "xdmail";
static int log_min_level = XD_LOG_INFO;
static _Thread_local char log_request_id[48];

static const char *const level_names[] = {"DEBUG", "INFO", "WARN", "ERROR"};

void xd_log_init(const char *service, xd_log_level level)
{
    snprintf(log_service, sizeof(log_service), "%s", service ? service : "xdmail");
    log_min_level = level;
}

int xd_log_level_parse(const char *name)
{
    static const char *const lower[] = {"debug", "info", "warn", "error"};
    for (int i = 0; name && i < 4; i++)
        if (strcasecmp(name, lower[i]) == 0)
            return i;
    return -1;
}

void xd_log_set_request_id(const char *request_id)
{
    snprintf(log_request_id, sizeof(log_request_id), "%s", request_id ? request_id : "");
}

int xd_log_enabled(xd_log_level level)
{
    return (int)level >= log_min_level;
}

void xd_log(xd_log_level level, const char *fmt, ...)
{
    if (!xd_log_enabled(level))
        return;
    char line[2048];
    char when[32];
    xd_format_rfc3339(xd_clock_now_ms(xd_clock_system()), when, sizeof(when));
    int n = snprintf(line, sizeof(line), "%s %s %s", when, level_names[level & 3], log_service);
    if (log_request_id[0] && n < (int)sizeof(line))
        n += snprintf(line + n, sizeof(line) - (size_t)n, " req=%s", log_request_id);
    if (n < (int)sizeof(line) - 1) {
        line[n++] = ' ';
        va_list ap;
        va_start(ap, fmt);
        int m = vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
        va_end(ap);
        n = (m < 0) ? n : n + m;
    }
    if (n > (int)sizeof(line) - 2)
        n = (int)sizeof(line) - 2; /* truncated: keep one line */
    /* A log line is one line: control characters from input cannot forge others. */
    for (int i = 0; i < n; i++)
        if (line[i] == '\n' || line[i] == '\r')
            line[i] = ' ';
    line[n++] = '\n';
    ssize_t ignored = write(STDERR_FILENO, line, (size_t)n);
    (void)ignored;
}
