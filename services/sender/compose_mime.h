/*
 * compose_mime.h: the MIME body tree of one message copy (internal to the
 * composer): text and HTML with banner and opt-out footer, inline images,
 * attachments. Writes the top entity's Content-* header fields, the empty
 * line and the body. Thread-safety: reentrant.
 */
#ifndef SND_COMPOSE_MIME_H
#define SND_COMPOSE_MIME_H

#include "compose_buf.h"
#include "compose_message.h"

/* seed makes the boundaries (hex, derived from the message ids);
 * unsubscribe_url goes into both footers. */
xd_code snd_mime_write_body(snd_buf *out, const snd_message *m, const snd_compose_opts *o,
                            const char *unsubscribe_url, const char *seed, xd_err *err);

#endif
