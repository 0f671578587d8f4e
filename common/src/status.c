/* status.c: gRPC code names and xd_err construction. */
#include "xd/status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const code_names[] = {
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
};

const char *xd_code_name(int code)
{
    if (code < 0 || code >= (int)(sizeof(code_names) / sizeof(code_names[0])))
        return "UNKNOWN";
    return code_names[code];
}

int xd_code_from_name(const char *name)
{
    for (int i = 0; name && i < (int)(sizeof(code_names) / sizeof(code_names[0])); i++)
        if (strcmp(code_names[i], name) == 0)
            return i;
    return -1;
}

void xd_err_clear(xd_err *err)
{
    if (!err)
        return;
    err->code = XD_OK;
    err->message[0] = '\0';
    err->field[0] = '\0';
    err->retry_after_ms = 0;
}

static void set_message(xd_err *err, xd_code code, const char *fmt, va_list ap)
{
    err->code = code;
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
}

xd_code xd_err_set(xd_err *err, xd_code code, const char *fmt, ...)
{
    if (!err)
        return code;
    va_list ap;
    va_start(ap, fmt);
    set_message(err, code, fmt, ap);
    va_end(ap);
    err->field[0] = '\0';
    return code;
}

xd_code xd_err_field(xd_err *err, xd_code code, const char *field, const char *fmt, ...)
{
    if (!err)
        return code;
    va_list ap;
    va_start(ap, fmt);
    set_message(err, code, fmt, ap);
    va_end(ap);
    snprintf(err->field, sizeof(err->field), "%s", field ? field : "");
    return code;
}
