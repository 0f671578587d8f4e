/* vf_arf.c: see vf_arf.h. */
#include "vf_arf.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "vf_mime.h"

static void lower_in_place(char *s)
{
    for (; *s; s++)
        *s = (char)tolower((unsigned char)*s);
}

static void add_rcpt(vf_arf *a, const char *value)
{
    const char *p = strchr(value, ';'); /* "rfc822; a@b" */
    p = p ? p + 1 : value;
    while (*p == ' ' || *p == '<')
        p++;
    char addr[320];
    size_t o = 0;
    for (; *p && *p != '>' && *p != ' ' && *p != ',' && o + 1 < sizeof addr; p++)
        addr[o++] = (char)tolower((unsigned char)*p);
    addr[o] = '\0';
    if (!strchr(addr, '@') || a->n_rcpts >= VF_ARF_MAX_RCPTS)
        return;
    for (int i = 0; i < a->n_rcpts; i++)
        if (strcmp(a->rcpts[i], addr) == 0)
            return;
    snprintf(a->rcpts[a->n_rcpts++], sizeof a->rcpts[0], "%s", addr);
}

/* Adds every occurrence of header name in block (the field may repeat). */
static void add_all(vf_arf *a, const char *block, const char *name)
{
    size_t nl = strlen(name);
    for (const char *p = block; p && *p;) {
        if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            char value[512];
            if (vf_mime_header(p, name, value, sizeof value))
                add_rcpt(a, value);
        }
        p = strchr(p, '\n');
        if (p)
            p++;
    }
}

int vf_arf_parse(const char *raw, size_t len, vf_arf *out)
{
    memset(out, 0, sizeof *out);
    vf_mime *m = vf_mime_parse(raw, len);
    if (!m)
        return -1;
    const vf_mime_part *fr = vf_mime_find(m, "message/feedback-report");
    if (fr) {
        out->is_report = 1;
        /* The report body is one header block. */
        const char *b = fr->body;
        while (*b == '\n')
            b++;
        vf_mime_header(b, "Feedback-Type", out->feedback_type, sizeof out->feedback_type);
        lower_in_place(out->feedback_type);
        vf_mime_header(b, "User-Agent", out->user_agent, sizeof out->user_agent);
        vf_mime_header(b, "Version", out->version, sizeof out->version);
        vf_mime_header(b, "Source-IP", out->source_ip, sizeof out->source_ip);
        vf_mime_header(b, "Auth-Failure", out->auth_failure, sizeof out->auth_failure);
        lower_in_place(out->auth_failure);
        vf_mime_header(b, "Original-Mail-From", out->original_mail_from,
                       sizeof out->original_mail_from);
        add_all(out, b, "Original-Rcpt-To");
        add_all(out, b, "Removal-Recipient");
    }
    /* Apple Mail's one-click unsubscribe arrives as a plain message from the
     * recipient with X-Apple-Unsubscribe: true: an opt-out by the sender. */
    char apple[16];
    if (!fr && vf_mime_header(m->headers, "X-Apple-Unsubscribe", apple, sizeof apple) &&
        strcasecmp(apple, "true") == 0) {
        char from[512];
        out->is_report = 1;
        snprintf(out->feedback_type, sizeof out->feedback_type, "opt-out");
        snprintf(out->user_agent, sizeof out->user_agent, "Apple Mail (X-Apple-Unsubscribe)");
        if (vf_mime_header(m->headers, "From", from, sizeof from)) {
            const char *lt = strchr(from, '<');
            add_rcpt(out, lt ? lt : from);
        }
    }
    for (int i = 0; i < m->n_parts; i++) {
        const vf_mime_part *part = &m->parts[i];
        if (strcmp(part->ctype, "message/rfc822") != 0 &&
            strcmp(part->ctype, "text/rfc822-headers") != 0 &&
            strcmp(part->ctype, "message/rfc822-headers") != 0)
            continue;
        const char *h = part->body;
        while (*h == '\n')
            h++;
        vf_mime_header(h, "Message-ID", out->original_message_id, sizeof out->original_message_id);
        vf_mime_header(h, "Subject", out->subject, sizeof out->subject);
        if (out->n_rcpts == 0) {
            char to[512];
            if (vf_mime_header(h, "To", to, sizeof to)) {
                /* "Name <a@b>" or "a@b": take the bracketed part when present. */
                const char *lt = strchr(to, '<');
                add_rcpt(out, lt ? lt : to);
            }
        }
        break;
    }
    vf_mime_free(m);
    return 0;
}

int vf_arf_suppresses(const vf_arf *a)
{
    return strcmp(a->feedback_type, "abuse") == 0 || strcmp(a->feedback_type, "opt-out") == 0 ||
           strcmp(a->feedback_type, "fraud") == 0;
}
