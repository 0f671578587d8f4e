/* gw_json.c: proto3 JSON <-> protobuf-c messages through their descriptors. */
#include "gw_json.h"

#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PATH_MAX_LEN 256
#define NAME_MAX_LEN 128

/* ---------------------------------------------------------------- names */

void gw_json_name(const char *proto_name, char *out, size_t out_size)
{
    size_t o = 0;
    int upper = 0;
    for (const char *p = proto_name; *p && o + 1 < out_size; p++) {
        if (*p == '_') {
            upper = 1;
            continue;
        }
        out[o++] = upper && *p >= 'a' && *p <= 'z' ? (char)(*p - 'a' + 'A') : *p;
        upper = 0;
    }
    out[o] = '\0';
}

/* ---------------------------------------------------------------- base64 */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *gw_base64_encode(const uint8_t *d, size_t len)
{
    char *out = malloc((len + 2) / 3 * 4 + 1);
    if (!out)
        return NULL;
    size_t o = 0, i = 0;
    for (; i + 2 < len; i += 3) {
        uint32_t v = (uint32_t)d[i] << 16 | (uint32_t)d[i + 1] << 8 | d[i + 2];
        out[o++] = b64[v >> 18];
        out[o++] = b64[(v >> 12) & 63];
        out[o++] = b64[(v >> 6) & 63];
        out[o++] = b64[v & 63];
    }
    if (i < len) {
        uint32_t v = (uint32_t)d[i] << 16 | (i + 1 < len ? (uint32_t)d[i + 1] << 8 : 0);
        out[o++] = b64[v >> 18];
        out[o++] = b64[(v >> 12) & 63];
        out[o++] = i + 1 < len ? b64[(v >> 6) & 63] : '=';
        out[o++] = '=';
    }
    out[o] = '\0';
    return out;
}

static int b64_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

int gw_base64_decode(const char *t, size_t len, xd_arena *arena, uint8_t **out, size_t *out_len)
{
    while (len > 0 && t[len - 1] == '=')
        len--;
    if (len % 4 == 1)
        return -1;
    uint8_t *buf = xd_arena_alloc(arena, len / 4 * 3 + 3);
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        int v = b64_value(t[i]);
        if (v < 0)
            return -1;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            buf[o++] = (uint8_t)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    *out = buf;
    *out_len = o;
    return 0;
}

/* ---------------------------------------------------------------- parse */

typedef struct parser {
    xd_arena *arena;
    xd_err *err;
    char path[PATH_MAX_LEN];
} parser;

static xd_code fail(parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static xd_code fail(parser *p, const char *fmt, ...)
{
    char msg[XD_ERR_MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return xd_err_field(p->err, XD_INVALID_ARGUMENT, p->path, "field '%s': %s", p->path, msg);
}

static size_t push_index(parser *p, size_t index)
{
    size_t old = strlen(p->path);
    snprintf(p->path + old, sizeof(p->path) - old, "[%zu]", index);
    return old;
}

static size_t push_name(parser *p, const char *name)
{
    size_t old = strlen(p->path);
    snprintf(p->path + old, sizeof(p->path) - old, "%s%s", old ? "." : "", name);
    return old;
}

static const char *type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    default:
        return "null";
    }
}

static size_t elem_size(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return 8;
    case PROTOBUF_C_TYPE_DOUBLE:
        return sizeof(double);
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_STRING:
        return sizeof(char *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(ProtobufCMessage *);
    default:
        return 4;
    }
}

static int is_signed(ProtobufCType t)
{
    return t == PROTOBUF_C_TYPE_INT32 || t == PROTOBUF_C_TYPE_SINT32 ||
           t == PROTOBUF_C_TYPE_SFIXED32 || t == PROTOBUF_C_TYPE_INT64 ||
           t == PROTOBUF_C_TYPE_SINT64 || t == PROTOBUF_C_TYPE_SFIXED64;
}

static int is_64(ProtobufCType t)
{
    return elem_size(t) == 8 && t != PROTOBUF_C_TYPE_DOUBLE;
}

/* Integer from a JSON number or a decimal string, range-checked. */
static xd_code parse_integer(parser *p, const json_t *v, ProtobufCType t, void *dst)
{
    int sgn = is_signed(t);
    long long s = 0;
    unsigned long long u = 0;
    if (json_is_integer(v)) {
        s = json_integer_value(v);
        u = (unsigned long long)s;
        if (!sgn && s < 0)
            return fail(p, "must not be negative");
    } else if (json_is_real(v)) {
        double d = json_real_value(v);
        if (d != floor(d) || !isfinite(d) || fabs(d) > 9007199254740992.0)
            return fail(p,
                        "%g is not an integer that a double holds exactly (send it as a "
                        "string)",
                        d);
        if (!sgn && d < 0)
            return fail(p, "must not be negative");
        s = (long long)d;
        u = (unsigned long long)s;
    } else if (json_is_string(v)) {
        const char *str = json_string_value(v);
        char *end = NULL;
        if (!str[0] || (str[0] != '-' && (str[0] < '0' || str[0] > '9')))
            return fail(p, "\"%.40s\" is not a decimal integer", str);
        errno = 0;
        if (sgn)
            s = strtoll(str, &end, 10);
        else if (str[0] == '-')
            return fail(p, "must not be negative");
        else
            u = strtoull(str, &end, 10);
        if (*end != '\0' || (size_t)(end - str) != json_string_length(v))
            return fail(p, "\"%.40s\" is not a decimal integer", str);
        if (errno == ERANGE)
            return fail(p, "\"%.40s\" is out of range", str);
        if (sgn)
            u = (unsigned long long)s;
    } else {
        return fail(p, "expected an integer (number or string), got %s", type_name(v));
    }
    if (is_64(t)) {
        if (sgn)
            *(int64_t *)dst = (int64_t)s;
        else
            *(uint64_t *)dst = (uint64_t)u;
        return XD_OK;
    }
    if (sgn) {
        if (s < INT32_MIN || s > INT32_MAX)
            return fail(p, "%lld is out of range for a 32-bit integer", s);
        *(int32_t *)dst = (int32_t)s;
    } else {
        if (u > UINT32_MAX)
            return fail(p, "%llu is out of range for an unsigned 32-bit integer", u);
        *(uint32_t *)dst = (uint32_t)u;
    }
    return XD_OK;
}

static xd_code parse_float(parser *p, const json_t *v, ProtobufCType t, void *dst)
{
    double d;
    if (json_is_number(v)) {
        d = json_number_value(v);
    } else if (json_is_string(v)) {
        const char *s = json_string_value(v);
        if (strcmp(s, "NaN") == 0)
            d = NAN;
        else if (strcmp(s, "Infinity") == 0)
            d = INFINITY;
        else if (strcmp(s, "-Infinity") == 0)
            d = -INFINITY;
        else {
            char *end = NULL;
            errno = 0;
            d = strtod(s, &end);
            if (!s[0] || *end || errno == ERANGE || !isfinite(d))
                return fail(p, "\"%.40s\" is not a number", s);
        }
    } else {
        return fail(p, "expected a number, got %s", type_name(v));
    }
    if (t == PROTOBUF_C_TYPE_FLOAT) {
        if (isfinite(d) && fabs(d) > FLT_MAX)
            return fail(p, "%g is out of range for a float", d);
        *(float *)dst = (float)d;
    } else {
        *(double *)dst = d;
    }
    return XD_OK;
}

static xd_code parse_message(parser *p, const json_t *obj, const ProtobufCMessageDescriptor *desc,
                             int depth, ProtobufCMessage **out);

static xd_code parse_value(parser *p, const json_t *v, const ProtobufCFieldDescriptor *f, int depth,
                           void *dst)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_BOOL:
        if (!json_is_boolean(v))
            return fail(p, "expected true or false, got %s", type_name(v));
        *(protobuf_c_boolean *)dst = json_is_true(v);
        return XD_OK;
    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_DOUBLE:
        return parse_float(p, v, f->type, dst);
    case PROTOBUF_C_TYPE_STRING:
        if (!json_is_string(v))
            return fail(p, "expected a string, got %s", type_name(v));
        if (strlen(json_string_value(v)) != json_string_length(v))
            return fail(p, "contains a NUL character (\\u0000)");
        *(char **)dst = xd_arena_strndup(p->arena, json_string_value(v), json_string_length(v));
        return XD_OK;
    case PROTOBUF_C_TYPE_BYTES: {
        if (!json_is_string(v))
            return fail(p, "expected base64 text, got %s", type_name(v));
        ProtobufCBinaryData *b = dst;
        if (gw_base64_decode(json_string_value(v), json_string_length(v), p->arena, &b->data,
                             &b->len) != 0)
            return fail(p, "is not valid base64");
        return XD_OK;
    }
    case PROTOBUF_C_TYPE_ENUM: {
        const ProtobufCEnumDescriptor *ed = f->descriptor;
        const ProtobufCEnumValue *ev = NULL;
        if (json_is_integer(v)) {
            /* proto3 enums are open: a number is kept even when unnamed. */
            if (json_integer_value(v) < INT32_MIN || json_integer_value(v) > INT32_MAX)
                return fail(p, "enum number out of range");
            *(int32_t *)dst = (int32_t)json_integer_value(v);
            return XD_OK;
        }
        if (json_is_string(v))
            ev = protobuf_c_enum_descriptor_get_value_by_name(ed, json_string_value(v));
        else
            return fail(p, "expected an enum name of %s, got %s", ed->name, type_name(v));
        if (!ev) {
            char names[256] = "";
            for (unsigned i = 0; i < ed->n_values; i++) {
                size_t n = strlen(names);
                snprintf(names + n, sizeof(names) - n, "%s%s", i ? ", " : "", ed->values[i].name);
            }
            return fail(p, "not a value of %s (one of: %s)", ed->name, names);
        }
        *(int32_t *)dst = ev->value;
        return XD_OK;
    }
    case PROTOBUF_C_TYPE_MESSAGE:
        if (!json_is_object(v))
            return fail(p, "expected an object, got %s", type_name(v));
        return parse_message(p, v, f->descriptor, depth + 1, (ProtobufCMessage **)dst);
    default:
        return parse_integer(p, v, f->type, dst);
    }
}

/* Finds the field a JSON key names: the proto name or its lowerCamelCase. */
static const ProtobufCFieldDescriptor *find_field(const ProtobufCMessageDescriptor *desc,
                                                  const char *key)
{
    const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(desc, key);
    if (f)
        return f;
    char json_name[NAME_MAX_LEN];
    for (unsigned i = 0; i < desc->n_fields; i++) {
        gw_json_name(desc->fields[i].name, json_name, sizeof(json_name));
        if (strcmp(json_name, key) == 0)
            return &desc->fields[i];
    }
    return NULL;
}

static xd_code parse_field(parser *p, const json_t *v, const ProtobufCFieldDescriptor *f, int depth,
                           ProtobufCMessage *m)
{
    char *base = (char *)m;
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
        if (!json_is_array(v))
            return fail(p, "expected an array, got %s", type_name(v));
        size_t n = json_array_size(v);
        size_t es = elem_size(f->type);
        char *arr = n ? xd_arena_alloc(p->arena, n * es) : NULL;
        for (size_t i = 0; i < n; i++) {
            const json_t *e = json_array_get(v, i);
            size_t old = push_index(p, i);
            if (json_is_null(e)) {
                xd_code rc = fail(p, "null is not allowed inside an array");
                p->path[old] = '\0';
                return rc;
            }
            xd_code rc = parse_value(p, e, f, depth, arr + i * es);
            if (rc != XD_OK)
                return rc;
            p->path[old] = '\0';
        }
        *(size_t *)(base + f->quantifier_offset) = n;
        *(void **)(base + f->offset) = arr;
        return XD_OK;
    }
    xd_code rc = parse_value(p, v, f, depth, base + f->offset);
    if (rc != XD_OK)
        return rc;
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
        *(uint32_t *)(base + f->quantifier_offset) = f->id;
    else if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->quantifier_offset &&
             f->type != PROTOBUF_C_TYPE_MESSAGE && f->type != PROTOBUF_C_TYPE_STRING)
        *(protobuf_c_boolean *)(base + f->quantifier_offset) = 1;
    return XD_OK;
}

static xd_code parse_message(parser *p, const json_t *obj, const ProtobufCMessageDescriptor *desc,
                             int depth, ProtobufCMessage **out)
{
    if (depth > GW_JSON_MAX_DEPTH)
        return fail(p, "messages nest deeper than %d levels", GW_JSON_MAX_DEPTH);
    ProtobufCMessage *m = xd_arena_message(p->arena, desc);
    unsigned char *seen = xd_arena_alloc(p->arena, desc->n_fields ? desc->n_fields : 1);
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v)
    {
        size_t old = push_name(p, key);
        const ProtobufCFieldDescriptor *f = find_field(desc, key);
        if (!f)
            return fail(p, "unknown field: %s has no field '%s'", desc->name, key);
        size_t idx = (size_t)(f - desc->fields);
        if (seen[idx])
            return fail(p, "given twice (as '%s' and another spelling)", key);
        seen[idx] = 1;
        if (!json_is_null(v)) {
            if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
                uint32_t c = *(uint32_t *)((char *)m + f->quantifier_offset);
                if (c != 0 && c != f->id)
                    return fail(p, "another member of the same oneof is already set");
            }
            xd_code rc = parse_field(p, v, f, depth, m);
            if (rc != XD_OK)
                return rc;
        }
        p->path[old] = '\0';
    }
    *out = m;
    return XD_OK;
}

xd_code gw_json_to_message(const json_t *value, const ProtobufCMessageDescriptor *desc,
                           xd_arena *arena, ProtobufCMessage **out, xd_err *err)
{
    parser p = {.arena = arena, .err = err};
    if (!json_is_object(value))
        return xd_err_set(err, XD_INVALID_ARGUMENT, "the body must be a JSON object (%s), not %s",
                          desc->name, type_name(value));
    return parse_message(&p, value, desc, 1, out);
}

xd_code gw_json_parse(const char *text, size_t len, const ProtobufCMessageDescriptor *desc,
                      xd_arena *arena, ProtobufCMessage **out, xd_err *err)
{
    size_t i = 0;
    while (i < len && (text[i] == ' ' || text[i] == '\t' || text[i] == '\r' || text[i] == '\n'))
        i++;
    if (i == len) {
        *out = xd_arena_message(arena, desc);
        return XD_OK;
    }
    json_error_t je;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return xd_err_set(err, XD_INVALID_ARGUMENT,
                          "body is not valid JSON: %s (line %d, column %d)", je.text, je.line,
                          je.column);
    xd_code rc = gw_json_to_message(root, desc, arena, out, err);
    json_decref(root);
    return rc;
}

/* ---------------------------------------------------------------- render */

static json_t *render_value(const ProtobufCFieldDescriptor *f, const void *src)
{
    char buf[32];
    switch (f->type) {
    case PROTOBUF_C_TYPE_BOOL:
        return json_boolean(*(const protobuf_c_boolean *)src);
    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_DOUBLE: {
        double d = f->type == PROTOBUF_C_TYPE_FLOAT ? *(const float *)src : *(const double *)src;
        if (isnan(d))
            return json_string("NaN");
        if (isinf(d))
            return json_string(d > 0 ? "Infinity" : "-Infinity");
        return json_real(d);
    }
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *)src;
        return json_string(s ? s : "");
    }
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *b = src;
        char *t = gw_base64_encode(b->data, b->len);
        json_t *j = t ? json_string(t) : NULL;
        free(t);
        return j;
    }
    case PROTOBUF_C_TYPE_ENUM: {
        int32_t v = *(const int32_t *)src;
        const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(f->descriptor, v);
        return ev ? json_string(ev->name) : json_integer(v);
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessage *m = *(ProtobufCMessage *const *)src;
        return m ? gw_json_from_message(m) : json_object();
    }
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        snprintf(buf, sizeof(buf), "%" PRId64, *(const int64_t *)src);
        return json_string(buf);
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        snprintf(buf, sizeof(buf), "%" PRIu64, *(const uint64_t *)src);
        return json_string(buf);
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        return json_integer(*(const uint32_t *)src);
    default:
        return json_integer(*(const int32_t *)src);
    }
}

/* 1 when a singular field holds its default (proto3 omits it). */
static int is_default(const ProtobufCFieldDescriptor *f, const void *src)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *)src;
        return !s || !s[0];
    }
    case PROTOBUF_C_TYPE_BYTES:
        return ((const ProtobufCBinaryData *)src)->len == 0;
    case PROTOBUF_C_TYPE_MESSAGE:
        return *(ProtobufCMessage *const *)src == NULL;
    case PROTOBUF_C_TYPE_FLOAT:
        return *(const float *)src == 0 && !signbit(*(const float *)src);
    case PROTOBUF_C_TYPE_DOUBLE:
        return *(const double *)src == 0 && !signbit(*(const double *)src);
    default: {
        static const char zero[8];
        return memcmp(src, zero, elem_size(f->type)) == 0;
    }
    }
}

json_t *gw_json_from_message(const ProtobufCMessage *m)
{
    const ProtobufCMessageDescriptor *desc = m->descriptor;
    const char *base = (const char *)m;
    json_t *obj = json_object();
    if (!obj)
        return NULL;
    char name[NAME_MAX_LEN];
    for (unsigned i = 0; i < desc->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &desc->fields[i];
        const void *src = base + f->offset;
        json_t *v = NULL;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)(base + f->quantifier_offset);
            if (n == 0)
                continue;
            const char *arr = *(char *const *)src;
            v = json_array();
            for (size_t k = 0; v && k < n; k++)
                json_array_append_new(v, render_value(f, arr + k * elem_size(f->type)));
        } else {
            if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
                if (*(const uint32_t *)(base + f->quantifier_offset) != f->id)
                    continue;
            } else if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->quantifier_offset &&
                       f->type != PROTOBUF_C_TYPE_MESSAGE && f->type != PROTOBUF_C_TYPE_STRING) {
                if (!*(const protobuf_c_boolean *)(base + f->quantifier_offset))
                    continue;
            } else if (is_default(f, src)) {
                continue;
            }
            v = render_value(f, src);
        }
        gw_json_name(f->name, name, sizeof(name));
        if (v)
            json_object_set_new(obj, name, v);
    }
    return obj;
}

char *gw_json_dump(const ProtobufCMessage *m, int pretty)
{
    json_t *j = gw_json_from_message(m);
    if (!j)
        return NULL;
    char *s = json_dumps(j, (pretty ? JSON_INDENT(2) : JSON_COMPACT) | JSON_PRESERVE_ORDER |
                                JSON_REAL_PRECISION(17));
    json_decref(j);
    return s;
}
