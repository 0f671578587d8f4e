/*
 * xc_commands.h: xdctl's commands as data. Each names one Gateway method and
 * how its arguments become the JSON request: positional words and --options
 * map to field paths ("from.address", "to[].address" for a comma-separated
 * list, "page.pageSize"), with a kind (text, number, flag, enum with its
 * prefix, time in RFC 3339 or Unix ms, file contents). Local commands
 * (bootstrap) have no method. Thread-safety: single-threaded CLI.
 */
#ifndef XC_COMMANDS_H
#define XC_COMMANDS_H

#include <jansson.h>

typedef enum xc_kind {
    XC_TEXT = 0,
    XC_FLAG,   /* no value: true */
    XC_ENUM,   /* "transactional" -> prefix + "TRANSACTIONAL" */
    XC_TIME,   /* "2026-11-27T09:15:00Z", "2026-11-27" or Unix ms -> ms */
    XC_NUMBER, /* decimal */
    XC_FILE,   /* the file's contents (a policy, a password) */
    XC_FILE64, /* a binary file's contents as base64 (a bytes field: an image) */
} xc_kind;

typedef struct xc_arg {
    const char *flag; /* "--to"; NULL for a positional argument */
    const char *path; /* JSON field path */
    xc_kind kind;
    const char *prefix; /* XC_ENUM */
    int required;
    const char *help; /* "ADDR[,ADDR...]" */
} xc_arg;

#define XC_ARGS_MAX 12

typedef struct xc_command {
    const char *group;  /* "org", "key", ... or NULL */
    const char *name;   /* "create" */
    const char *help;   /* one paragraph */
    const char *method; /* Gateway method; NULL = local command; "" = `call` */
    const char *fixed;  /* JSON merged into every request, or NULL */
    xc_arg args[XC_ARGS_MAX];
} xc_command;

extern const xc_command xc_commands[];
extern const int xc_n_commands;

/* Builds cmd's request from argv (after the command words). Returns 0, or 1
 * after printing what is wrong. */
int xc_build(const xc_command *cmd, int argc, char **argv, json_t *req);

/* "usage: xdctl org suspend ORG_ID --reason TEXT" and the options. */
void xc_print_usage(const xc_command *cmd);

/* Runs `bootstrap` (local, no gateway). Returns the exit code. */
int xc_bootstrap(int argc, char **argv);

#endif
