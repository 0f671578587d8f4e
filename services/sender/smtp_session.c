/*
 * smtp_session.c: opening a session (connect, greeting, EHLO/HELO,
 * STARTTLS, AUTH), the command/reply primitives, QUIT and close.
 */
#include "smtp_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xd/clock.h"
#include "xd/log.h"
#include "xd/util.h"

#define MIN_S 1000LL
#define MIN_M (60 * MIN_S)

void snd_smtp_opts_init(snd_smtp_opts *opts)
{
    memset(opts, 0, sizeof(*opts));
    opts->port = 25;
    opts->tls = SND_SMTP_TLS_REQUIRED;
}

void snd_smtp_timeouts_fill_defaults(snd_smtp_timeouts *t)
{
    struct {
        int64_t *v;
        int64_t def;
    } d[] = {
        {&t->connect_ms, 30 * MIN_S},   {&t->greeting_ms, 5 * MIN_M},
        {&t->ehlo_ms, 5 * MIN_M},       {&t->starttls_ms, 5 * MIN_M},
        {&t->auth_ms, 5 * MIN_M},       {&t->mail_ms, 5 * MIN_M},
        {&t->rcpt_ms, 5 * MIN_M},       {&t->data_init_ms, 2 * MIN_M},
        {&t->data_block_ms, 3 * MIN_M}, {&t->data_end_ms, 10 * MIN_M},
        {&t->rset_ms, 5 * MIN_M},       {&t->quit_ms, 5 * MIN_M},
    };
    for (size_t i = 0; i < XD_ARRAY_LEN(d); i++)
        if (*d[i].v <= 0)
            *d[i].v = d[i].def;
}

const char *snd_smtp_outcome_name(snd_smtp_outcome o)
{
    switch (o) {
    case SND_SMTP_DELIVERED:
        return "delivered";
    case SND_SMTP_TEMPFAIL:
        return "tempfail";
    case SND_SMTP_PERMFAIL:
        return "permfail";
    }
    return "unknown";
}

const char *snd_smtp_phase_name(snd_smtp_phase p)
{
    static const char *const names[] = {"none", "connect", "greeting", "ehlo", "starttls",
                                        "tls",  "auth",    "rset",     "mail", "rcpt",
                                        "data", "body",    "data-end", "quit"};
    return (unsigned)p < XD_ARRAY_LEN(names) ? names[p] : "unknown";
}

void snd_smtp_status_local(snd_smtp_status *st, snd_smtp_outcome outcome, snd_smtp_phase phase,
                           const char *fmt, ...)
{
    va_list ap;
    memset(st, 0, sizeof(*st));
    st->outcome = outcome;
    st->phase = phase;
    va_start(ap, fmt);
    vsnprintf(st->reply.text, sizeof(st->reply.text), fmt, ap);
    va_end(ap);
}

void snd_smtp_status_from_reply(snd_smtp_status *st, snd_smtp_phase phase,
                                const snd_smtp_reply *reply)
{
    st->phase = phase;
    st->reply = *reply;
    if (reply->code >= 500)
        st->outcome = SND_SMTP_PERMFAIL;
    else if (reply->code >= 400 || reply->code < 200)
        st->outcome = SND_SMTP_TEMPFAIL;
    else
        st->outcome = SND_SMTP_DELIVERED;
}

/* Names the I/O failure for status text. */
static void io_failure(snd_smtp_session *s, snd_smtp_io_rc rc, snd_smtp_phase phase,
                       int64_t timeout_ms, const char *doing, snd_smtp_status *st)
{
    s->usable = 0;
    if (rc == SND_SMTP_IO_TIMEOUT)
        snd_smtp_status_local(st, SND_SMTP_TEMPFAIL, phase, "timeout after %lld ms %s",
                              (long long)timeout_ms, doing);
    else
        snd_smtp_status_local(st, SND_SMTP_TEMPFAIL, phase, "%s %s: %s", snd_smtp_io_rc_name(rc),
                              doing, s->io.detail);
}

int snd_smtp_write_cmd(snd_smtp_session *s, const char *cmd, size_t len, const char *log_as,
                       snd_smtp_phase phase, int64_t timeout_ms, snd_smtp_status *st)
{
    if (xd_log_enabled(XD_LOG_DEBUG)) {
        if (log_as)
            XD_DEBUG("smtp %s > %s", s->host, log_as);
        else
            XD_DEBUG("smtp %s > %.*s", s->host, (int)(len >= 2 ? len - 2 : len), cmd);
    }
    snd_smtp_io_rc rc = snd_smtp_io_write(&s->io, cmd, len, xd_monotonic_ms() + timeout_ms);
    if (rc != SND_SMTP_IO_OK) {
        io_failure(s, rc, phase, timeout_ms, "sending a command", st);
        return -1;
    }
    return 0;
}

int snd_smtp_read_reply(snd_smtp_session *s, snd_smtp_phase phase, int64_t timeout_ms,
                        snd_smtp_reply *reply, snd_smtp_ext *ext, snd_smtp_status *st)
{
    snd_smtp_reply_parser p;
    int64_t deadline = xd_monotonic_ms() + timeout_ms;
    snd_smtp_reply_parser_reset(&p);
    for (;;) {
        size_t len = 0;
        snd_smtp_io_rc rc = snd_smtp_io_read_line(&s->io, s->line, sizeof(s->line), &len, deadline);
        if (rc == SND_SMTP_IO_TOOLONG) {
            s->usable = 0;
            snd_smtp_status_local(st, SND_SMTP_TEMPFAIL, phase,
                                  "protocol error: reply line longer than %d bytes",
                                  SND_SMTP_LINE_MAX);
            return -1;
        }
        if (rc != SND_SMTP_IO_OK) {
            io_failure(s, rc, phase, timeout_ms, "waiting for the reply", st);
            return -1;
        }
        snd_smtp_parse_rc pr = snd_smtp_reply_feed(&p, s->line, len);
        if (pr == SND_SMTP_PARSE_ERROR) {
            s->usable = 0;
            snd_smtp_status_local(st, SND_SMTP_TEMPFAIL, phase, "protocol error: %s", p.error);
            return -1;
        }
        if (ext && p.n_lines > 1) {
            if (len > 0 && s->line[len - 1] == '\r')
                len--;
            if (len > 4)
                snd_smtp_ext_parse_line(ext, s->line + 4, len - 4);
        }
        if (pr == SND_SMTP_PARSE_DONE)
            break;
    }
    *reply = p.reply;
    XD_DEBUG("smtp %s < %d %s %s", s->host, reply->code, reply->enhanced, reply->text);
    return 0;
}

/* A name safe to put on a command line: printable ASCII, no space. */
static int valid_token(const char *v, size_t max)
{
    size_t n = strlen(v);
    if (n == 0 || n >= max)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)v[i] <= 0x20 || (unsigned char)v[i] >= 0x7f)
            return 0;
    return 1;
}

static xd_code check_opts(const snd_smtp_opts *o, xd_err *err)
{
    if (!o || !o->host || !valid_token(o->host, 256))
        return xd_err_field(err, XD_INVALID_ARGUMENT, "host",
                            "host must be a host name or IP literal of 1-255 printable characters");
    if (o->tls_name && !valid_token(o->tls_name, 256))
        return xd_err_field(err, XD_INVALID_ARGUMENT, "tls_name",
                            "tls_name must be 1-255 printable characters without spaces");
    if (o->helo_name && !valid_token(o->helo_name, 256))
        return xd_err_field(err, XD_INVALID_ARGUMENT, "helo_name",
                            "helo_name must be 1-255 printable characters without spaces");
    if ((unsigned)o->tls > SND_SMTP_TLS_IMPLICIT)
        return xd_err_field(err, XD_INVALID_ARGUMENT, "tls",
                            "tls must be required, opportunistic, off or implicit");
    if ((unsigned)o->auth_mech > SND_SMTP_AUTH_USE_LOGIN)
        return xd_err_field(err, XD_INVALID_ARGUMENT, "auth_mech",
                            "auth_mech must be auto, plain or login");
    if (o->username) {
        size_t ul = strlen(o->username);
        if (ul == 0 || ul > 255 || xd_has_crlf_nul(o->username, ul))
            return xd_err_field(err, XD_INVALID_ARGUMENT, "username",
                                "username must be 1-255 bytes without CR or LF");
        if (!o->password || strlen(o->password) > 255 ||
            xd_has_crlf_nul(o->password, strlen(o->password)))
            return xd_err_field(err, XD_INVALID_ARGUMENT, "password",
                                "password must be set with username, at most 255 bytes, "
                                "without CR or LF");
        if (o->tls == SND_SMTP_TLS_OFF && !o->auth_allow_cleartext)
            return xd_err_field(err, XD_INVALID_ARGUMENT, "tls",
                                "AUTH over a connection without TLS would expose the password: "
                                "use a TLS policy or set auth_allow_cleartext");
    }
    return XD_OK;
}

/* Best effort QUIT when the dialogue is still in step; no wait. */
static void quit_nowait(snd_smtp_session *s)
{
    if (s->usable)
        (void)snd_smtp_io_write(&s->io, "QUIT\r\n", 6, xd_monotonic_ms() + 1000);
    s->usable = 0;
}

static void free_session(snd_smtp_session *s)
{
    snd_smtp_io_close(&s->io);
    if (s->ctx)
        SSL_CTX_free(s->ctx);
    free(s);
}

/* EHLO, or HELO when EHLO gets a 5xx (a server without extensions). */
static int greet(snd_smtp_session *s, snd_smtp_status *st)
{
    char cmd[300];
    snd_smtp_reply r;
    int n = snprintf(cmd, sizeof(cmd), "EHLO %s\r\n", s->helo);
    memset(&s->ext, 0, sizeof(s->ext));
    if (snd_smtp_write_cmd(s, cmd, (size_t)n, NULL, SND_SMTP_PHASE_EHLO, s->t.ehlo_ms, st) != 0 ||
        snd_smtp_read_reply(s, SND_SMTP_PHASE_EHLO, s->t.ehlo_ms, &r, &s->ext, st) != 0)
        return -1;
    if (r.code == 250)
        return 0;
    memset(&s->ext, 0, sizeof(s->ext));
    if (r.code < 500 || r.code == 554) { /* 421 or 554: the server will not talk */
        snd_smtp_status_from_reply(st, SND_SMTP_PHASE_EHLO, &r);
        return -1;
    }
    n = snprintf(cmd, sizeof(cmd), "HELO %s\r\n", s->helo);
    if (snd_smtp_write_cmd(s, cmd, (size_t)n, NULL, SND_SMTP_PHASE_EHLO, s->t.ehlo_ms, st) != 0 ||
        snd_smtp_read_reply(s, SND_SMTP_PHASE_EHLO, s->t.ehlo_ms, &r, NULL, st) != 0)
        return -1;
    if (r.code == 250)
        return 0;
    snd_smtp_status_from_reply(st, SND_SMTP_PHASE_EHLO, &r);
    return -1;
}

static int start_tls(snd_smtp_session *s, snd_smtp_phase phase, int64_t timeout_ms,
                     snd_smtp_status *st)
{
    SSL_CTX *ctx = s->ctx;
    s->ctx = NULL; /* the io owns it from here */
    snd_smtp_io_rc rc =
        snd_smtp_io_start_tls(&s->io, ctx, s->tls_name, xd_monotonic_ms() + timeout_ms);
    if (rc != SND_SMTP_IO_OK) {
        s->usable = 0;
        if (rc == SND_SMTP_IO_TIMEOUT)
            snd_smtp_status_local(st, SND_SMTP_TEMPFAIL, phase,
                                  "timeout after %lld ms in the TLS handshake",
                                  (long long)timeout_ms);
        else
            snd_smtp_status_local(st, SND_SMTP_TEMPFAIL, phase, "%s", s->io.detail);
        return -1;
    }
    s->tls = 1;
    return 0;
}

/* STARTTLS per policy, then EHLO again. 0 when the session may go on. */
static int negotiate_tls(snd_smtp_session *s, const snd_smtp_opts *o, snd_smtp_status *st)
{
    snd_smtp_reply r;
    if (o->tls == SND_SMTP_TLS_OFF || o->tls == SND_SMTP_TLS_IMPLICIT)
        return 0;
    if (!(s->ext.flags & SND_SMTP_EXT_STARTTLS)) {
        if (o->tls == SND_SMTP_TLS_OPPORTUNISTIC)
            return 0;
        snd_smtp_status_local(st, SND_SMTP_TEMPFAIL, SND_SMTP_PHASE_STARTTLS,
                              "TLS is required but the server does not offer STARTTLS");
        return -1;
    }
    if (snd_smtp_write_cmd(s, "STARTTLS\r\n", 10, NULL, SND_SMTP_PHASE_STARTTLS, s->t.starttls_ms,
                           st) != 0 ||
        snd_smtp_read_reply(s, SND_SMTP_PHASE_STARTTLS, s->t.starttls_ms, &r, NULL, st) != 0)
        return -1;
    if (r.code != 220) {
        if (o->tls == SND_SMTP_TLS_OPPORTUNISTIC && r.code >= 400 && r.code != 421)
            return 0; /* refused: carry on in clear text */
        snd_smtp_status_from_reply(st, SND_SMTP_PHASE_STARTTLS, &r);
        if (st->outcome == SND_SMTP_DELIVERED)
            st->outcome = SND_SMTP_TEMPFAIL; /* an odd 2xx/3xx is not a TLS start */
        return -1;
    }
    if (snd_smtp_io_buffered(&s->io) > 0) { /* bytes sent before TLS: injection */
        s->usable = 0;
        snd_smtp_status_local(st, SND_SMTP_TEMPFAIL, SND_SMTP_PHASE_STARTTLS,
                              "protocol error: server sent data after its STARTTLS reply");
        return -1;
    }
    if (start_tls(s, SND_SMTP_PHASE_TLS, s->t.starttls_ms, st) != 0)
        return -1;
    return greet(s, st);
}

static xd_code err_for(const snd_smtp_status *st, xd_err *err)
{
    xd_code code = st->outcome == SND_SMTP_PERMFAIL ? XD_FAILED_PRECONDITION : XD_UNAVAILABLE;
    if (st->phase == SND_SMTP_PHASE_AUTH && st->reply.code >= 500)
        code = XD_UNAUTHENTICATED;
    return xd_err_set(err, code, "smtp %s %s: %d %s %s", snd_smtp_phase_name(st->phase),
                      snd_smtp_outcome_name(st->outcome), st->reply.code, st->reply.enhanced,
                      st->reply.text);
}

xd_code snd_smtp_open(const snd_smtp_opts *o, snd_smtp_session **out, snd_smtp_status *status,
                      xd_err *err)
{
    snd_smtp_status local_st;
    snd_smtp_status *st = status ? status : &local_st;
    char why[256];
    snd_smtp_reply r;
    xd_code code = check_opts(o, err);
    memset(st, 0, sizeof(*st));
    if (code != XD_OK) {
        snd_smtp_status_local(st, SND_SMTP_PERMFAIL, SND_SMTP_PHASE_NONE, "invalid options");
        return code;
    }
    snd_smtp_session *s = calloc(1, sizeof(*s));
    if (!s)
        return xd_err_set(err, XD_RESOURCE_EXHAUSTED, "out of memory for an SMTP session");
    snd_smtp_io_init(&s->io);
    s->t = o->timeouts;
    snd_smtp_timeouts_fill_defaults(&s->t);
    xd_strlcpy(s->host, o->host, sizeof(s->host));
    xd_strlcpy(s->tls_name, o->tls_name ? o->tls_name : o->host, sizeof(s->tls_name));
    xd_strlcpy(s->helo, o->helo_name ? o->helo_name : "localhost", sizeof(s->helo));
    if (o->tls != SND_SMTP_TLS_OFF) {
        s->ctx = snd_smtp_tls_ctx_new(o, why, sizeof(why));
        if (!s->ctx) {
            free_session(s);
            snd_smtp_status_local(st, SND_SMTP_PERMFAIL, SND_SMTP_PHASE_NONE, "invalid CA file");
            return xd_err_field(err, XD_INVALID_ARGUMENT, "ca_file", "%s", why);
        }
    }
    uint16_t port = o->port ? o->port : (o->tls == SND_SMTP_TLS_IMPLICIT ? 465 : 25);
    snd_smtp_io_rc rc = snd_smtp_io_connect(&s->io, s->host, port, s->t.connect_ms);
    if (rc != SND_SMTP_IO_OK) {
        snd_smtp_status_local(st, SND_SMTP_TEMPFAIL, SND_SMTP_PHASE_CONNECT,
                              "cannot connect to %s port %u: %s", s->host, (unsigned)port,
                              rc == SND_SMTP_IO_TIMEOUT ? "connect timed out" : s->io.detail);
        goto fail;
    }
    s->usable = 1;
    if (o->tls == SND_SMTP_TLS_IMPLICIT &&
        start_tls(s, SND_SMTP_PHASE_TLS, s->t.greeting_ms, st) != 0)
        goto fail;
    if (snd_smtp_read_reply(s, SND_SMTP_PHASE_GREETING, s->t.greeting_ms, &r, NULL, st) != 0)
        goto fail;
    if (r.code != 220) {
        snd_smtp_status_from_reply(st, SND_SMTP_PHASE_GREETING, &r);
        if (st->outcome == SND_SMTP_DELIVERED)
            st->outcome = SND_SMTP_TEMPFAIL;
        goto fail;
    }
    if (greet(s, st) != 0 || negotiate_tls(s, o, st) != 0)
        goto fail;
    if (o->username) {
        if (!s->tls && !o->auth_allow_cleartext) {
            snd_smtp_status_local(st, SND_SMTP_TEMPFAIL, SND_SMTP_PHASE_AUTH,
                                  "refusing AUTH without TLS (the server offered no STARTTLS)");
            goto fail;
        }
        if (snd_smtp_auth(s, o, st) != 0)
            goto fail;
        s->authed = 1;
    }
    memset(st, 0, sizeof(*st));
    st->outcome = SND_SMTP_DELIVERED;
    st->reply = r;
    *out = s;
    XD_DEBUG("smtp %s: session open (tls=%d auth=%d ext=0x%x)", s->host, s->tls, s->authed,
             s->ext.flags);
    return XD_OK;
fail:
    quit_nowait(s);
    free_session(s);
    return err_for(st, err);
}

int snd_smtp_usable(const snd_smtp_session *s)
{
    return s && s->usable;
}

const snd_smtp_ext *snd_smtp_extensions(const snd_smtp_session *s)
{
    return &s->ext;
}

int snd_smtp_tls_active(const snd_smtp_session *s)
{
    return s->tls;
}

const char *snd_smtp_tls_version(const snd_smtp_session *s)
{
    return s->tls && s->io.ssl ? SSL_get_version(s->io.ssl) : "";
}

const char *snd_smtp_tls_cipher(const snd_smtp_session *s)
{
    const char *c = s->tls && s->io.ssl ? SSL_get_cipher_name(s->io.ssl) : NULL;
    return c ? c : "";
}

int snd_smtp_authenticated(const snd_smtp_session *s)
{
    return s->authed;
}

unsigned snd_smtp_transactions(const snd_smtp_session *s)
{
    return s->n_tx;
}

void snd_smtp_close(snd_smtp_session *s)
{
    if (!s)
        return;
    if (s->usable) {
        snd_smtp_status st;
        snd_smtp_reply r;
        if (snd_smtp_write_cmd(s, "QUIT\r\n", 6, NULL, SND_SMTP_PHASE_QUIT, s->t.quit_ms, &st) == 0)
            (void)snd_smtp_read_reply(s, SND_SMTP_PHASE_QUIT, s->t.quit_ms, &r, NULL, &st);
    }
    free_session(s);
}
