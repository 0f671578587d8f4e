/*
 * handlers.h: the sender's RPC surface: the service definition main.c hands
 * to xd_service_main, and the context its handlers share.
 *
 * Only the DKIM key methods are built here; Submit, GetMessage, Cancel and
 * SetRelay answer UNIMPLEMENTED until the delivery work adds them.
 * Thread-safety: handlers run on worker threads; the context's keystore is
 * thread-safe and the rest is read-only after init.
 */
#ifndef SND_HANDLERS_H
#define SND_HANDLERS_H

#include "dkim_keys.h"
#include "optout_links.h"
#include "sender.pb-c.h"
#include "xd/service.h"

typedef struct snd_ctx {
    snd_keystore *keys;
    char optout_secret[256];
    snd_optout_config optout; /* secret_len 0 when not configured */
} snd_ctx;

extern const xd_service_def snd_service_def;

/* Maps a key to its reply message, in the call arena (no private parts). */
Xd__DkimKey *snd_dkim_key_to_proto(xd_arena *arena, const snd_dkim_key_info *k);

#endif
