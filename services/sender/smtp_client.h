/*
 * smtp_client.h: an RFC 5321 SMTP client session: connect (IPv4/IPv6),
 * EHLO (HELO fallback), STARTTLS or implicit TLS with certificate and host
 * name verification, AUTH PLAIN/LOGIN, then any number of mail transactions
 * (RSET from the second on, MAIL, RCPT, DATA; sent as one pipelined group
 * when the server offers PIPELINING), and QUIT. Every wait is bounded by the RFC 5321 §4.5.3.2
 * timeouts.
 *
 *   snd_smtp_opts o;  snd_smtp_opts_init(&o);  o.host = "mx.example"; ...
 *   snd_smtp_session *s;  snd_smtp_status st;  xd_err err;
 *   if (snd_smtp_open(&o, &s, &st, &err) == XD_OK) {
 *       snd_smtp_send(s, "bounce@x", rcpts, n, msg, len, results, &st, &err);
 *       snd_smtp_close(s);
 *   }
 *
 * Outcomes: every failure is classified as temporary (retry later) or
 * permanent, with the phase where it happened and the server's reply (code,
 * enhanced code, text) when there was one. A network failure, a timeout or a
 * malformed reply is temporary and leaves the session unusable.
 *
 * Memory: options are read during snd_smtp_open only (strings are copied
 * where kept; the password is never kept). The session is owned by the
 * caller and freed by snd_smtp_close. Results are caller-owned arrays.
 * Credentials are never logged nor placed in any status text.
 * Thread-safety: a session is used by one thread at a time; sessions are
 * independent. The library never raises SIGPIPE.
 * DNS: host names go through getaddrinfo (blocking); callers that need a
 * bounded lookup pass an IP literal in host and the name in tls_name.
 */
#ifndef SND_SMTP_CLIENT_H
#define SND_SMTP_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "smtp_reply.h"
#include "xd/status.h"

typedef enum snd_smtp_tls_policy {
    SND_SMTP_TLS_REQUIRED = 0,      /* STARTTLS must be offered and succeed */
    SND_SMTP_TLS_OPPORTUNISTIC = 1, /* STARTTLS when offered, else clear text */
    SND_SMTP_TLS_OFF = 2,           /* never TLS */
    SND_SMTP_TLS_IMPLICIT = 3,      /* TLS from the first byte (port 465) */
} snd_smtp_tls_policy;

typedef enum snd_smtp_auth_mech {
    SND_SMTP_AUTH_AUTO = 0, /* PLAIN when offered, else LOGIN */
    SND_SMTP_AUTH_USE_PLAIN = 1,
    SND_SMTP_AUTH_USE_LOGIN = 2,
} snd_smtp_auth_mech;

/* RFC 5321 §4.5.3.2 timeouts, all in ms; 0 means the default in brackets. */
typedef struct snd_smtp_timeouts {
    int64_t connect_ms;    /* TCP connect, per address [30 s] */
    int64_t greeting_ms;   /* initial 220 [5 min] */
    int64_t ehlo_ms;       /* EHLO/HELO reply [5 min] */
    int64_t starttls_ms;   /* STARTTLS reply and the TLS handshake [5 min] */
    int64_t auth_ms;       /* each AUTH step [5 min] */
    int64_t mail_ms;       /* MAIL reply [5 min] */
    int64_t rcpt_ms;       /* each RCPT reply [5 min] */
    int64_t data_init_ms;  /* DATA's 354 [2 min] */
    int64_t data_block_ms; /* each block written of the body [3 min] */
    int64_t data_end_ms;   /* reply to the final dot [10 min] */
    int64_t rset_ms;       /* RSET reply [5 min] */
    int64_t quit_ms;       /* QUIT reply [5 min] */
} snd_smtp_timeouts;

/* Replaces every timeout <= 0 with its default (the values in brackets). */
void snd_smtp_timeouts_fill_defaults(snd_smtp_timeouts *t);

typedef struct snd_smtp_opts {
    const char *host;      /* where to connect: name or IP literal (required) */
    uint16_t port;         /* 0 = 25, or 465 with SND_SMTP_TLS_IMPLICIT */
    const char *tls_name;  /* name the certificate must match, SNI; NULL = host */
    const char *helo_name; /* our name in EHLO/HELO; NULL = "localhost" */
    snd_smtp_tls_policy tls;
    int tls_no_verify;    /* 1 = accept any certificate (tests, explicit opt-out) */
    const char *ca_file;  /* PEM CA bundle; NULL = the system's trust store */
    const char *username; /* NULL = no AUTH */
    const char *password; /* read during open only, never kept or logged */
    snd_smtp_auth_mech auth_mech;
    int auth_allow_cleartext; /* 1 = allow AUTH without TLS (off: refuse) */
    snd_smtp_timeouts timeouts;
} snd_smtp_opts;

/* Defaults: port 25, TLS required, verification on, RFC timeouts. */
void snd_smtp_opts_init(snd_smtp_opts *opts);

typedef enum snd_smtp_outcome {
    SND_SMTP_DELIVERED = 0, /* accepted by the server */
    SND_SMTP_TEMPFAIL = 1,  /* 4xx, network, timeout, protocol: retry later */
    SND_SMTP_PERMFAIL = 2,  /* 5xx or a local permanent refusal: do not retry */
} snd_smtp_outcome;

typedef enum snd_smtp_phase {
    SND_SMTP_PHASE_NONE = 0,
    SND_SMTP_PHASE_CONNECT,
    SND_SMTP_PHASE_GREETING,
    SND_SMTP_PHASE_EHLO,
    SND_SMTP_PHASE_STARTTLS,
    SND_SMTP_PHASE_TLS, /* handshake and certificate verification */
    SND_SMTP_PHASE_AUTH,
    SND_SMTP_PHASE_RSET,
    SND_SMTP_PHASE_MAIL,
    SND_SMTP_PHASE_RCPT,
    SND_SMTP_PHASE_DATA,     /* the DATA command (waiting for 354) */
    SND_SMTP_PHASE_BODY,     /* sending the message body */
    SND_SMTP_PHASE_DATA_END, /* waiting for the reply to the final dot */
    SND_SMTP_PHASE_QUIT,
} snd_smtp_phase;

const char *snd_smtp_outcome_name(snd_smtp_outcome o); /* "delivered", ... */
const char *snd_smtp_phase_name(snd_smtp_phase p);     /* "mail", "rcpt", ... */

/* The result of one step (open, a transaction, or one recipient). When no
 * reply was read (network, timeout, local check), reply.code is 0 and
 * reply.text says what happened. */
typedef struct snd_smtp_status {
    snd_smtp_outcome outcome;
    snd_smtp_phase phase; /* where it was decided (DATA_END when delivered) */
    snd_smtp_reply reply;
} snd_smtp_status;

typedef struct snd_smtp_session snd_smtp_session;

#define SND_SMTP_MAX_RCPTS   1000                /* per transaction */
#define SND_SMTP_MAX_MESSAGE (64u * 1024 * 1024) /* bytes per message */
#define SND_SMTP_ADDR_MAX    256                 /* RFC 5321 path limit */

/* Connects, reads the greeting, EHLO (HELO when EHLO is refused), STARTTLS
 * per policy, EHLO again, AUTH when a username is set. On success *out is a
 * ready session and XD_OK is returned. On failure *out is untouched, status
 * (if not NULL) says outcome/phase/reply, and err carries UNAVAILABLE
 * (temporary), FAILED_PRECONDITION (permanent), UNAUTHENTICATED (credentials
 * refused) or INVALID_ARGUMENT (bad options, field named). */
xd_code snd_smtp_open(const snd_smtp_opts *opts, snd_smtp_session **out, snd_smtp_status *status,
                      xd_err *err);

/* Runs one mail transaction: RSET (from the second transaction on), MAIL
 * FROM:<envelope_from> ("" = null sender), RCPT TO for each of the n
 * recipients, DATA with the message (any line endings; dot-stuffed and
 * normalised to CRLF here). results[i] receives recipient i's status; status
 * receives the transaction's: DELIVERED when at least one recipient was
 * accepted by the final dot, otherwise the failure that ended it (the first
 * temporary one if any recipient failed temporarily, else permanent).
 * Returns XD_OK whenever the results are filled, including SMTP failures;
 * INVALID_ARGUMENT (field named) for bad input, FAILED_PRECONDITION when the
 * session is no longer usable (nothing is sent then). */
xd_code snd_smtp_send(snd_smtp_session *s, const char *envelope_from, const char *const *rcpts,
                      size_t n_rcpts, const void *message, size_t message_len,
                      snd_smtp_status *results, snd_smtp_status *status, xd_err *err);

/* 1 while the connection can carry another transaction. */
int snd_smtp_usable(const snd_smtp_session *s);

/* What the server announced in its last EHLO (after STARTTLS if any). */
const snd_smtp_ext *snd_smtp_extensions(const snd_smtp_session *s);

/* 1 when the connection is encrypted; 1 when AUTH succeeded. */
int snd_smtp_tls_active(const snd_smtp_session *s);

/* The negotiated protocol and cipher ("TLSv1.3", "TLS_AES_256_GCM_SHA384")
 * while TLS is active; "" otherwise. Owned by the session. */
const char *snd_smtp_tls_version(const snd_smtp_session *s);
const char *snd_smtp_tls_cipher(const snd_smtp_session *s);
int snd_smtp_authenticated(const snd_smtp_session *s);

/* Number of transactions that ran on this session. */
unsigned snd_smtp_transactions(const snd_smtp_session *s);

/* Sends QUIT (when usable, bounded by quit_ms), closes and frees. NULL ok. */
void snd_smtp_close(snd_smtp_session *s);

#endif
