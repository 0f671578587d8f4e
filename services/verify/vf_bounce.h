/*
 * vf_bounce.h: turns a bounce message into per-recipient outcomes.
 *
 * Understands RFC 3464 multipart/report DSNs (message/delivery-status), the
 * prose formats of common MTAs (Postfix, Exim, qmail, Sendmail, Exchange,
 * Gmail, ...: the failed address followed by the remote reply), RFC 3834
 * auto-replies (reported as such, never as bounces) and recognises ARF
 * reports (left to vf_arf). Every recipient is classified with vf_classify.
 * Memory: the caller owns the vf_bounce (about 60 KiB: allocate it on the
 * heap); nothing inside points outside it. Thread-safety: no shared state.
 */
#ifndef VF_BOUNCE_H
#define VF_BOUNCE_H

#include <stddef.h>
#include "vf_classify.h"

#define VF_BOUNCE_MAX_RCPTS 32
#define VF_BOUNCE_MAX_BYTES (4 * 1024 * 1024)

typedef enum vf_bounce_kind {
    VF_BOUNCE_NOT_BOUNCE = 0,
    VF_BOUNCE_DSN,
    VF_BOUNCE_PROSE,
    VF_BOUNCE_AUTO_REPLY,
    VF_BOUNCE_FEEDBACK, /* an ARF report: parse it with vf_arf */
} vf_bounce_kind;

typedef struct vf_bounce_rcpt {
    char recipient[320];
    char action[16]; /* failed, delayed, delivered, relayed, expanded */
    char status[16]; /* "5.1.1" or "" */
    unsigned reply_code;
    char diagnostic[1024];
    char remote_mta[256];
    vf_class cls;
} vf_bounce_rcpt;

typedef struct vf_bounce {
    vf_bounce_kind kind;
    int n;
    vf_bounce_rcpt rcpts[VF_BOUNCE_MAX_RCPTS];
    char original_message_id[256]; /* Message-ID of the bounced message, if seen */
} vf_bounce;

/* Parses len bytes (at most VF_BOUNCE_MAX_BYTES are read) into *out.
 * Returns 0, or -1 on out-of-memory. */
int vf_bounce_parse(const char *raw, size_t len, vf_bounce *out);

#endif
