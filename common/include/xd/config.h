/*
 * config.h: typed, validated configuration: defaults < file < environment.
 *
 * A service declares its keys in a table of xd_config_item. xd_config_load()
 * takes each key's default, then the value in the config file (lines
 * `key = value`, `#` comments), then the environment variable
 * XD_<SERVICE>_<KEY> (key upper-cased, '.' and '-' as '_'). Every value is
 * parsed and checked against the item's type and bounds; the first bad one
 * fails the load with a message naming the key, the source and what is
 * allowed. Thread-safety: a loaded xd_config is read-only and may be shared.
 */
#ifndef XD_CONFIG_H
#define XD_CONFIG_H

#include <stdint.h>
#include "xd/status.h"

typedef enum xd_config_type {
    XD_CFG_STRING = 0,
    XD_CFG_INT,      /* decimal integer within [min, max] */
    XD_CFG_BOOL,     /* true/false, yes/no, on/off, 1/0 */
    XD_CFG_DURATION, /* "250ms", "5s", "10m", "4h", "3d" or plain ms; stored as ms */
    XD_CFG_SIZE,     /* "512", "64k", "10m", "1g" bytes */
    XD_CFG_ENUM,     /* one of choices */
} xd_config_type;

typedef struct xd_config_item {
    const char *key; /* "db_path", "smtp.timeout_connect" */
    xd_config_type type;
    const char *default_value;  /* text, parsed like any other source; NULL = "" */
    const char *help;           /* one line for --help and error messages */
    int64_t min, max;           /* INT, DURATION, SIZE bounds (both 0 = unbounded) */
    const char *const *choices; /* ENUM: NULL-terminated list */
    int secret;                 /* value never printed */
    int required;               /* an empty value is an error */
} xd_config_item;

typedef struct xd_config xd_config;

/* Loads items for service. file may be NULL (no file). On success writes
 * *out (free with xd_config_free) and returns XD_OK; otherwise returns
 * XD_INVALID_ARGUMENT with err naming the key. Items from several tables may
 * be passed by calling with a concatenated table. */
xd_code xd_config_load(const char *service, const xd_config_item *items, int n_items,
                       const char *file, xd_config **out, xd_err *err);
void xd_config_free(xd_config *cfg);

/* Accessors; a key that was not declared aborts (a programming error). */
const char *xd_config_str(const xd_config *cfg, const char *key);
int64_t xd_config_int(const xd_config *cfg, const char *key); /* INT, DURATION, SIZE, BOOL */
int xd_config_bool(const xd_config *cfg, const char *key);

/* The environment variable name for key ("XD_SENDER_DB_PATH"), into out. */
void xd_config_env_name(const char *service, const char *key, char *out, unsigned out_size);

/* Prints every key with its value (secrets as ***) and help, for --help. */
void xd_config_print(const xd_config *cfg, int fd);

/* Parsers shared with other modules; return 0 on success, -1 on bad text. */
int xd_parse_duration_ms(const char *text, int64_t *out);
int xd_parse_size(const char *text, int64_t *out);
int xd_parse_bool(const char *text, int *out);

#endif
