/* corpus.c: CSV and JSON-Schema-Test-Suite readers for the address tests. */
#include "corpus.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FIELDS 16
#define MAX_FILE   (4u << 20)

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "corpus: cannot open %s\n", path);
        return NULL;
    }
    char *buf = malloc(MAX_FILE + 1);
    size_t n = buf ? fread(buf, 1, MAX_FILE, f) : 0;
    fclose(f);
    if (!buf || n == MAX_FILE) {
        fprintf(stderr, "corpus: %s is missing or over %u bytes\n", path, MAX_FILE);
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* Splits one CSV record starting at *pos in place (quotes removed, "" -> ").
 * Returns the number of fields, 0 at end of input. */
static int csv_record(char *buf, size_t len, size_t *pos, char **fields)
{
    size_t i = *pos;
    if (i >= len)
        return 0;
    int nf = 0;
    for (;;) {
        char *w = buf + i, *start = w;
        if (buf[i] == '"') {
            i++;
            while (i < len) {
                if (buf[i] == '"' && i + 1 < len && buf[i + 1] == '"') {
                    *w++ = '"';
                    i += 2;
                } else if (buf[i] == '"') {
                    i++;
                    break;
                } else {
                    *w++ = buf[i++];
                }
            }
        } else {
            while (i < len && buf[i] != ',' && buf[i] != '\n' && buf[i] != '\r')
                *w++ = buf[i++];
        }
        char sep = i < len ? buf[i] : '\n';
        *w = '\0';
        if (nf < MAX_FIELDS)
            fields[nf++] = start;
        i++;
        if (sep == '\r' && i < len && buf[i] == '\n')
            i++;
        if (sep != ',')
            break;
    }
    *pos = i;
    return nf;
}

static int hex_val(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int push(corpus *c, const char *data, size_t len, int valid, int utf8_ok, const char *label)
{
    corpus_case *grown = realloc(c->cases, (c->n + 1) * sizeof(*grown));
    if (!grown)
        return -1;
    c->cases = grown;
    corpus_case *k = &c->cases[c->n];
    k->input = malloc(len + 1);
    if (!k->input)
        return -1;
    memcpy(k->input, data, len);
    k->input[len] = '\0';
    k->len = len;
    k->valid = valid;
    k->utf8_ok = utf8_ok;
    snprintf(k->label, sizeof(k->label), "%s", label);
    c->n++;
    return 0;
}

int corpus_read_csv(const char *path, int hex_col, int valid_col, int label_col, corpus *out)
{
    size_t len = 0, pos = 0;
    char *buf = slurp(path, &len);
    if (!buf)
        return -1;
    memset(out, 0, sizeof(*out));
    char *f[MAX_FIELDS];
    int rc = 0, header = 1, nf;
    while ((nf = csv_record(buf, len, &pos, f)) > 0) {
        if (header) {
            header = 0;
            continue;
        }
        if (nf <= hex_col || nf <= valid_col || nf <= label_col) {
            fprintf(stderr, "corpus: %s: short record (%d fields)\n", path, nf);
            rc = -1;
            break;
        }
        size_t hl = strlen(f[hex_col]);
        char bytes[2048];
        if (hl % 2 || hl / 2 > sizeof(bytes)) {
            fprintf(stderr, "corpus: %s: bad hex field\n", path);
            rc = -1;
            break;
        }
        for (size_t i = 0; i < hl / 2; i++) {
            int hi = hex_val(f[hex_col][2 * i]), lo = hex_val(f[hex_col][2 * i + 1]);
            if (hi < 0 || lo < 0) {
                rc = -1;
                break;
            }
            bytes[i] = (char)(hi * 16 + lo);
        }
        char label[160];
        snprintf(label, sizeof(label), "#%s %s", f[0], f[label_col]);
        if (rc || push(out, bytes, hl / 2, strcmp(f[valid_col], "yes") == 0, 1, label)) {
            rc = -1;
            break;
        }
    }
    free(buf);
    if (rc)
        corpus_free(out);
    return rc;
}

int corpus_read_jsonschema(const char *path, corpus *out)
{
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    if (!root || !json_is_array(root)) {
        fprintf(stderr, "corpus: %s: %s\n", path, root ? "not an array" : jerr.text);
        json_decref(root);
        return -1;
    }
    memset(out, 0, sizeof(*out));
    /* idn-email is the RFC 6531 Mailbox; email is RFC 5321 (ASCII only). */
    int utf8_ok = strstr(path, "idn-email") != NULL;
    size_t gi, ti;
    json_t *group, *test;
    int rc = 0;
    json_array_foreach(root, gi, group)
    {
        json_array_foreach(json_object_get(group, "tests"), ti, test)
        {
            json_t *data = json_object_get(test, "data");
            if (!json_is_string(data))
                continue; /* formats ignore non-strings */
            const char *desc = json_string_value(json_object_get(test, "description"));
            if (push(out, json_string_value(data), json_string_length(data),
                     json_is_true(json_object_get(test, "valid")), utf8_ok, desc ? desc : "")) {
                rc = -1;
                break;
            }
        }
    }
    json_decref(root);
    if (rc)
        corpus_free(out);
    return rc;
}

void corpus_free(corpus *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->cases[i].input);
    free(c->cases);
    c->cases = NULL;
    c->n = 0;
}
