/* xc_output.c: tables, key/value lines, CSV and JSON for any reply message. */
#include "xc_output.h"
#include "gw_json.h"
#include "xd/clock.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define COLS_MAX  48
#define NAME_MAX_ 128

typedef struct column {
    char key[NAME_MAX_];           /* JSON name of the field */
    char sub[NAME_MAX_];           /* nested field, "" for a direct one */
    char title[2 * NAME_MAX_ + 2]; /* "key" or "key.sub" */
    int time_ms;                   /* field name ends in _ms and means a moment */
} column;

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* Fields that hold a moment (Unix ms) rather than a duration. */
static int is_time(const char *proto_name)
{
    return ends_with(proto_name, "_at_ms") || ends_with(proto_name, "since_ms");
}

/* Text of a JSON scalar for people (times as RFC 3339) or for CSV (raw). */
static char *cell(const json_t *v, int time_ms, int human)
{
    if (!v || json_is_null(v))
        return strdup("");
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        if (human && time_ms) {
            long long ms = atoll(s);
            if (ms > 0) {
                char t[40];
                xd_format_rfc3339(ms, t, sizeof(t));
                return strdup(t);
            }
        }
        return strdup(s);
    }
    if (json_is_true(v))
        return strdup("true");
    if (json_is_false(v))
        return strdup("false");
    if (json_is_array(v)) {
        char *joined = strdup("");
        for (size_t i = 0; joined && i < json_array_size(v); i++) {
            char *c = cell(json_array_get(v, i), time_ms, human);
            size_t n = strlen(joined) + strlen(c) + 2;
            char *next = malloc(n);
            if (next)
                snprintf(next, n, "%s%s%s", joined, i ? "," : "", c);
            free(joined);
            free(c);
            joined = next;
        }
        return joined;
    }
    return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
}

static const json_t *column_value(const json_t *row, const column *c)
{
    const json_t *v = json_object_get(row, c->key);
    if (c->sub[0])
        v = json_is_object(v) ? json_object_get(v, c->sub) : NULL;
    return v;
}

/* Columns of a message: scalar fields, and one level of nested scalars. */
static int columns_of(const ProtobufCMessageDescriptor *d, column *cols, int max)
{
    int n = 0;
    for (unsigned i = 0; i < d->n_fields && n < max; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        char key[NAME_MAX_];
        gw_json_name(f->name, key, sizeof(key));
        if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
            if (f->label == PROTOBUF_C_LABEL_REPEATED)
                continue;
            const ProtobufCMessageDescriptor *sd = f->descriptor;
            for (unsigned k = 0; k < sd->n_fields && n < max; k++) {
                const ProtobufCFieldDescriptor *sf = &sd->fields[k];
                if (sf->type == PROTOBUF_C_TYPE_MESSAGE)
                    continue;
                column *c = &cols[n++];
                snprintf(c->key, sizeof(c->key), "%s", key);
                gw_json_name(sf->name, c->sub, sizeof(c->sub));
                snprintf(c->title, sizeof(c->title), "%s.%s", key, c->sub);
                c->time_ms = is_time(sf->name);
            }
            continue;
        }
        column *c = &cols[n++];
        snprintf(c->key, sizeof(c->key), "%s", key);
        c->sub[0] = '\0';
        snprintf(c->title, sizeof(c->title), "%s", key);
        c->time_ms = is_time(f->name);
    }
    return n;
}

static void csv_field(FILE *out, const char *s)
{
    if (strpbrk(s, ",\"\r\n") == NULL) {
        fputs(s, out);
        return;
    }
    fputc('"', out);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', out);
        fputc(*s, out);
    }
    fputc('"', out);
}

static void print_rows(FILE *out, const json_t *rows, const ProtobufCMessageDescriptor *d,
                       xc_format format)
{
    column cols[COLS_MAX];
    int n = columns_of(d, cols, COLS_MAX);
    size_t n_rows = json_array_size(rows);
    int human = format == XC_TABLE;
    size_t width[COLS_MAX] = {0};
    int used[COLS_MAX] = {0};
    for (int c = 0; c < n; c++) {
        width[c] = strlen(cols[c].title);
        used[c] = !human; /* CSV keeps every column, tables drop empty ones */
        for (size_t r = 0; r < n_rows; r++) {
            char *t = cell(column_value(json_array_get(rows, r), &cols[c]), cols[c].time_ms, 1);
            if (t && t[0]) {
                used[c] = 1;
                if (strlen(t) > width[c])
                    width[c] = strlen(t);
            }
            free(t);
        }
    }
    int first = 1;
    for (int c = 0; c < n; c++) {
        if (!used[c])
            continue;
        if (human)
            fprintf(out, "%s%-*s", first ? "" : "  ", (int)width[c], cols[c].title);
        else {
            if (!first)
                fputc(',', out);
            csv_field(out, cols[c].title);
        }
        first = 0;
    }
    fputc('\n', out);
    for (size_t r = 0; r < n_rows; r++) {
        first = 1;
        for (int c = 0; c < n; c++) {
            if (!used[c])
                continue;
            char *t = cell(column_value(json_array_get(rows, r), &cols[c]), cols[c].time_ms, human);
            if (human)
                fprintf(out, "%s%-*s", first ? "" : "  ", (int)width[c], t ? t : "");
            else {
                if (!first)
                    fputc(',', out);
                csv_field(out, t ? t : "");
            }
            free(t);
            first = 0;
        }
        fputc('\n', out);
    }
}

/* JSON names of moments: "createdAtMs", "statusSinceMs", "sinceMs". */
static int json_is_time(const char *key)
{
    return ends_with(key, "AtMs") || ends_with(key, "SinceMs") || strcmp(key, "sinceMs") == 0;
}

static void print_value(FILE *out, const char *title, const json_t *v, int depth)
{
    if (json_is_object(v) && depth < 6) {
        const char *key;
        json_t *sub;
        json_object_foreach((json_t *)v, key, sub)
        {
            char t[512];
            snprintf(t, sizeof(t), "%s.%s", title, key);
            print_value(out, t, sub, depth + 1);
        }
        return;
    }
    if (json_is_array(v) && json_array_size(v) && json_is_object(json_array_get(v, 0))) {
        for (size_t i = 0; i < json_array_size(v) && depth < 6; i++) {
            char t[512];
            snprintf(t, sizeof(t), "%s[%zu]", title, i);
            print_value(out, t, json_array_get(v, i), depth + 1);
        }
        return;
    }
    const char *last = strrchr(title, '.');
    char *text = cell(v, json_is_time(last ? last + 1 : title), 1);
    fprintf(out, "%s: %s\n", title, text ? text : "");
    free(text);
}

void xc_print(FILE *out, const ProtobufCMessage *reply, xc_format format)
{
    if (format == XC_JSON) {
        char *s = gw_json_dump(reply, 1);
        fprintf(out, "%s\n", s ? s : "{}");
        free(s);
        return;
    }
    const ProtobufCMessageDescriptor *d = reply->descriptor;
    json_t *j = gw_json_from_message(reply);
    const ProtobufCFieldDescriptor *list = NULL;
    for (unsigned i = 0; i < d->n_fields && !list; i++)
        if (d->fields[i].label == PROTOBUF_C_LABEL_REPEATED &&
            d->fields[i].type == PROTOBUF_C_TYPE_MESSAGE)
            list = &d->fields[i];
    char list_key[NAME_MAX_] = "";
    if (list)
        gw_json_name(list->name, list_key, sizeof(list_key));
    if (format == XC_CSV) {
        if (list) {
            json_t *rows = json_object_get(j, list_key);
            json_t *empty = json_array();
            print_rows(out, rows ? rows : empty, list->descriptor, XC_CSV);
            json_decref(empty);
        } else {
            json_t *rows = json_array();
            json_array_append(rows, j);
            print_rows(out, rows, d, XC_CSV);
            json_decref(rows);
        }
        json_decref(j);
        return;
    }
    /* People: the singular fields as "name: value" (nested ones dotted), then
     * the list as a table. */
    const char *key;
    json_t *v;
    json_object_foreach(j, key, v)
    {
        if (list && strcmp(key, list_key) == 0)
            continue;
        print_value(out, key, v, 0);
    }
    if (list) {
        json_t *rows = json_object_get(j, list_key);
        if (json_array_size(rows) == 0)
            fprintf(out, "(no %s)\n", list_key);
        else
            print_rows(out, rows, list->descriptor, XC_TABLE);
    }
    json_decref(j);
}
