/*
 * pacing_client.h: the delivery workers' view of xd-ratelimit: a connection
 * lease before each SMTP connection, recipients before each transaction,
 * Feedback after each outcome. Subject: organization, sending IP, recipient
 * domain and MX host (the service derives the provider from the MX host).
 *
 * Fail closed: every call has a short deadline (pacing.timeout, default
 * 300 ms); an unreachable or failing ratelimit answers SND_PACE_UNREACHABLE
 * and the caller postpones the work (never sends unpaced). Feedback is best
 * effort (an outcome that cannot be reported is logged and dropped).
 * Built against proto/ratelimit.proto when it is present; without it every
 * call answers SND_PACE_UNREACHABLE, so a sender configured with a
 * ratelimit URL it cannot speak to never sends unpaced.
 * Memory: the client owns its RPC client. Thread-safety: any thread.
 */
#ifndef SND_PACING_CLIENT_H
#define SND_PACING_CLIENT_H

#include <stdint.h>
#include "xd/status.h"

typedef struct snd_pacing snd_pacing;

typedef enum snd_pace_rc {
    SND_PACE_GRANTED = 0,
    SND_PACE_DENIED = 1,      /* wait retry_after_ms */
    SND_PACE_UNREACHABLE = 2, /* ratelimit down or failing: postpone */
} snd_pace_rc;

typedef struct snd_pace_subject {
    const char *org_id, *ip, *domain, *mx_host;
} snd_pace_subject;

typedef struct snd_lease {
    char lease_id[48];
    unsigned messages; /* per connection; 0 = no limit given */
    int held;
    int64_t ttl_ms;        /* lease length at the last grant or renewal; 0 = unknown */
    int64_t renewed_at_ms; /* monotonic ms of that grant or renewal */
} snd_lease;

typedef enum snd_feedback_kind {
    SND_FEEDBACK_DELIVERED = 1,
    SND_FEEDBACK_DEFERRED = 2,
    SND_FEEDBACK_BOUNCED = 3,
} snd_feedback_kind;

xd_code snd_pacing_open(const char *url, int64_t timeout_ms, snd_pacing **out, xd_err *err);
void snd_pacing_close(snd_pacing *p);

snd_pace_rc snd_pacing_acquire(snd_pacing *p, const snd_pace_subject *s, snd_lease *lease,
                               int64_t *retry_after_ms);
void snd_pacing_release(snd_pacing *p, snd_lease *lease);

/* 1 when a held lease has run a third of its TTL since its grant or last
 * renewal (monotonic now_ms): time to renew so that a long-lived connection
 * keeps its slot. */
int snd_pacing_renew_due(const snd_lease *lease, int64_t now_ms);

/* Extends a held lease (RenewConnection). GRANTED with ttl_ms and
 * renewed_at_ms updated; DENIED when ratelimit refuses (the lease expired:
 * the connection must close); UNREACHABLE when it did not answer. */
snd_pace_rc snd_pacing_renew(snd_pacing *p, snd_lease *lease);

/* Asks for n recipients (partial grants allowed): *granted may be < n. */
snd_pace_rc snd_pacing_consume(snd_pacing *p, const snd_pace_subject *s, unsigned n,
                               unsigned *granted, int64_t *retry_after_ms);

void snd_pacing_feedback(snd_pacing *p, const snd_pace_subject *s, snd_feedback_kind kind, int code,
                         const char *enhanced, const char *text, unsigned n);

#endif
