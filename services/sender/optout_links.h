/*
 * optout_links.h: the opt-out links of one message copy: the HTTPS one-click
 * URL (RFC 8058, served by the gateway), the mailto: alternative (RFC 2369),
 * and the List-Unsubscribe field value that carries both.
 *
 * The token (xd/optout_token.h) covers the organization, the recipient and
 * a scope: a MARKETING message opts the recipient out of the organization's
 * marketing mail (scope ORG); a TRANSACTIONAL message opts out of that
 * module's category only (scope CATEGORY, category = module), so a password
 * reset still arrives. Memory: fixed-size output struct owned by the caller.
 * Thread-safety: pure functions; the config is read-only.
 */
#ifndef SND_OPTOUT_LINKS_H
#define SND_OPTOUT_LINKS_H

#include <stddef.h>
#include <stdint.h>
#include "xd/optout_token.h"
#include "xd/status.h"

typedef struct snd_optout_config {
    const void *secret; /* HMAC key (>= XD_OPTOUT_SECRET_MIN octets) */
    size_t secret_len;
    const char *base_url; /* "https://mail.example.org/unsubscribe": ?t=<token> is added */
    const char *mailto;   /* "unsubscribe@mail.example.org" */
    int64_t ttl_ms;       /* how long a link works; 0 = 365 days */
} snd_optout_config;

typedef struct snd_optout_links {
    char url[1536];    /* https://...?t=<token> */
    char mailto[1536]; /* mailto:addr?subject=unsubscribe%20<token> */
    char token[XD_OPTOUT_TOKEN_MAX];
} snd_optout_links;

/* Checks the config: https:// URL and a mailbox, both without characters
 * that would need escaping in a header or an HTML attribute. */
xd_code snd_optout_config_check(const snd_optout_config *cfg, xd_err *err);

/* Builds the links for recipient (wire form). marketing selects the scope
 * (see above); module names the category otherwise. */
xd_code snd_optout_links_make(const snd_optout_config *cfg, const char *org_id,
                              const char *recipient, int marketing, const char *module,
                              int64_t now_ms, snd_optout_links *out, xd_err *err);

#endif
