/* compose_mime.c: multipart/alternative, related and mixed bodies. */
#include "compose_mime.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "mime_encode.h"

typedef struct body_ctx {
    const snd_message *m;
    const snd_compose_opts *o;
    const snd_banner *banner; /* o->banner, else the message's own; NULL = none */
    const char *seed;
    snd_buf text; /* final text part, CRLF */
    snd_buf html; /* final HTML part, CRLF */
    int has_text, has_html, has_banner_image;
    /* Content-ID of the banner image: unique per message (RFC 2045 7),
     * stable across retries. */
    char banner_cid[64];
} body_ctx;

/* Finds needle case-insensitively; last=1 for the last occurrence. */
static const char *find_ci(const char *hay, const char *needle, int last)
{
    size_t n = strlen(needle);
    const char *found = NULL;
    char lo = needle[0], up = (lo >= 'a' && lo <= 'z') ? (char)(lo - 32) : lo;
    for (const char *p = hay; *p; p++) {
        if ((*p == lo || *p == up) && strncasecmp(p, needle, n) == 0) {
            found = p;
            if (!last)
                break;
        }
    }
    return found;
}

static int is_cid_char(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           (ch && strchr(".@-_+=", ch));
}

const char *snd_banner_cid_ref(const char *html)
{
    static const char REF[] = "cid:banner";
    for (const char *p = html ? find_ci(html, REF, 0) : NULL; p; p = find_ci(p + 1, REF, 0))
        if (!is_cid_char((unsigned char)p[sizeof REF - 1]))
            return p;
    return NULL;
}

/* The banner's HTML with every cid:banner pointing at this message's image. */
static void banner_html(snd_buf *out, const char *html, const char *cid)
{
    const char *p = html, *ref;
    while ((ref = snd_banner_cid_ref(p)) != NULL) {
        snd_buf_append(out, p, (size_t)(ref - p));
        snd_buf_cat(out, "cid:", cid, NULL);
        p = ref + strlen("cid:banner");
    }
    snd_buf_puts(out, p);
}

/* Text for an HTML attribute value in double quotes. */
static void html_attr(snd_buf *out, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '"':
            snd_buf_puts(out, "&quot;");
            break;
        case '&':
            snd_buf_puts(out, "&amp;");
            break;
        case '<':
            snd_buf_puts(out, "&lt;");
            break;
        case '>':
            snd_buf_puts(out, "&gt;");
            break;
        default:
            snd_buf_putc(out, *s);
        }
    }
}

static void build_text(body_ctx *c, const char *url)
{
    const snd_banner *b = c->banner;
    const char *banner = b ? (b->text ? b->text : b->image_alt) : NULL;
    if (banner && banner[0]) {
        snd_mime_crlf_normalize(&c->text, banner, strlen(banner));
        snd_buf_puts(&c->text, "\r\n\r\n");
    }
    snd_mime_crlf_normalize(&c->text, c->m->text_body, strlen(c->m->text_body));
    if (c->text.len < 2 || memcmp(c->text.data + c->text.len - 2, "\r\n", 2) != 0)
        snd_buf_puts(&c->text, "\r\n");
    snd_buf_cat(&c->text, "\r\n--\r\nTo stop receiving these emails, unsubscribe here:\r\n", url,
                "\r\n", NULL);
}

static void build_html(body_ctx *c, const char *url)
{
    const char *src = c->m->html_body;
    const snd_banner *b = c->banner;
    snd_buf banner;
    snd_buf_init(&banner, 0);
    if (b && b->html && b->html[0])
        banner_html(&banner, b->html, c->banner_cid);
    /* An image the banner's HTML does not show itself gets its own block. */
    if (c->has_banner_image && !snd_banner_cid_ref(b->html)) {
        snd_buf_cat(&banner, "<div><img src=\"cid:", c->banner_cid, "\" alt=\"", NULL);
        html_attr(&banner, b->image_alt);
        snd_buf_puts(&banner, "\"></div>");
    }
    /* The banner goes right after <body ...>, the footer before </body>. */
    const char *body_open = find_ci(src, "<body", 0);
    const char *after_open = body_open ? strchr(body_open, '>') : NULL;
    size_t head = after_open ? (size_t)(after_open + 1 - src) : 0;
    const char *close = find_ci(src + head, "</body", 1);
    size_t mid_end = close ? (size_t)(close - src) : strlen(src);
    snd_buf raw;
    snd_buf_init(&raw, 0);
    snd_buf_append(&raw, src, head);
    snd_buf_append(&raw, banner.data ? banner.data : "", banner.len);
    snd_buf_append(&raw, src + head, mid_end - head);
    snd_buf_cat(&raw,
                "\n<p style=\"font-size:12px;color:#666666\">To stop receiving these emails, "
                "<a href=\"",
                url, "\">unsubscribe here</a>.</p>\n", NULL);
    snd_buf_puts(&raw, src + mid_end);
    snd_mime_crlf_normalize(&c->html, raw.data, raw.len);
    snd_buf_free(&raw);
    snd_buf_free(&banner);
}

static void boundary(char *out, size_t size, const body_ctx *c, char level)
{
    /* "=_xd<level>_<seed>" */
    size_t n = strlen(c->seed);
    if (size < n + 6) {
        out[0] = '\0';
        return;
    }
    memcpy(out, "=_xd", 4);
    out[4] = level;
    out[5] = '_';
    memcpy(out + 6, c->seed, n + 1);
}

static void write_text_entity(snd_buf *out, const snd_buf *text, const char *subtype)
{
    snd_cte cte = snd_mime_choose_text_cte(text->data, text->len);
    snd_buf_cat(out, "Content-Type: text/", subtype,
                "; charset=utf-8\r\nContent-Transfer-Encoding: ", snd_cte_name(cte), "\r\n\r\n",
                NULL);
    if (cte == SND_CTE_7BIT)
        snd_buf_append(out, text->data, text->len);
    else if (cte == SND_CTE_QP)
        snd_mime_qp(out, text->data, text->len);
    else
        snd_mime_base64(out, text->data, text->len);
}

/* A MIME parameter value: quoted-string when ASCII, RFC 2231 otherwise. */
static void write_param(snd_buf *out, const char *name, const char *value)
{
    size_t n = strlen(value);
    if (snd_is_printable_ascii(value, n)) {
        snd_buf_printf(out, "; %s=\"", name);
        for (size_t i = 0; i < n; i++) {
            if (value[i] == '"' || value[i] == '\\')
                snd_buf_putc(out, '\\');
            snd_buf_putc(out, value[i]);
        }
        snd_buf_putc(out, '"');
        return;
    }
    snd_buf_printf(out, ";\r\n %s*=utf-8''", name);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)value[i];
        int plain = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                    (ch >= '0' && ch <= '9') || strchr("!#$&+-.^_`|~", ch);
        if (plain && ch)
            snd_buf_putc(out, (char)ch);
        else
            snd_buf_printf(out, "%%%02X", ch);
    }
}

static void write_file_entity(snd_buf *out, const snd_attachment *a, int inline_img)
{
    const char *fn = a->filename ? a->filename : "";
    snd_buf_printf(out, "Content-Type: %s", a->content_type);
    if (fn[0])
        write_param(out, "name", fn);
    snd_buf_printf(out, "\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: %s",
                   inline_img ? "inline" : "attachment");
    if (fn[0])
        write_param(out, "filename", fn);
    snd_buf_puts(out, "\r\n");
    if (a->content_id && a->content_id[0])
        snd_buf_printf(out, "Content-ID: <%s>\r\n", a->content_id);
    snd_buf_puts(out, "\r\n");
    snd_mime_base64(out, a->data, a->len);
}

static void multipart_open(snd_buf *out, const char *subtype, const char *b, const char *extra)
{
    snd_buf_cat(out, "Content-Type: multipart/", subtype, ";", extra ? extra : "",
                "\r\n boundary=\"", b, "\"\r\n\r\nThis is a multi-part message in MIME format.\r\n",
                NULL);
}

static void part_sep(snd_buf *out, const char *b)
{
    snd_buf_cat(out, "\r\n--", b, "\r\n", NULL);
}

static void write_html_side(snd_buf *out, body_ctx *c)
{
    if (!c->m->n_inline_images && !c->has_banner_image) {
        write_text_entity(out, &c->html, "html");
        return;
    }
    char b[64];
    boundary(b, sizeof b, c, 'r');
    multipart_open(out, "related", b, " type=\"text/html\";");
    part_sep(out, b);
    write_text_entity(out, &c->html, "html");
    if (c->has_banner_image) {
        snd_attachment img = {"", c->banner->image_type, c->banner_cid, c->banner->image,
                              c->banner->image_len};
        part_sep(out, b);
        write_file_entity(out, &img, 1);
    }
    for (size_t i = 0; i < c->m->n_inline_images; i++) {
        part_sep(out, b);
        write_file_entity(out, &c->m->inline_images[i], 1);
    }
    snd_buf_cat(out, "\r\n--", b, "--\r\n", NULL);
}

static void write_alternative(snd_buf *out, body_ctx *c)
{
    if (!c->has_html) {
        write_text_entity(out, &c->text, "plain");
        return;
    }
    if (!c->has_text) {
        write_html_side(out, c);
        return;
    }
    char b[64];
    boundary(b, sizeof b, c, 'a');
    multipart_open(out, "alternative", b, NULL);
    part_sep(out, b);
    write_text_entity(out, &c->text, "plain");
    part_sep(out, b);
    write_html_side(out, c);
    snd_buf_cat(out, "\r\n--", b, "--\r\n", NULL);
}

xd_code snd_mime_write_body(snd_buf *out, const snd_message *m, const snd_compose_opts *o,
                            const char *unsubscribe_url, const char *seed, xd_err *err)
{
    body_ctx c;
    memset(&c, 0, sizeof c);
    c.m = m;
    c.o = o;
    c.seed = seed;
    c.banner = o->banner ? o->banner : m->banner;
    if (c.banner)
        snprintf(c.banner_cid, sizeof c.banner_cid, "banner.%s@xendirect.invalid", seed);
    snd_buf_init(&c.text, SND_MAX_BODY * 2);
    snd_buf_init(&c.html, SND_MAX_BODY * 2);
    c.has_text = m->text_body && m->text_body[0];
    c.has_html = m->html_body && m->html_body[0];
    const snd_banner *bn = c.banner;
    c.has_banner_image = c.has_html && bn && bn->image && bn->image_len && bn->image_type &&
                         strncasecmp(bn->image_type, "image/", 6) == 0 &&
                         !strpbrk(bn->image_type, "\r\n\";");
    if (c.has_text)
        build_text(&c, unsubscribe_url);
    if (c.has_html)
        build_html(&c, unsubscribe_url);
    if (m->n_attachments == 0) {
        write_alternative(out, &c);
    } else {
        char b[64];
        boundary(b, sizeof b, &c, 'm');
        multipart_open(out, "mixed", b, NULL);
        part_sep(out, b);
        write_alternative(out, &c);
        for (size_t i = 0; i < m->n_attachments; i++) {
            part_sep(out, b);
            write_file_entity(out, &m->attachments[i], 0);
        }
        snd_buf_cat(out, "\r\n--", b, "--\r\n", NULL);
    }
    int overflow = c.text.overflow || c.html.overflow || out->overflow;
    snd_buf_free(&c.text);
    snd_buf_free(&c.html);
    if (overflow)
        return xd_err_field(err, XD_INVALID_ARGUMENT, "attachments",
                            "composed message exceeds %u octets", SND_MAX_MESSAGE);
    return XD_OK;
}
