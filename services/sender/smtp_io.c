/*
 * smtp_io.c: non-blocking TCP + optional TLS over memory BIOs. Every wait is
 * a poll() bounded by the caller's deadline; nothing here blocks forever.
 */
#include "smtp_io.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "xd/clock.h"

#define RAW_CHUNK 16384

void snd_smtp_io_init(snd_smtp_io *io)
{
    memset(io, 0, sizeof(*io));
    io->fd = -1;
}

const char *snd_smtp_io_rc_name(snd_smtp_io_rc rc)
{
    switch (rc) {
    case SND_SMTP_IO_OK:
        return "ok";
    case SND_SMTP_IO_TIMEOUT:
        return "timeout";
    case SND_SMTP_IO_CLOSED:
        return "connection closed by peer";
    case SND_SMTP_IO_ERROR:
        return "network error";
    case SND_SMTP_IO_TOOLONG:
        return "line too long";
    case SND_SMTP_IO_TLS:
        return "TLS error";
    case SND_SMTP_IO_RESOLVE:
        return "host not resolved";
    }
    return "unknown";
}

static snd_smtp_io_rc set_detail(snd_smtp_io *io, snd_smtp_io_rc rc, const char *what)
{
    snprintf(io->detail, sizeof(io->detail), "%s", what);
    return rc;
}

/* Waits for events on fd until the deadline. */
static snd_smtp_io_rc wait_fd(snd_smtp_io *io, short events, int64_t deadline_ms)
{
    for (;;) {
        int64_t left = deadline_ms - xd_monotonic_ms();
        if (left <= 0)
            return set_detail(io, SND_SMTP_IO_TIMEOUT, "deadline passed");
        struct pollfd pfd = {.fd = io->fd, .events = events};
        int r = poll(&pfd, 1, left > 60000 ? 60000 : (int)left);
        if (r > 0)
            return SND_SMTP_IO_OK; /* errors and hang-ups surface in the next call */
        if (r < 0 && errno != EINTR)
            return set_detail(io, SND_SMTP_IO_ERROR, strerror(errno));
    }
}

static snd_smtp_io_rc raw_send(snd_smtp_io *io, const char *p, size_t n, int64_t deadline_ms)
{
    while (n > 0) {
        ssize_t w = send(io->fd, p, n, MSG_NOSIGNAL);
        if (w > 0) {
            p += w;
            n -= (size_t)w;
            continue;
        }
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
            snd_smtp_io_rc rc = wait_fd(io, POLLOUT, deadline_ms);
            if (rc != SND_SMTP_IO_OK)
                return rc;
            continue;
        }
        if (w < 0 && (errno == EPIPE || errno == ECONNRESET))
            return set_detail(io, SND_SMTP_IO_CLOSED, strerror(errno));
        return set_detail(io, SND_SMTP_IO_ERROR, w < 0 ? strerror(errno) : "send returned 0");
    }
    return SND_SMTP_IO_OK;
}

/* Receives at least one byte into buf; CLOSED at end of stream. */
static snd_smtp_io_rc raw_recv(snd_smtp_io *io, char *buf, size_t cap, size_t *got,
                               int64_t deadline_ms)
{
    for (;;) {
        ssize_t r = recv(io->fd, buf, cap, 0);
        if (r > 0) {
            *got = (size_t)r;
            return SND_SMTP_IO_OK;
        }
        if (r == 0) {
            io->eof = 1;
            return set_detail(io, SND_SMTP_IO_CLOSED, "end of stream");
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
            snd_smtp_io_rc rc = wait_fd(io, POLLIN, deadline_ms);
            if (rc != SND_SMTP_IO_OK)
                return rc;
            continue;
        }
        if (errno == ECONNRESET)
            return set_detail(io, SND_SMTP_IO_CLOSED, strerror(errno));
        return set_detail(io, SND_SMTP_IO_ERROR, strerror(errno));
    }
}

static snd_smtp_io_rc connect_one(snd_smtp_io *io, const struct addrinfo *ai, int64_t timeout_ms)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0)
        return set_detail(io, SND_SMTP_IO_ERROR, strerror(errno));
    io->fd = fd;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        if (errno != EINPROGRESS) {
            set_detail(io, SND_SMTP_IO_ERROR, strerror(errno));
            goto fail;
        }
        snd_smtp_io_rc rc = wait_fd(io, POLLOUT, xd_monotonic_ms() + timeout_ms);
        if (rc != SND_SMTP_IO_OK) {
            if (rc == SND_SMTP_IO_TIMEOUT)
                set_detail(io, rc, "connect timed out");
            close(fd);
            io->fd = -1;
            return rc;
        }
        int soerr = 0;
        socklen_t sl = sizeof(soerr);
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0 || soerr != 0) {
            set_detail(io, SND_SMTP_IO_ERROR, strerror(soerr ? soerr : errno));
            goto fail;
        }
    }
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return SND_SMTP_IO_OK;
fail:
    close(fd);
    io->fd = -1;
    return SND_SMTP_IO_ERROR;
}

snd_smtp_io_rc snd_smtp_io_connect(snd_smtp_io *io, const char *host, uint16_t port,
                                   int64_t timeout_ms)
{
    struct addrinfo hints, *res = NULL;
    char portstr[8];
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    snprintf(portstr, sizeof(portstr), "%u", (unsigned)port);
    int gai = getaddrinfo(host, portstr, &hints, &res);
    if (gai != 0)
        return set_detail(io, SND_SMTP_IO_RESOLVE, gai_strerror(gai));
    snd_smtp_io_rc rc = SND_SMTP_IO_ERROR;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        rc = connect_one(io, ai, timeout_ms);
        if (rc == SND_SMTP_IO_OK)
            break;
    }
    freeaddrinfo(res);
    return rc;
}

size_t snd_smtp_io_buffered(const snd_smtp_io *io)
{
    return io->rlen - io->rpos;
}

/* Sends whatever SSL has queued in net_out. */
static snd_smtp_io_rc tls_flush(snd_smtp_io *io, int64_t deadline_ms)
{
    char buf[RAW_CHUNK];
    while (BIO_ctrl_pending(io->net_out) > 0) {
        int n = BIO_read(io->net_out, buf, sizeof(buf));
        if (n <= 0)
            break;
        snd_smtp_io_rc rc = raw_send(io, buf, (size_t)n, deadline_ms);
        if (rc != SND_SMTP_IO_OK)
            return rc;
    }
    return SND_SMTP_IO_OK;
}

/* Records the OpenSSL error queue (or the verify result) as the detail. */
static snd_smtp_io_rc tls_fail(snd_smtp_io *io, const char *what)
{
    long vr = io->ssl ? SSL_get_verify_result(io->ssl) : X509_V_OK;
    unsigned long e = ERR_peek_last_error();
    char ebuf[160] = "";
    if (e)
        ERR_error_string_n(e, ebuf, sizeof(ebuf));
    ERR_clear_error();
    if (vr != X509_V_OK)
        snprintf(io->detail, sizeof(io->detail), "%s: certificate verification failed: %s", what,
                 X509_verify_cert_error_string(vr));
    else
        snprintf(io->detail, sizeof(io->detail), "%s: %s", what, e ? ebuf : "protocol error");
    return SND_SMTP_IO_TLS;
}

/* After an SSL call returned ret: moves bytes as SSL asks. Returns OK when
 * the call should be retried, or the failure. */
static snd_smtp_io_rc tls_step(snd_smtp_io *io, int ret, const char *what, int64_t deadline_ms)
{
    int err = SSL_get_error(io->ssl, ret);
    snd_smtp_io_rc rc = tls_flush(io, deadline_ms);
    if (rc != SND_SMTP_IO_OK)
        return rc;
    switch (err) {
    case SSL_ERROR_WANT_READ: {
        char buf[RAW_CHUNK];
        size_t got = 0;
        if (io->eof)
            return set_detail(io, SND_SMTP_IO_CLOSED, "end of stream inside TLS");
        rc = raw_recv(io, buf, sizeof(buf), &got, deadline_ms);
        if (rc != SND_SMTP_IO_OK)
            return rc;
        if (BIO_write(io->net_in, buf, (int)got) != (int)got)
            return tls_fail(io, what);
        return SND_SMTP_IO_OK;
    }
    case SSL_ERROR_WANT_WRITE:
        return SND_SMTP_IO_OK;
    case SSL_ERROR_ZERO_RETURN:
        return set_detail(io, SND_SMTP_IO_CLOSED, "TLS close_notify from peer");
    default:
        return tls_fail(io, what);
    }
}

static int is_ip_literal(const char *s)
{
    unsigned char tmp[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, s, tmp) == 1 || inet_pton(AF_INET6, s, tmp) == 1;
}

snd_smtp_io_rc snd_smtp_io_start_tls(snd_smtp_io *io, SSL_CTX *ctx, const char *verify_name,
                                     int64_t deadline_ms)
{
    io->ctx = ctx;
    io->ssl = SSL_new(ctx);
    io->net_in = BIO_new(BIO_s_mem());
    io->net_out = BIO_new(BIO_s_mem());
    if (!io->ssl || !io->net_in || !io->net_out) {
        BIO_free(io->net_in);
        BIO_free(io->net_out);
        io->net_in = io->net_out = NULL;
        return tls_fail(io, "TLS setup");
    }
    BIO_set_mem_eof_return(io->net_in, -1);
    BIO_set_mem_eof_return(io->net_out, -1);
    SSL_set_bio(io->ssl, io->net_in, io->net_out);
    if (verify_name && *verify_name) {
        if (is_ip_literal(verify_name)) {
            if (!X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(io->ssl), verify_name))
                return tls_fail(io, "TLS setup");
        } else {
            if (!SSL_set_tlsext_host_name(io->ssl, verify_name) ||
                !SSL_set1_host(io->ssl, verify_name))
                return tls_fail(io, "TLS setup");
            SSL_set_hostflags(io->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        }
    }
    SSL_set_connect_state(io->ssl);
    for (;;) {
        int r = SSL_do_handshake(io->ssl);
        if (r == 1)
            return tls_flush(io, deadline_ms);
        snd_smtp_io_rc rc = tls_step(io, r, "TLS handshake", deadline_ms);
        if (rc != SND_SMTP_IO_OK) {
            if (rc == SND_SMTP_IO_CLOSED) /* peer hung up mid-handshake */
                snprintf(io->detail, sizeof(io->detail), "TLS handshake: connection closed");
            return rc == SND_SMTP_IO_TIMEOUT ? rc : SND_SMTP_IO_TLS;
        }
    }
}

snd_smtp_io_rc snd_smtp_io_write(snd_smtp_io *io, const void *data, size_t n, int64_t deadline_ms)
{
    if (io->fd < 0)
        return set_detail(io, SND_SMTP_IO_ERROR, "not connected");
    if (!io->ssl)
        return raw_send(io, data, n, deadline_ms);
    const char *p = data;
    while (n > 0) {
        int chunk = n > RAW_CHUNK ? RAW_CHUNK : (int)n;
        int w = SSL_write(io->ssl, p, chunk);
        if (w > 0) {
            p += w;
            n -= (size_t)w;
            snd_smtp_io_rc rc = tls_flush(io, deadline_ms);
            if (rc != SND_SMTP_IO_OK)
                return rc;
            continue;
        }
        snd_smtp_io_rc rc = tls_step(io, w, "TLS write", deadline_ms);
        if (rc != SND_SMTP_IO_OK)
            return rc;
    }
    return SND_SMTP_IO_OK;
}

/* Appends at least one byte to rbuf (compacting it first). */
static snd_smtp_io_rc fill(snd_smtp_io *io, int64_t deadline_ms)
{
    if (io->rpos > 0) {
        memmove(io->rbuf, io->rbuf + io->rpos, io->rlen - io->rpos);
        io->rlen -= io->rpos;
        io->rpos = 0;
    }
    size_t room = sizeof(io->rbuf) - io->rlen;
    if (room == 0)
        return set_detail(io, SND_SMTP_IO_TOOLONG, "read buffer full");
    if (!io->ssl) {
        size_t got = 0;
        snd_smtp_io_rc rc = raw_recv(io, io->rbuf + io->rlen, room, &got, deadline_ms);
        if (rc == SND_SMTP_IO_OK)
            io->rlen += got;
        return rc;
    }
    for (;;) {
        int r = SSL_read(io->ssl, io->rbuf + io->rlen, (int)room);
        if (r > 0) {
            io->rlen += (size_t)r;
            return SND_SMTP_IO_OK;
        }
        snd_smtp_io_rc rc = tls_step(io, r, "TLS read", deadline_ms);
        if (rc != SND_SMTP_IO_OK)
            return rc;
    }
}

snd_smtp_io_rc snd_smtp_io_read_line(snd_smtp_io *io, char *line, size_t cap, size_t *len,
                                     int64_t deadline_ms)
{
    size_t scanned = 0;
    if (io->fd < 0)
        return set_detail(io, SND_SMTP_IO_ERROR, "not connected");
    for (;;) {
        const char *start = io->rbuf + io->rpos;
        size_t avail = io->rlen - io->rpos;
        const char *nl = memchr(start + scanned, '\n', avail - scanned);
        if (nl) {
            size_t n = (size_t)(nl - start);
            if (n >= cap)
                return set_detail(io, SND_SMTP_IO_TOOLONG, "reply line too long");
            memcpy(line, start, n);
            line[n] = '\0';
            *len = n;
            io->rpos += n + 1;
            return SND_SMTP_IO_OK;
        }
        scanned = avail;
        if (avail >= cap)
            return set_detail(io, SND_SMTP_IO_TOOLONG, "reply line too long");
        snd_smtp_io_rc rc = fill(io, deadline_ms);
        if (rc != SND_SMTP_IO_OK)
            return rc;
    }
}

void snd_smtp_io_close(snd_smtp_io *io)
{
    if (io->ssl) {
        if (io->fd >= 0 && !io->eof) {
            (void)SSL_shutdown(io->ssl); /* best effort close_notify, no wait */
            (void)tls_flush(io, xd_monotonic_ms() + 100);
        }
        SSL_free(io->ssl); /* frees both BIOs */
    }
    if (io->ctx)
        SSL_CTX_free(io->ctx);
    if (io->fd >= 0)
        close(io->fd);
    ERR_clear_error();
    snd_smtp_io_init(io);
}
