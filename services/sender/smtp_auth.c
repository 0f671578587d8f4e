/*
 * smtp_auth.c: AUTH PLAIN (RFC 4616, sent as an initial response) and AUTH
 * LOGIN. Buffers that held credentials are wiped before returning, and the
 * debug log shows only the mechanism name.
 */
#include "smtp_internal.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

/* Base64 of in[0..n) into out (cap >= 4*((n+2)/3)+1). Returns its length. */
static size_t b64(const unsigned char *in, size_t n, char *out)
{
    return (size_t)EVP_EncodeBlock((unsigned char *)out, in, (int)n);
}

/* Sends one line that carries a secret; the log shows only `shown`. */
static int send_secret(snd_smtp_session *s, const char *line, size_t len, const char *shown,
                       snd_smtp_status *st)
{
    return snd_smtp_write_cmd(s, line, len, shown, SND_SMTP_PHASE_AUTH, s->t.auth_ms, st);
}

static int expect(snd_smtp_session *s, int want, snd_smtp_status *st)
{
    snd_smtp_reply r;
    if (snd_smtp_read_reply(s, SND_SMTP_PHASE_AUTH, s->t.auth_ms, &r, NULL, st) != 0)
        return -1;
    if (r.code == want)
        return 0;
    snd_smtp_status_from_reply(st, SND_SMTP_PHASE_AUTH, &r);
    if (st->outcome == SND_SMTP_DELIVERED)
        st->outcome = SND_SMTP_PERMFAIL; /* e.g. 235 where 334 was due: not usable */
    if (r.code == 334) {
        /* the server wants more than we have: cancel the exchange (RFC 4954) */
        (void)snd_smtp_write_cmd(s, "*\r\n", 3, NULL, SND_SMTP_PHASE_AUTH, s->t.auth_ms, st);
        s->usable = 0;
        snd_smtp_status_from_reply(st, SND_SMTP_PHASE_AUTH, &r);
        st->outcome = SND_SMTP_PERMFAIL;
    }
    return -1;
}

static int auth_plain(snd_smtp_session *s, const snd_smtp_opts *o, snd_smtp_status *st)
{
    unsigned char raw[2 + 2 * 256];
    char line[16 + sizeof(raw) * 4 / 3 + 8];
    size_t ul = strlen(o->username), pl = strlen(o->password);
    raw[0] = '\0';
    memcpy(raw + 1, o->username, ul);
    raw[1 + ul] = '\0';
    memcpy(raw + 2 + ul, o->password, pl);
    memcpy(line, "AUTH PLAIN ", 11);
    size_t n = 11 + b64(raw, 2 + ul + pl, line + 11);
    line[n++] = '\r';
    line[n++] = '\n';
    int rc = send_secret(s, line, n, "AUTH PLAIN <credentials hidden>", st);
    OPENSSL_cleanse(raw, sizeof(raw));
    OPENSSL_cleanse(line, sizeof(line));
    if (rc != 0)
        return -1;
    return expect(s, 235, st);
}

static int auth_login(snd_smtp_session *s, const snd_smtp_opts *o, snd_smtp_status *st)
{
    char line[400];
    if (snd_smtp_write_cmd(s, "AUTH LOGIN\r\n", 12, NULL, SND_SMTP_PHASE_AUTH, s->t.auth_ms, st) !=
            0 ||
        expect(s, 334, st) != 0)
        return -1;
    const char *parts[2] = {o->username, o->password};
    const char *shown[2] = {"<username hidden>", "<password hidden>"};
    for (int i = 0; i < 2; i++) {
        size_t n = b64((const unsigned char *)parts[i], strlen(parts[i]), line);
        line[n++] = '\r';
        line[n++] = '\n';
        int rc = send_secret(s, line, n, shown[i], st);
        OPENSSL_cleanse(line, sizeof(line));
        if (rc != 0 || expect(s, i == 0 ? 334 : 235, st) != 0)
            return -1;
    }
    return 0;
}

int snd_smtp_auth(snd_smtp_session *s, const snd_smtp_opts *o, snd_smtp_status *st)
{
    unsigned offered = (s->ext.flags & SND_SMTP_EXT_AUTH) ? s->ext.auth_mechs : 0;
    unsigned want = o->auth_mech == SND_SMTP_AUTH_USE_PLAIN   ? SND_SMTP_AUTH_PLAIN
                    : o->auth_mech == SND_SMTP_AUTH_USE_LOGIN ? SND_SMTP_AUTH_LOGIN
                    : (offered & SND_SMTP_AUTH_PLAIN)         ? SND_SMTP_AUTH_PLAIN
                                                              : SND_SMTP_AUTH_LOGIN;
    if (!(offered & want)) {
        snd_smtp_status_local(st, SND_SMTP_TEMPFAIL, SND_SMTP_PHASE_AUTH,
                              "the server does not offer AUTH %s",
                              want == SND_SMTP_AUTH_PLAIN ? "PLAIN" : "LOGIN");
        return -1;
    }
    return want == SND_SMTP_AUTH_PLAIN ? auth_plain(s, o, st) : auth_login(s, o, st);
}
