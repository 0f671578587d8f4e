/* config.c: defaults < file < environment, every value validated. */
#include "xd/config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define CONFIG_LINE_MAX  4096
#define CONFIG_VALUE_MAX 4096

typedef struct config_value {
    const xd_config_item *item;
    char *text;     /* the value as given */
    int64_t number; /* parsed INT / DURATION / SIZE / BOOL */
} config_value;

struct xd_config {
    config_value *values;
    int n;
};

int xd_parse_duration_ms(const char *text, int64_t *out)
{
    static const struct {
        const char *suffix;
        int64_t ms;
    } units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}};
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (end == text || errno || v < 0)
        return -1;
    if (*end == '\0') {
        *out = v;
        return 0;
    }
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(end, units[i].suffix) == 0) {
            if (v > INT64_MAX / units[i].ms)
                return -1;
            *out = v * units[i].ms;
            return 0;
        }
    }
    return -1;
}

int xd_parse_size(const char *text, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (end == text || errno || v < 0)
        return -1;
    int64_t mult = 1;
    if (*end) {
        switch (tolower((unsigned char)*end)) {
        case 'k':
            mult = 1024;
            break;
        case 'm':
            mult = 1024 * 1024;
            break;
        case 'g':
            mult = 1024LL * 1024 * 1024;
            break;
        default:
            return -1;
        }
        end++;
        if (*end == 'b' || *end == 'B')
            end++;
        if (*end)
            return -1;
    }
    if (v > INT64_MAX / mult)
        return -1;
    *out = v * mult;
    return 0;
}

int xd_parse_bool(const char *text, int *out)
{
    static const char *const yes[] = {"1", "true", "yes", "on"};
    static const char *const no[] = {"0", "false", "no", "off"};
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(text, yes[i]) == 0)
            return *out = 1, 0;
        if (strcasecmp(text, no[i]) == 0)
            return *out = 0, 0;
    }
    return -1;
}

void xd_config_env_name(const char *service, const char *key, char *out, unsigned out_size)
{
    snprintf(out, out_size, "XD_%s_%s", service, key);
    for (char *p = out; *p; p++)
        *p = (*p == '.' || *p == '-') ? '_' : (char)toupper((unsigned char)*p);
}

static void describe_allowed(const xd_config_item *it, char *out, size_t size)
{
    switch (it->type) {
    case XD_CFG_ENUM: {
        size_t n = (size_t)snprintf(out, size, "one of:");
        for (const char *const *c = it->choices; c && *c && n < size; c++)
            n += (size_t)snprintf(out + n, size - n, " %s", *c);
        return;
    }
    case XD_CFG_BOOL:
        snprintf(out, size, "true/false, yes/no, on/off, 1/0");
        return;
    case XD_CFG_INT:
        snprintf(out, size, "an integer");
        break;
    case XD_CFG_DURATION:
        snprintf(out, size, "a duration such as 250ms, 5s, 10m, 4h, 3d");
        break;
    case XD_CFG_SIZE:
        snprintf(out, size, "a size such as 512, 64k, 10m, 1g");
        break;
    case XD_CFG_STRING:
        snprintf(out, size, "a non-empty string");
        return;
    }
    if (it->min || it->max) {
        size_t n = strlen(out);
        snprintf(out + n, size - n, " from %lld to %lld", (long long)it->min, (long long)it->max);
    }
}

/* Parses and checks one value for its item; source names where it came from. */
static xd_code set_value(config_value *v, const char *text, const char *source, xd_err *err)
{
    const xd_config_item *it = v->item;
    int64_t number = 0;
    int ok = 0;
    switch (it->type) {
    case XD_CFG_STRING:
        ok = !(it->required && text[0] == '\0');
        break;
    case XD_CFG_INT: {
        char *end;
        errno = 0;
        long long n = strtoll(text, &end, 10);
        ok = end != text && *end == '\0' && !errno;
        number = n;
        break;
    }
    case XD_CFG_BOOL: {
        int b = 0;
        ok = xd_parse_bool(text, &b) == 0;
        number = b;
        break;
    }
    case XD_CFG_DURATION:
        ok = xd_parse_duration_ms(text, &number) == 0;
        break;
    case XD_CFG_SIZE:
        ok = xd_parse_size(text, &number) == 0;
        break;
    case XD_CFG_ENUM:
        for (const char *const *c = it->choices; c && *c; c++)
            if (strcmp(*c, text) == 0)
                ok = 1;
        break;
    }
    if (ok && (it->type == XD_CFG_INT || it->type == XD_CFG_DURATION || it->type == XD_CFG_SIZE) &&
        (it->min || it->max) && (number < it->min || number > it->max))
        ok = 0;
    if (!ok) {
        char allowed[512];
        describe_allowed(it, allowed, sizeof(allowed));
        return xd_err_field(err, XD_INVALID_ARGUMENT, it->key,
                            "config key '%s' from %s has value '%s'; allowed: %s (%s)", it->key,
                            source, it->secret ? "***" : text, allowed, it->help ? it->help : "");
    }
    char *copy = strdup(text);
    if (!copy)
        return xd_err_set(err, XD_INTERNAL, "out of memory loading config");
    free(v->text);
    v->text = copy;
    v->number = number;
    return XD_OK;
}

static config_value *find_value(const xd_config *cfg, const char *key)
{
    for (int i = 0; i < cfg->n; i++)
        if (strcmp(cfg->values[i].item->key, key) == 0)
            return &cfg->values[i];
    return NULL;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

static xd_code load_file(xd_config *cfg, const char *file, xd_err *err)
{
    FILE *f = fopen(file, "r");
    if (!f)
        return xd_err_set(err, XD_INVALID_ARGUMENT, "cannot read config file %s: %s", file,
                          strerror(errno));
    char line[CONFIG_LINE_MAX];
    int lineno = 0;
    xd_code rc = XD_OK;
    while (rc == XD_OK && fgets(line, sizeof(line), f)) {
        lineno++;
        char *s = trim(line);
        if (*s == '\0' || *s == '#')
            continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            rc =
                xd_err_set(err, XD_INVALID_ARGUMENT, "%s:%d: expected 'key = value'", file, lineno);
            break;
        }
        *eq = '\0';
        char *key = trim(s), *value = trim(eq + 1);
        config_value *v = find_value(cfg, key);
        if (!v) {
            rc = xd_err_field(err, XD_INVALID_ARGUMENT, key, "%s:%d: unknown config key '%s'", file,
                              lineno, key);
            break;
        }
        char source[600];
        snprintf(source, sizeof(source), "%s:%d", file, lineno);
        rc = set_value(v, value, source, err);
    }
    fclose(f);
    return rc;
}

xd_code xd_config_load(const char *service, const xd_config_item *items, int n_items,
                       const char *file, xd_config **out, xd_err *err)
{
    xd_config *cfg = calloc(1, sizeof(*cfg));
    if (!cfg || !(cfg->values = calloc((size_t)n_items, sizeof(config_value)))) {
        free(cfg);
        return xd_err_set(err, XD_INTERNAL, "out of memory loading config");
    }
    cfg->n = n_items;
    xd_code rc = XD_OK;
    for (int i = 0; rc == XD_OK && i < n_items; i++) {
        cfg->values[i].item = &items[i];
        rc = set_value(&cfg->values[i], items[i].default_value ? items[i].default_value : "",
                       "the built-in default", err);
    }
    if (rc == XD_OK && file && file[0])
        rc = load_file(cfg, file, err);
    for (int i = 0; rc == XD_OK && i < n_items; i++) {
        char env[256];
        xd_config_env_name(service, items[i].key, env, sizeof(env));
        const char *value = getenv(env);
        if (!value)
            continue;
        if (strlen(value) > CONFIG_VALUE_MAX) {
            rc = xd_err_field(err, XD_INVALID_ARGUMENT, items[i].key,
                              "environment variable %s is longer than %d bytes", env,
                              CONFIG_VALUE_MAX);
            break;
        }
        char source[300];
        snprintf(source, sizeof(source), "environment variable %s", env);
        rc = set_value(&cfg->values[i], value, source, err);
    }
    if (rc != XD_OK) {
        xd_config_free(cfg);
        return rc;
    }
    *out = cfg;
    return XD_OK;
}

void xd_config_free(xd_config *cfg)
{
    if (!cfg)
        return;
    for (int i = 0; i < cfg->n; i++)
        free(cfg->values[i].text);
    free(cfg->values);
    free(cfg);
}

static config_value *must_find(const xd_config *cfg, const char *key)
{
    config_value *v = find_value(cfg, key);
    if (!v) {
        fprintf(stderr, "xd_config: key '%s' was never declared\n", key);
        abort();
    }
    return v;
}

const char *xd_config_str(const xd_config *cfg, const char *key)
{
    return must_find(cfg, key)->text;
}

int64_t xd_config_int(const xd_config *cfg, const char *key)
{
    return must_find(cfg, key)->number;
}

int xd_config_bool(const xd_config *cfg, const char *key)
{
    return must_find(cfg, key)->number != 0;
}

void xd_config_print(const xd_config *cfg, int fd)
{
    FILE *f = fdopen(dup(fd), "w");
    if (!f)
        return;
    for (int i = 0; i < cfg->n; i++) {
        const xd_config_item *it = cfg->values[i].item;
        fprintf(f, "  %-28s = %-24s  %s\n", it->key, it->secret ? "***" : cfg->values[i].text,
                it->help ? it->help : "");
    }
    fclose(f);
}
