/*
 * xc_output.h: prints a reply message for people (aligned tables and
 * "field: value" lines) or scripts (--json: the proto3 JSON mapping; --csv:
 * RFC 4180, one row per element of the reply's list, raw values).
 * Generic over descriptors: new methods print without new code.
 * Thread-safety: single-threaded CLI.
 */
#ifndef XC_OUTPUT_H
#define XC_OUTPUT_H

#include <protobuf-c/protobuf-c.h>
#include <stdio.h>

typedef enum xc_format { XC_TABLE = 0, XC_JSON, XC_CSV } xc_format;

void xc_print(FILE *out, const ProtobufCMessage *reply, xc_format format);

#endif
