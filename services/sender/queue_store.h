/*
 * queue_store.h: the sender's durable delivery queue in SQLite (sender.db):
 * messages, one row per recipient with its state, the idempotency keys of
 * Submit, and the event outbox.
 *
 * Every state change of a recipient and the event that reports it are
 * written in one transaction (synchronous=FULL: on disk before a reply or
 * the next SMTP step). Workers claim due recipients of one destination
 * (org, domain), which moves them to SENDING; snd_queue_finish records the
 * outcome; snd_queue_recover puts SENDING rows back after a crash (the copy
 * keeps its Message-ID because it is derived from the stored ids). Queries
 * are bounded by LIMIT: the queue is never loaded whole.
 *
 * Memory: results are caller-owned structs; arrays inside them are malloc'd
 * and released by the matching *_free function.
 * Thread-safety: one connection behind a mutex; any thread may call.
 */
#ifndef SND_QUEUE_STORE_H
#define SND_QUEUE_STORE_H

#include <stddef.h>
#include <stdint.h>
#include "xd/clock.h"
#include "xd/status.h"

#define SND_ID_MAX   48  /* message and recipient ids, NUL included */
#define SND_ADDR_MAX 256 /* a mailbox, NUL included */

/* RecipientState values (proto/common.proto). */
enum {
    SND_ST_QUEUED = 1,
    SND_ST_DEFERRED = 2,
    SND_ST_DELIVERED = 3,
    SND_ST_BOUNCED = 4,
    SND_ST_EXPIRED = 5,
    SND_ST_SUPPRESSED = 6,
    SND_ST_CANCELLED = 9,
    SND_ST_SENDING = 10,
};

/* FailureCategory values used by the queue itself. */
enum { SND_FAIL_EXPIRED = 15 };

typedef struct snd_queue_config {
    int64_t retry_initial_ms; /* first retry delay; 0 = 5 min */
    int64_t retry_max_ms;     /* backoff cap; 0 = 4 h */
    int64_t max_age_ms;       /* give up (EXPIRED) after; 0 = 3 days */
    int jitter_permille;      /* +- this share of each delay; 0 = none */
} snd_queue_config;

typedef struct snd_queue snd_queue;

xd_code snd_queue_open(const char *path, const xd_clock *clock, const snd_queue_config *cfg,
                       snd_queue **out, xd_err *err);
void snd_queue_close(snd_queue *q);

/* ------------------------------------------------------------ Submit */

typedef struct snd_submit {
    const char *org_id;
    const char *idempotency_key; /* "" = none */
    const char *module, *client_id, *from_address, *subject;
    const char *msgid_domain; /* right side of the Message-ID (From domain, A-labels) */
    int category;             /* MailCategory */
    int shared;               /* one copy to all recipients */
    int64_t send_at_ms;       /* 0 = now */
    const void *request;      /* packed SubmitRequest: the composer's input */
    size_t request_len;
    const char *const *addresses; /* envelope recipients */
    const char *const *domains;   /* their domains, A-labels lower case */
    size_t n;
    /* The banner goes with the message (sender_banner.h): the one stored
     * with message banner_of when set (a test copy), else the current one
     * of (org, module). */
    const char *banner_of;
} snd_submit;

typedef struct snd_rcpt_ref {
    char recipient_id[SND_ID_MAX];
    char address[SND_ADDR_MAX];
} snd_rcpt_ref;

typedef struct snd_submit_result {
    char message_id[SND_ID_MAX];
    snd_rcpt_ref *rcpts;
    size_t n;
    int duplicate; /* the idempotency key was seen: the first answer */
} snd_submit_result;

/* Stores the message and its recipients (QUEUED, one event each) and
 * commits before returning. */
xd_code snd_queue_submit(snd_queue *q, const snd_submit *s, snd_submit_result *out, xd_err *err);
void snd_submit_result_free(snd_submit_result *r);

/* ------------------------------------------------------- GetMessage */

typedef struct snd_rcpt_status {
    char recipient_id[SND_ID_MAX];
    char address[SND_ADDR_MAX];
    int state;
    unsigned attempts;
    int code;
    char enhanced[16];
    char text[512];
    int failure;
    int64_t updated_at_ms, next_attempt_at_ms;
    char remote_host[256];
} snd_rcpt_status;

typedef struct snd_message_info {
    char message_id[SND_ID_MAX];
    char org_id[129];
    char module[65];
    char client_id[129];
    char from_address[SND_ADDR_MAX];
    char msgid_domain[256];
    char subject[1000];
    int category, shared;
    int64_t created_at_ms, send_at_ms;
    snd_rcpt_status *rcpts; /* NULL when not asked for */
    size_t n;
} snd_message_info;

/* The message of org with its recipients; NOT_FOUND for another org's. */
xd_code snd_queue_get(snd_queue *q, const char *org_id, const char *message_id,
                      snd_message_info *out, xd_err *err);
void snd_message_info_free(snd_message_info *m);

/* The message's metadata and its packed request (malloc'd into *request). */
xd_code snd_queue_load_request(snd_queue *q, const char *message_id, snd_message_info *meta,
                               void **request, size_t *len, xd_err *err);

/* ----------------------------------------------------------- Cancel */

typedef struct snd_id_list {
    char (*ids)[SND_ID_MAX];
    size_t n;
} snd_id_list;

/* Cancels the QUEUED/DEFERRED recipients among ids (all of the message when
 * n_ids is 0); the others are listed in not_cancelled. */
xd_code snd_queue_cancel(snd_queue *q, const char *org_id, const char *message_id,
                         const char *const *ids, size_t n_ids, snd_id_list *cancelled,
                         snd_id_list *not_cancelled, xd_err *err);
void snd_id_list_free(snd_id_list *l);

/* ----------------------------------------------------------- Workers */

typedef struct snd_claim_rcpt {
    char recipient_id[SND_ID_MAX];
    char message_id[SND_ID_MAX];
    char address[SND_ADDR_MAX];
    unsigned attempts; /* before this one */
} snd_claim_rcpt;

typedef struct snd_claim {
    char org_id[129];
    char domain[256];
    snd_claim_rcpt *r; /* sorted by message, then recipient order */
    size_t n;
} snd_claim;

/* Claims up to max due recipients (<= 1000) of one destination and moves
 * them to SENDING. Recipients past the maximum age are EXPIRED on the way.
 * n = 0 when nothing is due; then *next_due_ms is the earliest planned
 * attempt (INT64_MAX when none). */
xd_code snd_queue_claim(snd_queue *q, size_t max, snd_claim *out, int64_t *next_due_ms,
                        xd_err *err);
void snd_claim_free(snd_claim *c);

typedef enum snd_result_kind {
    SND_RES_DELIVERED = 0,
    SND_RES_TEMPFAIL,   /* 4xx and the like: DEFERRED with backoff, or EXPIRED */
    SND_RES_PERMFAIL,   /* BOUNCED */
    SND_RES_SUPPRESSED, /* SUPPRESSED */
    SND_RES_POSTPONE,   /* not attempted (pacing): back at retry_at_ms, no event */
} snd_result_kind;

typedef struct snd_rcpt_result {
    const char *recipient_id;
    snd_result_kind kind;
    int code; /* SMTP reply code; 0 = none */
    const char *enhanced, *text, *remote_host, *tls_version;
    int failure;         /* FailureCategory */
    int64_t retry_at_ms; /* POSTPONE only */
} snd_rcpt_result;

/* Records the outcomes of SENDING recipients in one transaction (each with
 * its event). A recipient no longer SENDING is left alone. */
xd_code snd_queue_finish(snd_queue *q, const snd_rcpt_result *r, size_t n, xd_err *err);

/* After a restart: SENDING recipients become due again (no event: SENDING
 * is never reported). Writes how many into *n. */
xd_code snd_queue_recover(snd_queue *q, size_t *n, xd_err *err);

/* The delay before attempt number `attempts + 1` after a temporary failure
 * (exponential from retry_initial_ms, capped, with jitter). */
int64_t snd_queue_backoff_ms(const snd_queue *q, unsigned attempts);

/* Counts recipients per state into counts[0..15] (tests, Health). */
xd_code snd_queue_count_states(snd_queue *q, int64_t counts[16], xd_err *err);

/* ------------------------------------------------------------ Outbox */

typedef struct snd_event {
    int64_t id;
    char event_id[33];
    char recipient_id[SND_ID_MAX];
    char message_id[SND_ID_MAX];
    char address[SND_ADDR_MAX];
    int state;
    int64_t event_time_ms;
    uint64_t sequence;
    int code;
    char enhanced[16];
    char text[512];
    char remote_host[256];
    char tls_version[64]; /* "TLSv1.3 TLS_AES_256_GCM_SHA384"; "" = no TLS */
    int failure;
    /* from the message */
    char org_id[129], module[65], client_id[129], from_address[SND_ADDR_MAX];
    char msgid_domain[256], subject[1000];
    int category, shared;
} snd_event;

/* The oldest events, up to max, in id order (malloc'd array). */
xd_code snd_outbox_fetch(snd_queue *q, size_t max, snd_event **out, size_t *n, xd_err *err);

/* Deletes the events with id <= last_id (acknowledged). */
xd_code snd_outbox_ack(snd_queue *q, int64_t last_id, xd_err *err);

/* Events waiting. */
int64_t snd_outbox_pending(snd_queue *q);

#endif
