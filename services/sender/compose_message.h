/*
 * compose_message.h: turns a submitted message into RFC 5322/MIME octets,
 * one copy per recipient (or one shared copy), with the opt-out headers and
 * footer, the organization's banner, and DKIM signatures.
 *
 * Structure: text and HTML as multipart/alternative; inline images (and an
 * image banner) with the HTML in multipart/related; attachments in
 * multipart/mixed. Each text part is 7bit, quoted-printable or base64,
 * whichever fits (mime_encode.h); every line ends in CRLF and none is over
 * 998 octets. Bcc never appears. Message-ID is derived from the stored
 * message id (and the recipient id of a per-recipient copy), so a retry
 * produces the same id. Boundaries are derived from the same ids, so
 * composing twice gives identical octets.
 *
 * Bounds (INVALID_ARGUMENT naming the field, e.g. "to[3].address"): see the
 * SND_* limits below and proto/sender.proto.
 * Memory: the snd_message only borrows the caller's strings; output goes to
 * a caller-owned snd_buf. Thread-safety: reentrant.
 */
#ifndef SND_COMPOSE_MESSAGE_H
#define SND_COMPOSE_MESSAGE_H

#include <stddef.h>
#include <stdint.h>
#include "compose_buf.h"
#include "dkim_sign.h"
#include "optout_links.h"
#include "xd/status.h"

#define SND_MAX_RECIPIENTS     1000
#define SND_MAX_REPLY_TO       10
#define SND_MAX_SUBJECT        998
#define SND_MAX_BODY           (2u * 1024 * 1024)
#define SND_MAX_FILES          20 /* attachments + inline images */
#define SND_MAX_FILE           (10u * 1024 * 1024)
#define SND_MAX_FILES_TOTAL    (20u * 1024 * 1024)
#define SND_MAX_CUSTOM_HEADERS 20
#define SND_MAX_HEADER_VALUE   900
#define SND_MAX_FILENAME       200
#define SND_MAX_MIME_TYPE      100
#define SND_MAX_CONTENT_ID     100
#define SND_MAX_ORG_ID         128
#define SND_MAX_MODULE         64
#define SND_MAX_MESSAGE        (32u * 1024 * 1024) /* composed, all encodings included */

typedef struct snd_address {
    const char *address;      /* addr-spec, UTF-8 */
    const char *display_name; /* UTF-8 or NULL */
} snd_address;

typedef struct snd_attachment {
    const char *filename;
    const char *content_type; /* "type/subtype" */
    const char *content_id;   /* inline images only */
    const void *data;
    size_t len;
} snd_attachment;

typedef struct snd_custom_header {
    const char *name;
    const char *value;
} snd_custom_header;

typedef enum snd_category {
    SND_CATEGORY_UNSPECIFIED = 0,
    SND_CATEGORY_TRANSACTIONAL = 1,
    SND_CATEGORY_MARKETING = 2,
} snd_category;

/* The organization's banner (per organization, optionally per module),
 * placed at the top of both the text and the HTML part. */
typedef struct snd_banner {
    const char *html;  /* HTML block; NULL = none */
    const char *text;  /* its text-part form; NULL = image alt or nothing */
    const void *image; /* image banner bytes; NULL = none */
    size_t image_len;
    const char *image_type; /* "image/png" */
    const char *image_alt;  /* alt text */
} snd_banner;

typedef struct snd_message {
    const char *org_id;
    const char *module;
    snd_address from;
    const snd_address *reply_to;
    size_t n_reply_to;
    const snd_address *to;
    size_t n_to;
    const snd_address *cc;
    size_t n_cc;
    const snd_address *bcc; /* envelope only; validated, never written */
    size_t n_bcc;
    const char *subject;
    const char *text_body; /* NULL or "" = none */
    const char *html_body;
    const snd_attachment *attachments;
    size_t n_attachments;
    const snd_attachment *inline_images;
    size_t n_inline_images;
    const snd_custom_header *headers;
    size_t n_headers;
    snd_category category;
    int shared; /* one copy to all visible recipients */
    /* The banner stored with the message (delivery sets it); used when
     * snd_compose_opts.banner is NULL. NULL = none. */
    const snd_banner *banner;
} snd_message;

typedef struct snd_compose_opts {
    const char *message_id;   /* stored message id ([A-Za-z0-9._-], required) */
    const char *recipient_id; /* per-recipient copy: its id; NULL for shared */
    /* The copy's recipient (per-recipient mode: To shows only it; shared
     * mode: whose token the opt-out link carries; NULL = first To/Cc). */
    const snd_address *recipient;
    int64_t date_ms;                 /* Date: (and DKIM t=) */
    int smtputf8;                    /* the next hop offered SMTPUTF8 */
    const snd_address *sender;       /* Sender: written when set and not From */
    const snd_banner *banner;        /* NULL = none */
    const snd_optout_config *optout; /* required */
} snd_compose_opts;

/* Checks every field and bound of m; INVALID_ARGUMENT naming the field. */
xd_code snd_compose_validate(const snd_message *m, xd_err *err);

/* 1 when t is "type/subtype" of token characters (an image type only when
 * image_only), not multipart or message. */
int snd_valid_mime_type(const char *t, int image_only);

/* The first "cid:banner" reference (case-insensitive, not followed by more
 * Content-ID characters) in html, or NULL. A banner's HTML uses it for its
 * image; the composer rewrites it to the message's own Content-ID. */
const char *snd_banner_cid_ref(const char *html);

/* 1 when name (case-insensitive) is on the custom header allow-list. */
int snd_custom_header_allowed(const char *name);

/* Composes one copy (unsigned) into out (appended). Validates first. */
xd_code snd_compose(const snd_message *m, const snd_compose_opts *o, snd_buf *out, xd_err *err);

/* Composes and signs with each signer (domain/selector/key set; headers,
 * timestamp and the rest are filled here: default h= list, t= from
 * o->date_ms). Signatures come first, in the order of signers. */
xd_code snd_compose_signed(const snd_message *m, const snd_compose_opts *o,
                           const snd_dkim_signer *signers, size_t n_signers, snd_buf *out,
                           xd_err *err);

#endif
