/* queue_stats_handlers.c: protobuf <-> queue statistics for QueueStats (see
 * queue_stats.h, handlers.h). */
#include <string.h>

#include "handlers.h"
#include "queue_stats.h"

static const struct {
    int state;
    const char *name;
} STATES[] = {
    {SND_ST_QUEUED, "queued"},         {SND_ST_DEFERRED, "deferred"},   {SND_ST_SENDING, "sending"},
    {SND_ST_DELIVERED, "delivered"},   {SND_ST_BOUNCED, "bounced"},     {SND_ST_EXPIRED, "expired"},
    {SND_ST_SUPPRESSED, "suppressed"}, {SND_ST_CANCELLED, "cancelled"},
};

/* "" = every organization: operators and the suite's own services only. */
static xd_code check_scope(xd_call *call, const char *org_id, xd_err *err)
{
    if (org_id && org_id[0])
        return snd_check_org(call, org_id, err);
    const Xd__Caller *c = xd_call_caller(call);
    int across = (c->role == XD__ROLE__ROLE_OPERATOR || c->role == XD__ROLE__ROLE_SERVICE) &&
                 (!c->org_id || !c->org_id[0]);
    return across ? XD_OK
                  : xd_err_field(err, XD_PERMISSION_DENIED, "org_id",
                                 "org_id is required: only operators see every organization");
}

xd_code snd_h_queue_stats(xd_call *call, const ProtobufCMessage *in, ProtobufCMessage *out,
                          xd_err *err)
{
    const Xd__QueueStatsRequest *req = (const Xd__QueueStatsRequest *)in;
    Xd__QueueStatsReply *rep = (Xd__QueueStatsReply *)out;
    snd_ctx *ctx = xd_call_service(call);
    xd_code rc = check_scope(call, req->org_id, err);
    snd_queue_stats st;
    if (rc == XD_OK)
        rc = snd_queue_stats_read(ctx->queue, req->org_id, &st, err);
    if (rc != XD_OK) {
        if (err->field[0])
            xd_call_add_detail(call, err->field, err->message);
        return rc;
    }
    xd_arena *a = xd_call_arena(call);
    size_t n = sizeof STATES / sizeof STATES[0];
    rep->n_states = n;
    rep->states = (Xd__QueueStateCount **)xd_arena_ptrs(a, n);
    for (size_t i = 0; i < n; i++) {
        Xd__QueueStateCount *c = xd_arena_message(a, &xd__queue_state_count__descriptor);
        c->state = (char *)STATES[i].name;
        int64_t v = st.counts[STATES[i].state];
        c->count = v > 0 ? (uint64_t)v : 0;
        rep->states[i] = c;
    }
    if (st.oldest_waiting_ms > 0) {
        int64_t age = xd_clock_now_ms(xd_clock_system()) - st.oldest_waiting_ms;
        rep->oldest_waiting_age_ms = age > 0 ? age : 0;
    }
    rep->outbox_pending = st.outbox_pending > 0 ? (uint64_t)st.outbox_pending : 0;
    return XD_OK;
}
