/* compose_validate.c: bounds and syntax of a message before composing. */
#include "compose_header.h"
#include "compose_message.h"
#include "mime_encode.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "xd/util.h"

/* Headers a module may set; everything else is ours (or forbidden). */
static const char *const ALLOWED_HEADERS[] = {
    "X-Campaign-Id",
    "X-Entity-Ref-Id",
    "X-XenDirect-Module",
    "X-XenDirect-Ref",
    "Precedence",
    "Auto-Submitted",
    "Keywords",
    "Comments",
    "References",
    "In-Reply-To",
    /* Set by SendTestCopy only (Submit refuses it from modules); on top of
     * the module's own headers. */
    "X-XenDirect-Test",
};

int snd_custom_header_allowed(const char *name)
{
    for (size_t i = 0; i < sizeof ALLOWED_HEADERS / sizeof ALLOWED_HEADERS[0]; i++)
        if (strcasecmp(name, ALLOWED_HEADERS[i]) == 0)
            return 1;
    return 0;
}

static xd_code check_mailbox(const char *field, const snd_address *a, xd_err *err)
{
    snd_buf scratch;
    snd_buf_init(&scratch, 4096);
    /* smtputf8=1: accept what some hop could carry; composing checks again
     * against the real hop. */
    xd_code rc = snd_hdr_mailbox(&scratch, field, a->address, a->display_name, 1, err);
    snd_buf_free(&scratch);
    return rc;
}

static xd_code check_list(const char *name, const snd_address *list, size_t n, xd_err *err)
{
    char field[XD_ERR_FIELD_MAX];
    for (size_t i = 0; i < n; i++) {
        snprintf(field, sizeof field, "%s[%zu]", name, i);
        xd_code rc = check_mailbox(field, &list[i], err);
        if (rc != XD_OK)
            return rc;
    }
    return XD_OK;
}

static int is_token_char(unsigned char c)
{
    return c > 0x20 && c < 0x7F && !strchr("()<>@,;:\\\"/[]?=", c);
}

int snd_valid_mime_type(const char *t, int image_only)
{
    const char *slash = strchr(t, '/');
    if (!slash || slash == t || !slash[1] || strlen(t) > SND_MAX_MIME_TYPE)
        return 0;
    if (image_only && strncasecmp(t, "image/", 6) != 0)
        return 0;
    for (const char *p = t; *p; p++)
        if (p != slash && !is_token_char((unsigned char)*p))
            return 0;
    return strncasecmp(t, "multipart/", 10) != 0 && strncasecmp(t, "message/", 8) != 0;
}

static int valid_content_id(const char *cid)
{
    size_t n = strlen(cid);
    if (n == 0 || n > SND_MAX_CONTENT_ID)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)cid[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              strchr(".@-_+=", c)))
            return 0;
    }
    return 1;
}

static xd_code check_files(const char *name, const snd_attachment *f, size_t n, int inline_img,
                           size_t *total, xd_err *err)
{
    char field[XD_ERR_FIELD_MAX];
    for (size_t i = 0; i < n; i++) {
        const snd_attachment *a = &f[i];
        snprintf(field, sizeof field, "%s[%zu].filename", name, i);
        const char *fn = a->filename ? a->filename : "";
        xd_code rc = snd_hdr_check_value(field, fn, SND_MAX_FILENAME, err);
        if (rc != XD_OK)
            return rc;
        if (!inline_img && fn[0] == '\0')
            return xd_err_field(err, XD_INVALID_ARGUMENT, field, "%s is empty", field);
        if (strchr(fn, '/') || strchr(fn, '\\'))
            return xd_err_field(err, XD_INVALID_ARGUMENT, field,
                                "%s must be a plain name without '/' or '\\'", field);
        snprintf(field, sizeof field, "%s[%zu].content_type", name, i);
        if (!a->content_type || xd_has_crlf_nul(a->content_type, strlen(a->content_type)))
            return xd_err_field(err, XD_INVALID_ARGUMENT, field, "%s is missing or has CR/LF",
                                field);
        if (!snd_valid_mime_type(a->content_type, inline_img))
            return xd_err_field(err, XD_INVALID_ARGUMENT, field,
                                "%s \"%.100s\" is not a type/subtype%s", field, a->content_type,
                                inline_img ? " of image/*" : "");
        snprintf(field, sizeof field, "%s[%zu].content_id", name, i);
        const char *cid = a->content_id ? a->content_id : "";
        if (xd_has_crlf_nul(cid, strlen(cid)))
            return xd_err_field(err, XD_INVALID_ARGUMENT, field, "%s contains CR or LF", field);
        if ((inline_img || cid[0]) && !valid_content_id(cid))
            return xd_err_field(err, XD_INVALID_ARGUMENT, field,
                                "%s must be 1-%d octets of letters, digits and .@-_+=", field,
                                SND_MAX_CONTENT_ID);
        snprintf(field, sizeof field, "%s[%zu].content", name, i);
        if (a->len > SND_MAX_FILE)
            return xd_err_field(err, XD_INVALID_ARGUMENT, field, "%s is %zu octets; at most %u",
                                field, a->len, SND_MAX_FILE);
        if (a->len && !a->data)
            return xd_err_field(err, XD_INVALID_ARGUMENT, field, "%s has no data", field);
        *total += a->len;
        if (*total > SND_MAX_FILES_TOTAL)
            return xd_err_field(err, XD_INVALID_ARGUMENT, field,
                                "%s: attachments and inline images together exceed %u octets",
                                field, SND_MAX_FILES_TOTAL);
    }
    return XD_OK;
}

static xd_code check_body(const char *field, const char *body, xd_err *err)
{
    if (!body)
        return XD_OK;
    size_t n = strlen(body);
    if (n > SND_MAX_BODY)
        return xd_err_field(err, XD_INVALID_ARGUMENT, field, "%s is %zu octets; at most %u", field,
                            n, SND_MAX_BODY);
    if (!snd_is_valid_utf8(body, n))
        return xd_err_field(err, XD_INVALID_ARGUMENT, field, "%s is not valid UTF-8", field);
    return XD_OK;
}

static xd_code check_ids(const snd_message *m, xd_err *err)
{
    const char *org = m->org_id ? m->org_id : "";
    if (org[0] == '\0' || strlen(org) > SND_MAX_ORG_ID || xd_has_crlf_nul(org, strlen(org)) ||
        strchr(org, '\n'))
        return xd_err_field(err, XD_INVALID_ARGUMENT, "org_id", "org_id must be 1-%d octets",
                            SND_MAX_ORG_ID);
    const char *mod = m->module ? m->module : "";
    size_t n = strlen(mod);
    if (n == 0 || n > SND_MAX_MODULE)
        return xd_err_field(err, XD_INVALID_ARGUMENT, "module", "module must be 1-%d octets",
                            SND_MAX_MODULE);
    for (size_t i = 0; i < n; i++) {
        char c = mod[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
            return xd_err_field(err, XD_INVALID_ARGUMENT, "module",
                                "module may contain only a-z, 0-9, '.', '_' and '-'");
    }
    if (m->category != SND_CATEGORY_TRANSACTIONAL && m->category != SND_CATEGORY_MARKETING)
        return xd_err_field(err, XD_INVALID_ARGUMENT, "category",
                            "category must be TRANSACTIONAL or MARKETING");
    return XD_OK;
}

xd_code snd_compose_validate(const snd_message *m, xd_err *err)
{
    xd_code rc = check_ids(m, err);
    if (rc != XD_OK)
        return rc;
    if ((rc = check_mailbox("from", &m->from, err)) != XD_OK)
        return rc;
    if (m->n_reply_to > SND_MAX_REPLY_TO)
        return xd_err_field(err, XD_INVALID_ARGUMENT, "reply_to", "at most %d reply_to addresses",
                            SND_MAX_REPLY_TO);
    size_t n_rcpt = m->n_to + m->n_cc + m->n_bcc;
    if (n_rcpt == 0)
        return xd_err_field(err, XD_INVALID_ARGUMENT, "to", "no recipients: give to, cc or bcc");
    if (n_rcpt > SND_MAX_RECIPIENTS)
        return xd_err_field(err, XD_INVALID_ARGUMENT, "to",
                            "%zu recipients; at most %d per message (to + cc + bcc)", n_rcpt,
                            SND_MAX_RECIPIENTS);
    if ((rc = check_list("reply_to", m->reply_to, m->n_reply_to, err)) != XD_OK ||
        (rc = check_list("to", m->to, m->n_to, err)) != XD_OK ||
        (rc = check_list("cc", m->cc, m->n_cc, err)) != XD_OK ||
        (rc = check_list("bcc", m->bcc, m->n_bcc, err)) != XD_OK)
        return rc;
    const char *subject = m->subject ? m->subject : "";
    if ((rc = snd_hdr_check_value("subject", subject, SND_MAX_SUBJECT, err)) != XD_OK)
        return rc;
    if (subject[0] == '\0')
        return xd_err_field(err, XD_INVALID_ARGUMENT, "subject", "subject is empty");
    int has_text = m->text_body && m->text_body[0];
    int has_html = m->html_body && m->html_body[0];
    if (!has_text && !has_html)
        return xd_err_field(err, XD_INVALID_ARGUMENT, "text_body",
                            "no body: give text_body, html_body or both");
    if ((rc = check_body("text_body", m->text_body, err)) != XD_OK ||
        (rc = check_body("html_body", m->html_body, err)) != XD_OK)
        return rc;
    if (m->n_attachments + m->n_inline_images > SND_MAX_FILES)
        return xd_err_field(err, XD_INVALID_ARGUMENT, "attachments",
                            "%zu attachments and inline images; at most %d",
                            m->n_attachments + m->n_inline_images, SND_MAX_FILES);
    if (m->n_inline_images && !has_html)
        return xd_err_field(err, XD_INVALID_ARGUMENT, "inline_images",
                            "inline_images need an html_body that references them");
    size_t total = 0;
    if ((rc = check_files("attachments", m->attachments, m->n_attachments, 0, &total, err)) !=
            XD_OK ||
        (rc = check_files("inline_images", m->inline_images, m->n_inline_images, 1, &total, err)) !=
            XD_OK)
        return rc;
    size_t n_test = 0;
    for (size_t i = 0; i < m->n_headers; i++)
        n_test += m->headers[i].name && strcasecmp(m->headers[i].name, "X-XenDirect-Test") == 0;
    if (n_test > 1 || m->n_headers - n_test > SND_MAX_CUSTOM_HEADERS)
        return xd_err_field(err, XD_INVALID_ARGUMENT, "headers",
                            "headers: at most %d custom headers", SND_MAX_CUSTOM_HEADERS);
    char field[XD_ERR_FIELD_MAX];
    for (size_t i = 0; i < m->n_headers; i++) {
        const snd_custom_header *h = &m->headers[i];
        snprintf(field, sizeof field, "headers[%zu].name", i);
        const char *name = h->name ? h->name : "";
        if (xd_has_crlf_nul(name, strlen(name)) || !snd_hdr_valid_name(name))
            return xd_err_field(err, XD_INVALID_ARGUMENT, field, "%s is not a header name", field);
        if (!snd_custom_header_allowed(name))
            return xd_err_field(err, XD_INVALID_ARGUMENT, field,
                                "%s \"%.76s\" is not on the allow-list (X-Campaign-Id, "
                                "X-Entity-Ref-Id, X-XenDirect-Module, X-XenDirect-Ref, "
                                "Precedence, Auto-Submitted, Keywords, Comments, References, "
                                "In-Reply-To)",
                                field, name);
        snprintf(field, sizeof field, "headers[%zu].value", i);
        if ((rc = snd_hdr_check_value(field, h->value ? h->value : "", SND_MAX_HEADER_VALUE,
                                      err)) != XD_OK)
            return rc;
    }
    return XD_OK;
}
