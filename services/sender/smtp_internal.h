/*
 * smtp_internal.h: the session struct and the helpers shared by the SMTP
 * client's files (smtp_session.c, smtp_send.c, smtp_auth.c, smtp_tls.c).
 * Not for use outside services/sender/smtp_*.c.
 * Memory: the session owns its io (socket, TLS) and an unused SSL_CTX.
 * Thread-safety: one thread at a time per session.
 */
#ifndef SND_SMTP_INTERNAL_H
#define SND_SMTP_INTERNAL_H

#include "smtp_client.h"
#include "smtp_io.h"

struct snd_smtp_session {
    snd_smtp_io io;
    SSL_CTX *ctx; /* made at open; handed to io when TLS starts */
    snd_smtp_ext ext;
    snd_smtp_timeouts t; /* defaults filled in */
    char host[256];
    char tls_name[256];
    char helo[256];
    int usable;
    int tls;
    int authed;
    unsigned n_tx;
    char line[SND_SMTP_LINE_MAX + 2]; /* one reply line, CR and NUL */
};

/* Writes one command (with its CRLF) before now + timeout_ms. log_as is what
 * the debug log shows (NULL = the command itself, minus CRLF); commands that
 * carry secrets pass a redacted text. On failure fills st as a temporary
 * failure in phase, marks the session unusable and returns -1. */
int snd_smtp_write_cmd(snd_smtp_session *s, const char *cmd, size_t len, const char *log_as,
                       snd_smtp_phase phase, int64_t timeout_ms, snd_smtp_status *st);

/* Reads one complete reply within timeout_ms into *reply. When ext is not
 * NULL, every line after the first is parsed as an EHLO keyword into it.
 * On a network error, timeout or malformed/over-long reply: fills st as a
 * temporary failure in phase, marks the session unusable, returns -1. */
int snd_smtp_read_reply(snd_smtp_session *s, snd_smtp_phase phase, int64_t timeout_ms,
                        snd_smtp_reply *reply, snd_smtp_ext *ext, snd_smtp_status *st);

/* st := outcome of reply by its class (2xx/3xx delivered, 4xx temporary,
 * 5xx permanent) in phase. */
void snd_smtp_status_from_reply(snd_smtp_status *st, snd_smtp_phase phase,
                                const snd_smtp_reply *reply);

/* st := a local decision (no reply): code 0 and a printf text. */
void snd_smtp_status_local(snd_smtp_status *st, snd_smtp_outcome outcome, snd_smtp_phase phase,
                           const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* AUTH with the configured mechanism. 0 on success (235), -1 with st set. */
int snd_smtp_auth(snd_smtp_session *s, const snd_smtp_opts *o, snd_smtp_status *st);

/* A client SSL_CTX per opts: TLS >= 1.2, verification unless tls_no_verify,
 * trust from ca_file or the system store. NULL with why filled on error. */
SSL_CTX *snd_smtp_tls_ctx_new(const snd_smtp_opts *o, char *why, size_t why_len);

#endif
