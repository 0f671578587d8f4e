/* fuzz_validate.c: libFuzzer harness for a new ticket's validation (RFC 3339
 * times, addresses and domains, text checks, the problems message) and
 * ticket id parsing. Input: two enum bytes, then fields separated by NUL. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tk_validate.h"

#define FIELDS 10

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2 || size > 64 * 1024)
        return 0;
    char *copy = malloc(size - 2 + 1);
    memcpy(copy, data + 2, size - 2);
    copy[size - 2] = '\0';
    const char *field[FIELDS];
    char *p = copy, *end = copy + (size - 2);
    for (int i = 0; i < FIELDS; i++) {
        field[i] = p < end ? p : "";
        if (p < end)
            p += strlen(p) + 1;
    }
    tk_create_input in = {
        .occurred_at = field[0],
        .recipient = field[1],
        .recipient_domain = field[2],
        .module = field[3],
        .other_domain_tried = (int8_t)data[0],
        .other_domain = field[4],
        .issue_type = (int8_t)data[1],
        .description = field[5],
        .additional_info = field[6],
        .reporter = field[7],
        .message_id = field[8],
        .idempotency_key = field[9],
    };
    tk_create_valid v;
    tk_problems problems;
    if (tk_validate_create(&in, 1795780800000LL, &v, &problems) > 0) {
        char msg[512];
        tk_problems_message(&problems, msg, sizeof(msg));
    }
    (void)tk_parse_id(field[0]);
    free(copy);
    return 0;
}
