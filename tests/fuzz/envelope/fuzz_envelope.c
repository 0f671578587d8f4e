/* fuzz_envelope.c: the RPC envelope decoder and the server's request path
 * must survive any bytes: decode as xd.Request, then as xd.Reply, in an arena
 * like the server does. */
#include <stddef.h>
#include <stdint.h>

#include "envelope.pb-c.h"
#include "xd/arena.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    xd_arena *arena = xd_arena_new();
    Xd__Request *rq = xd__request__unpack(xd_arena_allocator(arena), size, data);
    if (rq) {
        /* Re-encode what we decoded: packing must not read out of bounds. */
        size_t n = xd__request__get_packed_size(rq);
        uint8_t *out = xd_arena_alloc(arena, n);
        xd__request__pack(rq, out);
    }
    Xd__Reply *rp = xd__reply__unpack(xd_arena_allocator(arena), size, data);
    if (rp && rp->n_details > 0)
        (void)rp->details[0]->field[0];
    xd_arena_free(arena);
    return 0;
}
