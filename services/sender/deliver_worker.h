/*
 * deliver_worker.h: the delivery workers. Each thread claims the due
 * recipients of one destination (organization, recipient domain) from the
 * queue, resolves the route, and delivers them over one SMTP connection at
 * a time: per-recipient copies one transaction each, shared copies in
 * transactions of at most tx_max_rcpts recipients. Before each connection
 * a lease, before each transaction the recipients, come from ratelimit
 * (when configured); before each message the suppression list of verify is
 * checked (when configured). Every outcome is committed (with its event)
 * before the next transaction starts.
 *
 * The envelope sender is VERP-style: b-<recipient id>@<bounce domain> for
 * a per-recipient copy (message and recipient: the recipient id is
 * "<message id>-<n>"), b-<message id>@<bounce domain> for a shared copy.
 *
 * Idle workers sleep on a condition variable until the earliest planned
 * attempt (at most idle_poll_ms) or a kick from Submit: no busy loop.
 * Memory: the pool borrows everything in deps; deps must outlive it.
 * Thread-safety: kick and stop may be called from any thread.
 */
#ifndef SND_DELIVER_WORKER_H
#define SND_DELIVER_WORKER_H

#include <stddef.h>
#include <stdint.h>
#include "deliver_suppress.h"
#include "dkim_keys.h"
#include "optout_links.h"
#include "pacing_client.h"
#include "queue_store.h"
#include "route_plan.h"
#include "smtp_client.h"

typedef struct snd_deliver_config {
    int workers;               /* threads; 0 = 4 */
    size_t claim_max;          /* recipients per claim; 0 = 100 */
    size_t tx_max_rcpts;       /* recipients per transaction; 0 = 100 */
    unsigned msgs_per_conn;    /* when ratelimit gives no limit; 0 = 100 */
    const char *bounce_domain; /* "" = the From domain */
    const char *helo_name;
    const char *ca_file;    /* NULL = system store */
    const char *sending_ip; /* for the ratelimit subject; "" = none */
    snd_smtp_timeouts timeouts;
    int64_t idle_poll_ms;         /* longest idle sleep; 0 = 1000 */
    int64_t unreachable_retry_ms; /* postpone when ratelimit/verify are down; 0 = 30 s */
    snd_route_config route;
} snd_deliver_config;

typedef struct snd_deliver_deps {
    snd_queue *queue;
    snd_relay_store *relays;
    snd_keystore *keys; /* DKIM; NULL = unsigned */
    const snd_optout_config *optout;
    snd_pacing *pacing;     /* NULL = no pacing */
    snd_suppress *suppress; /* NULL = no suppression check */
    const xd_clock *clock;
} snd_deliver_deps;

typedef struct snd_deliver snd_deliver;

xd_code snd_deliver_start(const snd_deliver_config *cfg, const snd_deliver_deps *deps,
                          snd_deliver **out, xd_err *err);

/* Wakes idle workers (new work was committed). */
void snd_deliver_kick(snd_deliver *d);

/* Stops the workers after their current transaction; the rest of their
 * claims go back to the queue. Accepts NULL. */
void snd_deliver_stop(snd_deliver *d);

/* Delivers one claimed group on the calling thread (the workers' body;
 * exposed for tests). */
void snd_deliver_group(snd_deliver *d, snd_claim *c);

#endif
