/*
 * xc_commands.h: xdctl's commands. Each turns its arguments into one
 * Gateway method and a JSON request (then xdctl.c calls and prints), or runs
 * locally (bootstrap). Thread-safety: single-threaded CLI.
 */
#ifndef XC_COMMANDS_H
#define XC_COMMANDS_H

#include <jansson.h>

typedef struct xc_command {
    const char *group;  /* "org", "key", ... or NULL for a top-level command */
    const char *name;   /* "create" */
    const char *usage;  /* "NAME" */
    const char *help;   /* one paragraph */
    const char *method; /* Gateway method; NULL = local command */
    /* Builds the request from argv (after the command words) into *req.
     * Returns 0, or 1 after printing a usage error. */
    int (*build)(int argc, char **argv, json_t *req);
} xc_command;

extern const xc_command xc_commands[];
extern const int xc_n_commands;

/* Runs `bootstrap` (local, no gateway). Returns the exit code. */
int xc_bootstrap(int argc, char **argv);

#endif
