/* vf_bounce.c: see vf_bounce.h. */
#include "vf_bounce.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "vf_mime.h"

/* Lines that start the copy of the original message inside prose bounces. */
static const char *const original_markers[] = {"------ this is a copy of the message",
                                               "----- original message",
                                               "--- below this line is a copy of the message",
                                               "original message follows",
                                               "-----original message-----",
                                               "------ original message",
                                               "----- the following is a copy",
                                               "--- the header of the original message",
                                               "returned mail follows",
                                               "----- unsent message follows",
                                               "--- original message",
                                               "content-type: message/rfc822",
                                               "---------- forwarded message",
                                               "------- returned message",
                                               "original message headers",
                                               "----- message header follows",
                                               NULL};

static void collapse_ws(const char *s, size_t n, char *out, size_t size)
{
    size_t o = 0;
    int space = 0;
    for (size_t i = 0; i < n && s[i] && o + 1 < size; i++) {
        unsigned char c = (unsigned char)s[i];
        if (isspace(c) || c < 0x20) {
            space = o > 0;
            continue;
        }
        if (space && o + 2 < size)
            out[o++] = ' ';
        space = 0;
        out[o++] = (char)c;
    }
    out[o] = '\0';
}

static void strip_address(const char *in, char *out, size_t size)
{
    const char *p = strchr(in, ';');
    p = p ? p + 1 : in;
    while (*p == ' ' || *p == '<' || *p == '"')
        p++;
    size_t o = 0;
    for (; *p && *p != '>' && *p != ' ' && *p != '"' && o + 1 < size; p++)
        out[o++] = (char)tolower((unsigned char)*p);
    out[o] = '\0';
}

static int is_local_char(int c)
{
    return isalnum(c) || (c && strchr(".!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

static int is_domain_char(int c)
{
    return isalnum(c) || c == '.' || c == '-';
}

/* Finds the next address in [p, end); writes it lower-cased; returns a
 * pointer past it or NULL. *at_out gets the address start. */
static const char *next_address(const char *p, const char *end, char *out, size_t size,
                                const char **at_out)
{
    for (const char *q = p; q < end; q++) {
        if (*q != '@')
            continue;
        const char *s = q;
        while (s > p && is_local_char((unsigned char)s[-1]))
            s--;
        while (s < q && *s == '.')
            s++;
        const char *e = q + 1;
        while (e < end && is_domain_char((unsigned char)*e))
            e++;
        while (e > q + 1 && (e[-1] == '.' || e[-1] == '-'))
            e--;
        if (s == q || e == q + 1 || !memchr(q + 1, '.', (size_t)(e - q - 1)))
            continue;
        size_t n = (size_t)(e - s);
        if (n + 1 > size)
            continue;
        for (size_t i = 0; i < n; i++)
            out[i] = (char)tolower((unsigned char)s[i]);
        out[n] = '\0';
        *at_out = s;
        return e;
    }
    return NULL;
}

static int is_service_local(const char *addr)
{
    static const char *const locals[] = {
        "mailer-daemon@", "postmaster@", "mail-daemon@", "mailerdaemon@", "noreply@",
        "no-reply@",      "root@",       "bounce@",      "bounces@",      NULL};
    for (const char *const *l = locals; *l; l++)
        if (strncasecmp(addr, *l, strlen(*l)) == 0)
            return 1;
    return 0;
}

static vf_bounce_rcpt *add_rcpt(vf_bounce *b, const char *addr)
{
    for (int i = 0; i < b->n; i++)
        if (strcmp(b->rcpts[i].recipient, addr) == 0)
            return &b->rcpts[i];
    if (b->n >= VF_BOUNCE_MAX_RCPTS)
        return NULL;
    vf_bounce_rcpt *r = &b->rcpts[b->n++];
    memset(r, 0, sizeof *r);
    snprintf(r->recipient, sizeof r->recipient, "%s", addr);
    return r;
}

/* Parses one message/delivery-status body into recipients. */
static void parse_delivery_status(vf_bounce *b, char *body)
{
    char *p = body;
    while (*p) {
        /* Each group is a header block ending at a blank line. */
        char *end = strstr(p, "\n\n");
        size_t n = end ? (size_t)(end - p) + 1 : strlen(p);
        char *group = strndup(p, n);
        if (!group)
            return;
        char value[1024], addr[320] = "";
        if (vf_mime_header(group, "Final-Recipient", value, sizeof value) ||
            vf_mime_header(group, "Original-Recipient", value, sizeof value))
            strip_address(value, addr, sizeof addr);
        if (addr[0]) {
            vf_bounce_rcpt *r = add_rcpt(b, addr);
            if (r) {
                if (vf_mime_header(group, "Action", value, sizeof value))
                    collapse_ws(value, strcspn(value, " ("), r->action, sizeof r->action);
                for (char *c = r->action; *c; c++)
                    *c = (char)tolower((unsigned char)*c);
                if (vf_mime_header(group, "Status", value, sizeof value))
                    vf_find_status(value, r->status);
                if (vf_mime_header(group, "Diagnostic-Code", value, sizeof value)) {
                    const char *d = strchr(value, ';');
                    d = d ? d + 1 : value;
                    collapse_ws(d, strlen(d), r->diagnostic, sizeof r->diagnostic);
                }
                if (vf_mime_header(group, "Remote-MTA", value, sizeof value)) {
                    const char *d = strchr(value, ';');
                    d = d ? d + 1 : value;
                    collapse_ws(d, strlen(d), r->remote_mta, sizeof r->remote_mta);
                }
            }
        }
        free(group);
        if (!end)
            break;
        p = end + 2;
        while (*p == '\n')
            p++;
    }
}

/* Length of the bounce's own prose: up to the first original-message marker. */
static size_t prose_length(const char *text)
{
    size_t best = strlen(text);
    char *lower = strdup(text);
    if (!lower)
        return best;
    for (char *c = lower; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    for (const char *const *m = original_markers; *m; m++) {
        const char *hit = strstr(lower, *m);
        if (hit && (size_t)(hit - lower) < best && hit != lower)
            best = (size_t)(hit - lower);
    }
    free(lower);
    return best;
}

static int header_has_address(const char *headers, const char *name, const char *addr)
{
    char value[1024];
    if (!vf_mime_header(headers, name, value, sizeof value))
        return 0;
    for (char *c = value; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    return strstr(value, addr) != NULL;
}

/* Scans prose for failed addresses; the diagnostic of each is the text
 * between it and the next address. */
static void parse_prose(vf_bounce *b, const char *top_headers, const char *text, size_t n)
{
    const char *end = text + n;
    const char *p = text;
    char addr[320];
    const char *at;
    vf_bounce_rcpt *prev = NULL;
    const char *prev_end = NULL;
    while ((p = next_address(p, end, addr, sizeof addr, &at)) != NULL) {
        /* Skip the bounce's own sender and recipient and service mailboxes. */
        if (is_service_local(addr) || header_has_address(top_headers, "From", addr) ||
            header_has_address(top_headers, "To", addr))
            continue;
        if (prev && strcmp(prev->recipient, addr) == 0)
            continue; /* "a@b <a@b>": same recipient again */
        if (prev && prev_end) {
            if (!prev->diagnostic[0] || strlen(prev->diagnostic) < 8)
                collapse_ws(prev_end, (size_t)(at - prev_end), prev->diagnostic,
                            sizeof prev->diagnostic);
        }
        vf_bounce_rcpt *r = add_rcpt(b, addr);
        if (!r)
            break;
        if (r->diagnostic[0]) {
            prev = NULL;
            continue;
        }
        prev = r;
        /* The diagnostic starts at the address's line: some MTAs put the
         * reason before the address ("Unknown user: a@b"). */
        prev_end = at;
        while (prev_end > text && prev_end[-1] != '\n')
            prev_end--;
    }
    if (prev && prev_end && !prev->diagnostic[0]) {
        size_t left = (size_t)(end - prev_end);
        collapse_ws(prev_end, left > 900 ? 900 : left, prev->diagnostic, sizeof prev->diagnostic);
    }
}

/* Bounces often carry Auto-Submitted too: these say it is a failure notice. */
static int looks_like_bounce(const char *headers)
{
    char v[512];
    static const char *const words[] = {
        "mailer-daemon", "postmaster", "mail delivery",         "mail administrator", "undeliver",
        "fail",          "returned",   "delivery status",       "not delivered",      "error",
        "bounce",        "rejected",   "delivery notification", "nondeliver",         NULL};
    char both[1024] = "";
    if (vf_mime_header(headers, "From", v, sizeof v))
        snprintf(both, sizeof both, "%s ", v);
    if (vf_mime_header(headers, "Subject", v, sizeof v))
        strncat(both, v, sizeof both - strlen(both) - 1);
    for (char *c = both; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    for (const char *const *w = words; *w; w++)
        if (strstr(both, *w))
            return 1;
    return 0;
}

static int is_auto_reply(const char *headers)
{
    char v[512];
    if (looks_like_bounce(headers))
        return 0;
    if (vf_mime_header(headers, "Auto-Submitted", v, sizeof v) &&
        strncasecmp(v, "auto-replied", 12) == 0)
        return 1;
    if (vf_mime_header(headers, "X-Autoreply", v, sizeof v) ||
        vf_mime_header(headers, "X-Autorespond", v, sizeof v) ||
        vf_mime_header(headers, "X-Auto-Response-Suppress", v, sizeof v))
        return 1;
    if (vf_mime_header(headers, "Subject", v, sizeof v)) {
        static const char *const prefixes[] = {
            "auto:",      "automatic reply", "out of office", "autoreply",   "auto-reply",
            "auto reply", "vacation",        "away from",     "abwesenheit", NULL};
        for (const char *const *pf = prefixes; *pf; pf++)
            if (strncasecmp(v, *pf, strlen(*pf)) == 0)
                return 1;
    }
    return 0;
}

static void find_original_message_id(vf_bounce *b, const vf_mime *m)
{
    for (int i = 0; i < m->n_parts; i++) {
        const vf_mime_part *part = &m->parts[i];
        if (strcmp(part->ctype, "message/rfc822") == 0 ||
            strcmp(part->ctype, "text/rfc822-headers") == 0) {
            if (vf_mime_header(part->body, "Message-ID", b->original_message_id,
                               sizeof b->original_message_id))
                return;
        }
    }
}

static void finish_recipient(vf_bounce_rcpt *r)
{
    if (!r->status[0])
        vf_find_status(r->diagnostic, r->status);
    if (!r->reply_code)
        r->reply_code = vf_find_reply_code(r->diagnostic);
    if (!r->action[0]) {
        if (r->status[0] == '4' || (r->reply_code >= 400 && r->reply_code < 500))
            snprintf(r->action, sizeof r->action, "delayed");
        else
            snprintf(r->action, sizeof r->action, "failed");
    }
    if (strcmp(r->action, "delivered") == 0 || strcmp(r->action, "relayed") == 0 ||
        strcmp(r->action, "expanded") == 0) {
        r->cls.reason = "delivered";
        r->cls.category = XD__FAILURE_CATEGORY__FAILURE_CATEGORY_UNSPECIFIED;
        r->cls.hard = 0;
        return;
    }
    r->cls = vf_classify(r->reply_code, r->status, r->diagnostic);
    /* A failed DSN with a transient status means the sender gave up. */
    if (strcmp(r->action, "failed") == 0 && r->status[0] == '4' &&
        (strcmp(r->cls.reason, "systemerror") == 0 || strcmp(r->cls.reason, "undefined") == 0 ||
         strcmp(r->cls.reason, "networkerror") == 0)) {
        r->cls.reason = "expired";
        r->cls.category = XD__FAILURE_CATEGORY__FAILURE_CATEGORY_EXPIRED;
    }
}

/* Fills empty diagnostics of DSN recipients from the human-readable part. */
static void enrich_from_prose(vf_bounce *b, const char *top_headers, const char *text, size_t n)
{
    int need = 0;
    for (int i = 0; i < b->n; i++)
        need |= b->rcpts[i].diagnostic[0] == '\0';
    if (!need || !text)
        return;
    vf_bounce tmp;
    memset(&tmp, 0, sizeof tmp);
    parse_prose(&tmp, top_headers, text, n);
    for (int i = 0; i < b->n; i++) {
        if (b->rcpts[i].diagnostic[0])
            continue;
        for (int j = 0; j < tmp.n; j++)
            if (strcmp(tmp.rcpts[j].recipient, b->rcpts[i].recipient) == 0)
                snprintf(b->rcpts[i].diagnostic, sizeof b->rcpts[i].diagnostic, "%s",
                         tmp.rcpts[j].diagnostic);
        if (!b->rcpts[i].diagnostic[0] && b->n == 1)
            collapse_ws(text, n > 900 ? 900 : n, b->rcpts[i].diagnostic,
                        sizeof b->rcpts[i].diagnostic);
    }
}

/* Generic words of a delivery failure, when no code or known reason is there. */
static int says_failed(const char *diag)
{
    static const char *const words[] = {
        "unable to deliver",   "could not be delivered", "undeliverable",
        "delivery failed",     "permanent error",        "not be delivered",
        "delivery has failed", "failed permanently",     NULL};
    char lower[1024];
    size_t n = 0;
    for (; diag[n] && n + 1 < sizeof lower; n++)
        lower[n] = (char)tolower((unsigned char)diag[n]);
    lower[n] = '\0';
    for (const char *const *w = words; *w; w++)
        if (strstr(lower, *w))
            return 1;
    return 0;
}

int vf_bounce_parse(const char *raw, size_t len, vf_bounce *out)
{
    memset(out, 0, sizeof *out);
    if (len > VF_BOUNCE_MAX_BYTES)
        len = VF_BOUNCE_MAX_BYTES;
    vf_mime *m = vf_mime_parse(raw, len);
    if (!m)
        return -1;
    find_original_message_id(out, m);
    char apple[16];
    if (vf_mime_find(m, "message/feedback-report") ||
        (vf_mime_header(m->headers, "X-Apple-Unsubscribe", apple, sizeof apple) &&
         strcasecmp(apple, "true") == 0)) {
        out->kind = VF_BOUNCE_FEEDBACK;
        vf_mime_free(m);
        return 0;
    }
    /* The first text leaf is the human-readable notice. */
    const vf_mime_part *notice = NULL;
    for (int i = 0; i < m->n_parts && !notice; i++)
        if (strncmp(m->parts[i].ctype, "text/", 5) == 0 &&
            strcmp(m->parts[i].ctype, "text/rfc822-headers") != 0)
            notice = &m->parts[i];
    size_t notice_len = notice ? prose_length(notice->body) : 0;

    const vf_mime_part *ds = vf_mime_find(m, "message/delivery-status");
    if (!ds)
        ds = vf_mime_find(m, "message/global-delivery-status");
    if (ds) {
        parse_delivery_status(out, ds->body);
        if (out->n > 0) {
            out->kind = VF_BOUNCE_DSN;
            enrich_from_prose(out, m->headers, notice ? notice->body : NULL, notice_len);
        }
    }
    if (out->n == 0 && is_auto_reply(m->headers)) {
        out->kind = VF_BOUNCE_AUTO_REPLY;
        vf_mime_free(m);
        return 0;
    }
    if (out->n == 0) {
        char failed[1024];
        if (vf_mime_header(m->headers, "X-Failed-Recipients", failed, sizeof failed)) {
            char *save = NULL;
            for (char *tok = strtok_r(failed, ", ", &save); tok;
                 tok = strtok_r(NULL, ", ", &save)) {
                char addr[320];
                strip_address(tok, addr, sizeof addr);
                if (strchr(addr, '@'))
                    add_rcpt(out, addr);
            }
        }
        if (notice)
            enrich_from_prose(out, m->headers, notice->body, notice_len);
        if (out->n == 0 && notice)
            parse_prose(out, m->headers, notice->body, notice_len);
        if (out->n > 0)
            out->kind = VF_BOUNCE_PROSE;
    }
    for (int i = 0; i < out->n; i++)
        finish_recipient(&out->rcpts[i]);
    /* Prose without any failure signal is not a bounce. */
    if (out->kind == VF_BOUNCE_PROSE) {
        int signal = 0;
        for (int i = 0; i < out->n; i++)
            signal |= out->rcpts[i].status[0] || out->rcpts[i].reply_code ||
                      strcmp(out->rcpts[i].cls.reason, "undefined") != 0 ||
                      says_failed(out->rcpts[i].diagnostic);
        char subj[256] = "";
        vf_mime_header(m->headers, "Subject", subj, sizeof subj);
        if (!signal) {
            out->kind = VF_BOUNCE_NOT_BOUNCE;
            out->n = 0;
        }
    }
    vf_mime_free(m);
    return 0;
}
