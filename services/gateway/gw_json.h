/*
 * gw_json.h: the proto3 JSON mapping, for any message, driven by protobuf-c
 * descriptors (one mapper for every method; nothing is written per message).
 *
 * To JSON: lowerCamelCase names, fields at their default value omitted,
 * 64-bit integers as strings, bytes as standard base64, enums by name
 * (an unknown number as a number), NaN/Infinity as strings, repeated fields
 * as arrays, messages as objects.
 * From JSON: the same, and also the proto field names (snake_case), 64-bit
 * and 32-bit integers as numbers or strings, url-safe or
 * unpadded base64, enum numbers (kept even when unnamed: proto3 enums are
 * open), null for "default". Rejected with INVALID_ARGUMENT and the
 * field's path named ("to[2].address"): unknown fields, a field given twice
 * (in both spellings), two members of one oneof, wrong JSON types, numbers
 * out of range or not integral, strings with NUL, bad base64, unknown enum
 * names, nesting deeper than GW_JSON_MAX_DEPTH, text that is not JSON.
 * Proto maps are not supported (the contracts have none).
 *
 * Memory: parsed messages live in the arena given; rendered text is malloc'd.
 * Thread-safety: pure functions.
 */
#ifndef GW_JSON_H
#define GW_JSON_H

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include "xd/arena.h"
#include "xd/status.h"

#define GW_JSON_MAX_DEPTH 32

/* Parses text (len bytes, need not be NUL-terminated; empty = {}) into a new
 * message of desc in arena. */
xd_code gw_json_parse(const char *text, size_t len, const ProtobufCMessageDescriptor *desc,
                      xd_arena *arena, ProtobufCMessage **out, xd_err *err);

/* Same from a parsed JSON value (must be an object). */
xd_code gw_json_to_message(const json_t *value, const ProtobufCMessageDescriptor *desc,
                           xd_arena *arena, ProtobufCMessage **out, xd_err *err);

/* The JSON object for m (new reference; NULL on out-of-memory). */
json_t *gw_json_from_message(const ProtobufCMessage *m);

/* m as JSON text, compact or indented; malloc'd, caller frees. */
char *gw_json_dump(const ProtobufCMessage *m, int pretty);

/* lowerCamelCase of a proto field name into out. */
void gw_json_name(const char *proto_name, char *out, size_t out_size);

/* Standard base64 of data (malloc'd); and decoding of standard or url-safe,
 * padded or not, into arena (NULL and -1 on bad input). */
char *gw_base64_encode(const uint8_t *data, size_t len);
int gw_base64_decode(const char *text, size_t len, xd_arena *arena, uint8_t **out, size_t *out_len);

#endif
