/* compose_message.c: message header fields, per-recipient copies, signing. */
#include "compose_message.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "compose_header.h"
#include "compose_mime.h"

/* FNV-1a 64, for boundaries only (not security relevant). */
static uint64_t fnv1a(uint64_t h, const char *s)
{
    for (; s && *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

static void format_date(int64_t ms, char *out, size_t size)
{
    static const char *const DAYS[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *const MONTHS[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(out, size, "%s, %d %s %04d %02d:%02d:%02d +0000", DAYS[tm.tm_wday], tm.tm_mday,
             MONTHS[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

static int valid_id(const char *id)
{
    size_t n = id ? strlen(id) : 0;
    if (n == 0 || n > 128)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

/* Writes "Name: mailbox, mailbox" for a list. */
static xd_code write_list(snd_buf *out, const char *hname, const char *fname,
                          const snd_address *list, size_t n, int smtputf8, xd_err *err)
{
    snd_buf v;
    snd_buf_init(&v, 1024 * 1024);
    char field[XD_ERR_FIELD_MAX];
    xd_code rc = XD_OK;
    for (size_t i = 0; i < n && rc == XD_OK; i++) {
        if (i)
            snd_buf_puts(&v, ", ");
        snprintf(field, sizeof field, "%s[%zu]", fname, i);
        rc = snd_hdr_mailbox(&v, field, list[i].address, list[i].display_name, smtputf8, err);
    }
    if (rc == XD_OK && snd_hdr_write(out, hname, v.data, v.len) != 0)
        rc = xd_err_field(err, XD_INVALID_ARGUMENT, fname, "%s header line too long", fname);
    snd_buf_free(&v);
    return rc;
}

static xd_code write_one(snd_buf *out, const char *hname, const char *fname, const snd_address *a,
                         int smtputf8, xd_err *err)
{
    snd_buf v;
    snd_buf_init(&v, 64 * 1024);
    xd_code rc = snd_hdr_mailbox(&v, fname, a->address, a->display_name, smtputf8, err);
    if (rc == XD_OK && snd_hdr_write(out, hname, v.data, v.len) != 0)
        rc = xd_err_field(err, XD_INVALID_ARGUMENT, fname, "%s header line too long", fname);
    snd_buf_free(&v);
    return rc;
}

/* The recipient the opt-out token names. */
static const snd_address *token_recipient(const snd_message *m, const snd_compose_opts *o)
{
    if (o->recipient)
        return o->recipient;
    if (m->n_to)
        return &m->to[0];
    if (m->n_cc)
        return &m->cc[0];
    return m->n_bcc ? &m->bcc[0] : NULL;
}

static xd_code write_headers(snd_buf *out, const snd_message *m, const snd_compose_opts *o,
                             snd_optout_links *links, xd_err *err)
{
    int u8 = o->smtputf8;
    xd_code rc = write_one(out, "From", "from", &m->from, u8, err);
    if (rc != XD_OK)
        return rc;
    if (o->sender && o->sender->address && strcasecmp(o->sender->address, m->from.address) != 0 &&
        (rc = write_one(out, "Sender", "sender", o->sender, u8, err)) != XD_OK)
        return rc;
    if (m->n_reply_to && (rc = write_list(out, "Reply-To", "reply_to", m->reply_to, m->n_reply_to,
                                          u8, err)) != XD_OK)
        return rc;
    if (!m->shared) {
        /* Per-recipient copy: To names only this recipient. */
        rc = write_one(out, "To", "recipient", o->recipient, u8, err);
    } else {
        if (m->n_to)
            rc = write_list(out, "To", "to", m->to, m->n_to, u8, err);
        else
            rc =
                snd_hdr_write(out, "To", "undisclosed-recipients:;", 24) == 0 ? XD_OK : XD_INTERNAL;
        if (rc == XD_OK && m->n_cc)
            rc = write_list(out, "Cc", "cc", m->cc, m->n_cc, u8, err);
    }
    if (rc != XD_OK)
        return rc;

    snd_buf v;
    snd_buf_init(&v, 64 * 1024);
    snd_hdr_unstructured(&v, m->subject);
    snd_hdr_write(out, "Subject", v.data, v.len);

    char date[64];
    format_date(o->date_ms, date, sizeof date);
    snd_hdr_write(out, "Date", date, strlen(date));

    /* Message-ID: <stored-id[.recipient-id]@from-domain (A-labels)>. */
    snd_buf_reset(&v);
    xd_err scratch; /* an SMTPUTF8-only From still gets an ASCII Message-ID */
    if (snd_hdr_address(&v, "from.address", m->from.address, 0, &scratch) != XD_OK)
        snd_buf_reset(&v);
    const char *dom = strrchr(v.data ? v.data : "", '@');
    snd_buf mid;
    snd_buf_init(&mid, 1024);
    snd_buf_cat(&mid, "<", o->message_id, o->recipient_id ? "." : "",
                o->recipient_id ? o->recipient_id : "", "@", dom ? dom + 1 : "xendirect.invalid",
                ">", NULL);
    snd_hdr_write(out, "Message-ID", mid.data, mid.len);
    snd_buf_free(&mid);
    snd_hdr_write(out, "MIME-Version", "1.0", 3);

    /* Opt-out (RFC 2369 + RFC 8058): HTTPS one-click first, then mailto. */
    snd_buf_reset(&v);
    snd_buf_cat(&v, "<", links->url, ">, <", links->mailto, ">", NULL);
    snd_hdr_write(out, "List-Unsubscribe", v.data, v.len);
    snd_hdr_write(out, "List-Unsubscribe-Post", "List-Unsubscribe=One-Click", 26);

    for (size_t i = 0; i < m->n_headers; i++) {
        snd_buf_reset(&v);
        snd_hdr_unstructured(&v, m->headers[i].value);
        if (snd_hdr_write(out, m->headers[i].name, v.data, v.len) != 0) {
            snd_buf_free(&v);
            return xd_err_field(err, XD_INVALID_ARGUMENT, "headers", "header line too long");
        }
    }
    snd_buf_free(&v);
    return XD_OK;
}

/* Safety net for the "no line over 998 octets" rule. */
static int longest_line(const char *s, size_t n)
{
    size_t longest = 0;
    const char *line = s, *p = s, *end = s + n;
    while (p < end && (p = memchr(p, '\r', (size_t)(end - p))) != NULL) {
        if (p + 1 < end && p[1] == '\n') {
            if ((size_t)(p - line) > longest)
                longest = (size_t)(p - line);
            p += 2;
            line = p;
        } else {
            p++;
        }
    }
    return (int)((size_t)(end - line) > longest ? (size_t)(end - line) : longest);
}

xd_code snd_compose(const snd_message *m, const snd_compose_opts *o, snd_buf *out, xd_err *err)
{
    xd_code rc = snd_compose_validate(m, err);
    if (rc != XD_OK)
        return rc;
    if (!valid_id(o->message_id) || (o->recipient_id && !valid_id(o->recipient_id)))
        return xd_err_field(err, XD_INVALID_ARGUMENT, "message_id",
                            "message id must be 1-128 octets of [A-Za-z0-9._-]");
    if (!o->optout)
        return xd_err_set(err, XD_FAILED_PRECONDITION, "opt-out is not configured");
    if (!m->shared && !o->recipient)
        return xd_err_field(err, XD_INVALID_ARGUMENT, "recipient",
                            "a per-recipient copy needs its recipient");
    const snd_address *tr = token_recipient(m, o);
    snd_buf wire;
    snd_buf_init(&wire, 1024);
    rc = snd_hdr_address(&wire, "recipient", tr->address, 1, err);
    snd_optout_links links;
    if (rc == XD_OK)
        rc = snd_optout_links_make(o->optout, m->org_id, wire.data,
                                   m->category == SND_CATEGORY_MARKETING, m->module, o->date_ms,
                                   &links, err);
    snd_buf_free(&wire);
    if (rc != XD_OK)
        return rc;

    size_t start = out->len;
    rc = write_headers(out, m, o, &links, err);
    if (rc == XD_OK) {
        uint64_t h = fnv1a(fnv1a(fnv1a(14695981039346656037ULL, o->message_id), "."),
                           o->recipient_id ? o->recipient_id : "");
        char seed[17];
        for (int i = 15; i >= 0; i--, h >>= 4)
            seed[i] = "0123456789abcdef"[h & 15];
        seed[16] = '\0';
        rc = snd_mime_write_body(out, m, o, links.url, seed, err);
    }
    if (rc == XD_OK && out->overflow)
        rc = xd_err_field(err, XD_INVALID_ARGUMENT, "attachments",
                          "composed message exceeds the output limit");
    if (rc == XD_OK && longest_line(out->data + start, out->len - start) > 998)
        rc = xd_err_set(err, XD_INTERNAL, "composer produced a line over 998 octets");
    return rc;
}

xd_code snd_compose_signed(const snd_message *m, const snd_compose_opts *o,
                           const snd_dkim_signer *signers, size_t n_signers, snd_buf *out,
                           xd_err *err)
{
    snd_buf msg;
    snd_buf_init(&msg, SND_MAX_MESSAGE);
    snd_buf_reserve(&msg, 16 * 1024);
    xd_code rc = snd_compose(m, o, &msg, err);
    for (size_t i = 0; rc == XD_OK && i < n_signers; i++) {
        snd_dkim_signer s = signers[i];
        s.headers = snd_dkim_default_headers;
        s.n_headers = snd_dkim_n_default_headers;
        s.timestamp = o->date_ms / 1000;
        s.h_sep = ":";
        s.simple = 0;
        rc = snd_dkim_sign(&s, msg.data, msg.len, out, err);
    }
    if (rc == XD_OK)
        snd_buf_append(out, msg.data, msg.len);
    if (rc == XD_OK && out->overflow)
        rc = xd_err_set(err, XD_RESOURCE_EXHAUSTED, "output buffer too small for the message");
    snd_buf_free(&msg);
    return rc;
}
