/* handlers.c: the NNG face: every Gateway method goes through one handler
 * that turns the xd_call into a gw_req (the API key is Caller.principal). */
#include "gw_handlers.h"
#include "gw_metrics.h"
#include "xd/clock.h"

#include <stdint.h>

#define METHODS_MAX 64

static xd_code handle(xd_call *call, const ProtobufCMessage *in, ProtobufCMessage *out, xd_err *err)
{
    gw_ctx *ctx = xd_call_service(call);
    int64_t t0 = xd_monotonic_ns();
    gw_req req = {
        .arena = xd_call_arena(call),
        .method = xd_call_method(call),
        .credential = xd_call_caller(call)->principal,
        .request_id = xd_call_request_id(call),
    };
    int64_t left = xd_call_remaining_ms(call);
    if (left != INT64_MAX)
        req.deadline_ms = xd_monotonic_ms() + left;
    xd_code rc = gw_api_dispatch(ctx, &req, in, out, err);
    gw_metrics_record(ctx->metrics, req.method, "nng", rc, (xd_monotonic_ns() - t0) / 1000);
    return rc;
}

const xd_method_impl *gw_nng_methods(int *n_out)
{
    static xd_method_impl impls[METHODS_MAX];
    static int n;
    if (!n) {
        const ProtobufCServiceDescriptor *d = &xd__gateway__descriptor;
        for (unsigned i = 0; i < d->n_methods && n < METHODS_MAX; i++)
            impls[n++] = (xd_method_impl){d->methods[i].name, handle};
    }
    *n_out = n;
    return impls;
}
