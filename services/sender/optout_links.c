/* optout_links.c: one-click and mailto opt-out links (see optout_links.h). */
#include "optout_links.h"

#include <stdio.h>
#include <string.h>

#define DEFAULT_TTL_MS (365LL * 24 * 3600 * 1000)

/* 1 when s has only characters safe unescaped in a URL, a header and an
 * HTML attribute. */
static int safe_link_text(const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c <= 0x20 || c >= 0x7F || strchr("\"'<>\\`{}|^,;", c))
            return 0;
    }
    return 1;
}

xd_code snd_optout_config_check(const snd_optout_config *cfg, xd_err *err)
{
    if (!cfg->secret || cfg->secret_len < XD_OPTOUT_SECRET_MIN)
        return xd_err_field(err, XD_INVALID_ARGUMENT, "optout.secret",
                            "optout.secret must be at least %d octets", XD_OPTOUT_SECRET_MIN);
    if (!cfg->base_url || strncmp(cfg->base_url, "https://", 8) != 0 ||
        strlen(cfg->base_url) > 256 || strlen(cfg->base_url) < 9 ||
        !safe_link_text(cfg->base_url) || strchr(cfg->base_url, '?') || strchr(cfg->base_url, '#'))
        return xd_err_field(err, XD_INVALID_ARGUMENT, "optout.base_url",
                            "optout.base_url must be an https:// URL without query, at most 256 "
                            "octets (RFC 8058 needs HTTPS)");
    const char *at = cfg->mailto ? strchr(cfg->mailto, '@') : NULL;
    if (!at || at == cfg->mailto || !at[1] || strlen(cfg->mailto) > 254 ||
        !safe_link_text(cfg->mailto) || strchr(cfg->mailto, '?'))
        return xd_err_field(
            err, XD_INVALID_ARGUMENT, "optout.mailto",
            "optout.mailto must be a plain address such as unsubscribe@example.org");
    return XD_OK;
}

xd_code snd_optout_links_make(const snd_optout_config *cfg, const char *org_id,
                              const char *recipient, int marketing, const char *module,
                              int64_t now_ms, snd_optout_links *out, xd_err *err)
{
    xd_code rc = snd_optout_config_check(cfg, err);
    if (rc != XD_OK)
        return rc;
    xd_optout_claims c;
    memset(&c, 0, sizeof c);
    if (strlen(org_id) > XD_OPTOUT_ORG_MAX || strlen(recipient) > XD_OPTOUT_RECIPIENT_MAX ||
        strlen(module) > XD_OPTOUT_CATEGORY_MAX)
        return xd_err_set(err, XD_INVALID_ARGUMENT, "opt-out claim too long");
    strcpy(c.org_id, org_id);
    strcpy(c.recipient, recipient);
    c.scope = marketing ? XD_OPTOUT_SCOPE_ORG : XD_OPTOUT_SCOPE_CATEGORY;
    if (!marketing)
        strcpy(c.category, module);
    c.expires_at_s = (now_ms + (cfg->ttl_ms > 0 ? cfg->ttl_ms : DEFAULT_TTL_MS)) / 1000;
    rc = xd_optout_token_make(cfg->secret, cfg->secret_len, &c, out->token, sizeof out->token, err);
    if (rc != XD_OK)
        return rc;
    snprintf(out->url, sizeof out->url, "%s?t=%s", cfg->base_url, out->token);
    snprintf(out->mailto, sizeof out->mailto, "mailto:%s?subject=unsubscribe%%20%s", cfg->mailto,
             out->token);
    return XD_OK;
}
