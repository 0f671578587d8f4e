/*
 * smtp_io.h: the byte transport under the SMTP client: a TCP connection
 * (IPv4 or IPv6, non-blocking, every wait bounded by a deadline) that can be
 * upgraded to TLS in place (STARTTLS) or start in TLS (port 465).
 *
 * TLS runs over memory BIOs and this module moves the bytes with
 * send(MSG_NOSIGNAL)/recv, so a peer that closes never raises SIGPIPE and
 * every handshake, read and write obeys the same poll() deadline.
 *
 * Memory: an snd_smtp_io is owned by its caller (embedded in the session);
 * it owns its socket, SSL and SSL_CTX and frees them in snd_smtp_io_close.
 * Thread-safety: one thread at a time per connection.
 */
#ifndef SND_SMTP_IO_H
#define SND_SMTP_IO_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

/* Why an I/O call failed; the client turns these into outcomes. */
typedef enum snd_smtp_io_rc {
    SND_SMTP_IO_OK = 0,
    SND_SMTP_IO_TIMEOUT = -1, /* deadline passed */
    SND_SMTP_IO_CLOSED = -2,  /* peer closed the connection */
    SND_SMTP_IO_ERROR = -3,   /* socket error (refused, reset, ...) */
    SND_SMTP_IO_TOOLONG = -4, /* a line longer than the buffer */
    SND_SMTP_IO_TLS = -5,     /* TLS handshake, certificate or record error */
    SND_SMTP_IO_RESOLVE = -6, /* host name did not resolve */
} snd_smtp_io_rc;

#define SND_SMTP_IO_RBUF 8192

typedef struct snd_smtp_io {
    int fd;
    SSL_CTX *ctx;
    SSL *ssl;
    BIO *net_in;  /* bytes from the socket, read by SSL */
    BIO *net_out; /* bytes written by SSL, to send on the socket */
    int eof;      /* the socket reached end of stream */
    char rbuf[SND_SMTP_IO_RBUF];
    size_t rpos, rlen;
    char detail[256]; /* human detail of the last failure (no secrets) */
} snd_smtp_io;

/* Sets every field to "not connected". */
void snd_smtp_io_init(snd_smtp_io *io);

/* Resolves host (name or IP literal) and connects to the first address that
 * answers, each attempt bounded by timeout_ms. */
snd_smtp_io_rc snd_smtp_io_connect(snd_smtp_io *io, const char *host, uint16_t port,
                                   int64_t timeout_ms);

/* TLS client handshake on the connected socket. The io takes ownership of
 * ctx (an SSL_CTX made by the caller). verify_name: the host name or IP
 * literal the certificate must match, also sent as SNI when it is a name;
 * NULL skips the name check. */
snd_smtp_io_rc snd_smtp_io_start_tls(snd_smtp_io *io, SSL_CTX *ctx, const char *verify_name,
                                     int64_t deadline_ms);

/* Bytes already received and not yet consumed (after STARTTLS's 220 any such
 * byte is an injection attempt). */
size_t snd_smtp_io_buffered(const snd_smtp_io *io);

/* Writes all n bytes before the deadline (monotonic ms). */
snd_smtp_io_rc snd_smtp_io_write(snd_smtp_io *io, const void *data, size_t n, int64_t deadline_ms);

/* Reads one line ending in LF into line (without the LF, NUL-terminated) and
 * sets *len. A line of cap or more bytes returns SND_SMTP_IO_TOOLONG. */
snd_smtp_io_rc snd_smtp_io_read_line(snd_smtp_io *io, char *line, size_t cap, size_t *len,
                                     int64_t deadline_ms);

/* Sends a TLS close_notify when possible, closes the socket, frees TLS. */
void snd_smtp_io_close(snd_smtp_io *io);

const char *snd_smtp_io_rc_name(snd_smtp_io_rc rc);

#endif
