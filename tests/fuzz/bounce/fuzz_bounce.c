/* fuzz_bounce.c: verify's inbound parsers (MIME, DSN/prose bounces, ARF
 * reports, reply classification) must survive any bytes: they read mail
 * that strangers send us. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vf_arf.h"
#include "vf_bounce.h"
#include "vf_classify.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *raw = (const char *)data;
    vf_bounce *b = malloc(sizeof(*b));
    if (b && vf_bounce_parse(raw, size, b) == 0) {
        for (int i = 0; i < b->n; i++) /* outputs must be terminated strings */
            if (strlen(b->rcpts[i].recipient) >= sizeof(b->rcpts[i].recipient))
                abort();
    }
    free(b);
    vf_arf *a = malloc(sizeof(*a));
    if (a)
        vf_arf_parse(raw, size, a);
    free(a);
    /* The classifier sees reply text straight from remote servers. */
    char text[512];
    size_t n = size < sizeof(text) - 1 ? size : sizeof(text) - 1;
    memcpy(text, data, n);
    text[n] = '\0';
    unsigned code = size >= 2 ? (unsigned)(data[0] << 8 | data[1]) % 1000 : 0;
    vf_classify(code, size > 6 ? text + 1 : "", text);
    return 0;
}
