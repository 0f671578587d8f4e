/* fuzz_json.c: libFuzzer harness for the gateway's proto3 JSON mapper.
 * Any input parsed into a real gateway/envelope message must render back to
 * JSON that parses again to the same protobuf bytes; anything else must be
 * refused with INVALID_ARGUMENT, never a crash. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common.pb-c.h"
#include "envelope.pb-c.h"
#include "gateway.pb-c.h"
#include "gw_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const ProtobufCMessageDescriptor *const targets[] = {
    &xd__request__descriptor,
    &xd__reply__descriptor,
    &xd__suite_health_reply__descriptor,
    &xd__create_api_key_request__descriptor,
    &xd__submit_request__descriptor,
    &xd__list_organizations_reply__descriptor,
    &xd__send_email_reply__descriptor,
};

static void check_round_trip(const ProtobufCMessage *m, xd_arena *arena)
{
    char *text = gw_json_dump(m, 0);
    if (!text)
        abort();
    ProtobufCMessage *back = NULL;
    xd_err err;
    if (gw_json_parse(text, strlen(text), m->descriptor, arena, &back, &err) != XD_OK)
        abort(); /* our own output must be accepted */
    size_t n1 = protobuf_c_message_get_packed_size(m);
    size_t n2 = protobuf_c_message_get_packed_size(back);
    uint8_t *b1 = xd_arena_alloc(arena, n1 + 1), *b2 = xd_arena_alloc(arena, n2 + 1);
    protobuf_c_message_pack(m, b1);
    protobuf_c_message_pack(back, b2);
    if (n1 != n2 || memcmp(b1, b2, n1) != 0)
        abort();
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 1 << 16)
        return 0;
    for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
        xd_arena *arena = xd_arena_new();
        ProtobufCMessage *m = NULL;
        xd_err err;
        xd_err_clear(&err);
        xd_code rc = gw_json_parse((const char *)data, size, targets[i], arena, &m, &err);
        if (rc == XD_OK)
            check_round_trip(m, arena);
        else if (rc != XD_INVALID_ARGUMENT || !err.message[0])
            abort(); /* refusals are INVALID_ARGUMENT with a message */
        xd_arena_free(arena);
    }
    return 0;
}
