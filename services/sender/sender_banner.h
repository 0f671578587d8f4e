/*
 * sender_banner.h: the organization's banners (per organization, optionally
 * per module) in sender.db, and the snapshot each message is submitted with.
 *
 * A banner's content (HTML block, text form, optional inline image) is
 * stored once under the SHA-256 of its content and never changed; (org,
 * module) points at the current content ("" = every module). Submit copies
 * the pointer of the module's banner, else the organization's, into the
 * message's own row in the same transaction as the message, so a retry or
 * a restart after a crash composes the same banner even if it was changed
 * or removed meanwhile. Content nothing points at is deleted.
 *
 * SetBanner/ListBanners work on their own connection to sender.db (a
 * snd_banner_store: its own transactions, whatever the queue's commit
 * scheme); the snapshot and the delivery read use the queue's connection,
 * the snapshot inside snd_queue_submit's transaction. Single writer and
 * foreign keys keep the two consistent: content is deleted only when no
 * banner and no message points at it, and a snapshot can only name content
 * that exists.
 * Memory: snd_banner_data fields are malloc'd and released by
 * snd_banner_data_free; snd_banner_attach copies into the caller's arena.
 * Thread-safety: every function locks what it uses, except
 * snd_banner_snapshot, which runs inside snd_queue_submit's transaction.
 */
#ifndef SND_SENDER_BANNER_H
#define SND_SENDER_BANNER_H

#include <stddef.h>
#include <stdint.h>

#include "compose_message.h"
#include "queue_store.h"
#include "xd/arena.h"
#include "xd/clock.h"
#include "xd/status.h"

#define SND_BANNER_MAX_HTML  (64u * 1024)
#define SND_BANNER_MAX_TEXT  (4u * 1024)
#define SND_BANNER_MAX_IMAGE (512u * 1024)
#define SND_BANNER_MAX_ALT   200
#define SND_BANNER_ID_LEN    64 /* hex SHA-256 */

/* What SetBanner stores; strings borrowed from the caller. */
typedef struct snd_banner_in {
    const char *org_id;
    const char *module; /* "" = every module of the organization */
    const char *html, *text;
    const void *image;
    size_t image_len;
    const char *image_type, *image_alt;
} snd_banner_in;

/* A stored banner (owned copy). */
typedef struct snd_banner_data {
    char org_id[SND_MAX_ORG_ID + 1];
    char module[SND_MAX_MODULE + 1];
    char banner_id[SND_BANNER_ID_LEN + 1];
    char *html, *text;    /* never NULL once loaded */
    unsigned char *image; /* NULL when not loaded or none */
    size_t image_len;     /* the stored size even when image is not loaded */
    char image_type[SND_MAX_MIME_TYPE + 1];
    char image_alt[SND_BANNER_MAX_ALT + 1];
    int64_t updated_at_ms;
} snd_banner_data;

typedef struct snd_banner_store snd_banner_store;

/* Opens (and migrates) sender.db at path for the banner methods. */
xd_code snd_banner_store_open(const char *path, const xd_clock *clock, snd_banner_store **out,
                              xd_err *err);
void snd_banner_store_close(snd_banner_store *b);

/* Checks bounds and syntax; INVALID_ARGUMENT naming the field as
 * "banner.<field>". remove = only org_id and module are checked. */
xd_code snd_banner_validate(const snd_banner_in *b, int remove, xd_err *err);

/* Stores (or replaces) the banner of (org, module), durably, and writes the
 * stored row (without image bytes) into *out. Idempotent. */
xd_code snd_banner_set(snd_banner_store *bs, const snd_banner_in *b, snd_banner_data *out,
                       xd_err *err);

/* Removes the banner of (org, module); *changed = 0 when there was none. */
xd_code snd_banner_remove(snd_banner_store *bs, const char *org_id, const char *module,
                          int *changed, xd_err *err);

/* The organization's banners, organization-wide first, then by module;
 * image bytes not loaded (image_len says how big). *out is malloc'd: free
 * it with snd_banner_list_free. */
xd_code snd_banner_list(snd_banner_store *bs, const char *org_id, snd_banner_data **out, size_t *n,
                        xd_err *err);
void snd_banner_list_free(snd_banner_data *list, size_t n);
void snd_banner_data_free(snd_banner_data *b);

/* Inside snd_queue_submit (lock and transaction held): records for
 * message_id the banner it goes out with: the one of message copy_of when
 * given (a test copy keeps its original's banner), else module's, else the
 * organization's. Nothing is recorded when there is none. */
xd_code snd_banner_snapshot(snd_queue *q, const char *org_id, const char *module,
                            const char *message_id, const char *copy_of, xd_err *err);

/* The banner message_id was submitted with; *found = 0 when none. */
xd_code snd_banner_for_message(snd_queue *q, const char *message_id, snd_banner_data *out,
                               int *found, xd_err *err);

/* Delivery: sets m->banner to the message's snapshot, copied into arena
 * (left NULL when the message has none). Returns XD_OK or the read error. */
xd_code snd_banner_attach(snd_queue *q, const char *message_id, xd_arena *arena, snd_message *m,
                          xd_err *err);

#endif
