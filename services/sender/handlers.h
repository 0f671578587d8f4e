/*
 * handlers.h: the sender's RPC surface: the service definition main.c hands
 * to xd_service_main, and the context its handlers share.
 *
 * DKIM key methods are mapped in handlers.c, the queue methods (Submit,
 * GetMessage, Cancel, SetRelay) in queue_handlers.c; deliver_setup.c starts
 * and stops the delivery workers and the outbox pump.
 * Thread-safety: handlers run on worker threads; the keystore, queue and
 * relay store are thread-safe and the rest is read-only after init.
 */
#ifndef SND_HANDLERS_H
#define SND_HANDLERS_H

#include "deliver_suppress.h"
#include "deliver_worker.h"
#include "dkim_keys.h"
#include "optout_links.h"
#include "outbox_pump.h"
#include "pacing_client.h"
#include "queue_store.h"
#include "route_store.h"
#include "xd/dns.h"
#include "sender.pb-c.h"
#include "xd/service.h"

typedef struct snd_ctx {
    snd_keystore *keys;
    char optout_secret[256];
    snd_optout_config optout; /* secret_len 0 when not configured */
    snd_queue *queue;
    snd_relay_store *relays;
    xd_dns *dns;
    snd_pacing *pacing;     /* NULL: no ratelimit configured */
    snd_suppress *suppress; /* NULL: no verify configured */
    snd_deliver *deliver;
    snd_pump *pump;
    int64_t max_send_ahead_ms;
    struct snd_banner_store *banners; /* SetBanner/ListBanners (sender_banner.h) */
} snd_ctx;

/* Opens the queue and relay store, recovers in-flight work, starts the
 * workers and the pump (deliver_setup.c). */
xd_code snd_delivery_init(snd_ctx *ctx, const xd_config *cfg, const char *db_path,
                          const unsigned char master[32], xd_err *err);
void snd_delivery_fini(snd_ctx *ctx);

/* Queue method handlers (queue_handlers.c). */
xd_code snd_h_submit(xd_call *call, const ProtobufCMessage *in, ProtobufCMessage *out, xd_err *err);
xd_code snd_h_get_message(xd_call *call, const ProtobufCMessage *in, ProtobufCMessage *out,
                          xd_err *err);
xd_code snd_h_cancel(xd_call *call, const ProtobufCMessage *in, ProtobufCMessage *out, xd_err *err);
xd_code snd_h_set_relay(xd_call *call, const ProtobufCMessage *in, ProtobufCMessage *out,
                        xd_err *err);

/* Banner, test copy and queue statistics handlers (sender_banner_handlers.c,
 * sender_testcopy.c, queue_stats_handlers.c). */
xd_code snd_h_set_banner(xd_call *call, const ProtobufCMessage *in, ProtobufCMessage *out,
                         xd_err *err);
xd_code snd_h_list_banners(xd_call *call, const ProtobufCMessage *in, ProtobufCMessage *out,
                           xd_err *err);
xd_code snd_h_send_test_copy(xd_call *call, const ProtobufCMessage *in, ProtobufCMessage *out,
                             xd_err *err);
xd_code snd_h_queue_stats(xd_call *call, const ProtobufCMessage *in, ProtobufCMessage *out,
                          xd_err *err);

/* The header that marks a test copy; its value is the original message id. */
#define SND_TEST_HEADER "X-XenDirect-Test"

typedef struct snd_enqueue_opts {
    const char *idempotency_key; /* the caller's key ("" = none), checked here */
    const char *key_prefix;      /* stored as prefix + key (NULL = as is) */
    const char *banner_of;       /* keep this message's banner (NULL = current one) */
    int test_copy;               /* allows SND_TEST_HEADER */
} snd_enqueue_opts;

/* The path every queued message takes (Submit and SendTestCopy): checks
 * req (org already checked), stores it with its recipients and banner,
 * commits, fills rep in arena a and wakes the workers. */
xd_code snd_enqueue(snd_ctx *ctx, xd_arena *a, const Xd__SubmitRequest *req,
                    const snd_enqueue_opts *eo, Xd__SubmitReply *rep, xd_err *err);

/* The request's org_id is required and must be the caller's organization. */
xd_code snd_check_org(xd_call *call, const char *org_id, xd_err *err);

extern const xd_service_def snd_service_def;

/* Maps a key to its reply message, in the call arena (no private parts). */
Xd__DkimKey *snd_dkim_key_to_proto(xd_arena *arena, const snd_dkim_key_info *k);

#endif
