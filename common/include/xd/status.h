/*
 * status.h: gRPC status codes and the error value every xdmail layer returns.
 *
 * An xd_err carries a code and a human message that says what was wrong and
 * how to fix it; `field` names the offending input when there is one.
 * Thread-safety: plain values, no shared state.
 */
#ifndef XD_STATUS_H
#define XD_STATUS_H

#include <stddef.h>

typedef enum xd_code {
    XD_OK = 0,
    XD_CANCELLED = 1,
    XD_UNKNOWN = 2,
    XD_INVALID_ARGUMENT = 3,
    XD_DEADLINE_EXCEEDED = 4,
    XD_NOT_FOUND = 5,
    XD_ALREADY_EXISTS = 6,
    XD_PERMISSION_DENIED = 7,
    XD_RESOURCE_EXHAUSTED = 8,
    XD_FAILED_PRECONDITION = 9,
    XD_ABORTED = 10,
    XD_OUT_OF_RANGE = 11,
    XD_UNIMPLEMENTED = 12,
    XD_INTERNAL = 13,
    XD_UNAVAILABLE = 14,
    XD_DATA_LOSS = 15,
    XD_UNAUTHENTICATED = 16,
} xd_code;

#define XD_ERR_MESSAGE_MAX 512
#define XD_ERR_FIELD_MAX   64

typedef struct xd_err {
    xd_code code;
    char message[XD_ERR_MESSAGE_MAX];
    char field[XD_ERR_FIELD_MAX]; /* offending input field, "" if none */
    long long retry_after_ms;     /* with RESOURCE_EXHAUSTED / UNAVAILABLE */
} xd_err;

/* "INVALID_ARGUMENT" for XD_INVALID_ARGUMENT; "UNKNOWN" for out-of-range codes. */
const char *xd_code_name(int code);

/* Parses a name such as "NOT_FOUND"; returns -1 when it is not a code name. */
int xd_code_from_name(const char *name);

/* Clears err to OK. Accepts NULL. */
void xd_err_clear(xd_err *err);

/* Sets code and a printf-style message; returns code so callers can
 * `return xd_err_set(err, XD_NOT_FOUND, "...")`. Accepts a NULL err. */
xd_code xd_err_set(xd_err *err, xd_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Same, and records the offending field name. */
xd_code xd_err_field(xd_err *err, xd_code code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
