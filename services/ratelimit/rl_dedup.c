/* rl_dedup.c: compact request-id records; see rl_dedup.h. */
#include "rl_dedup.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RL_DEDUP_MAX_KEYS 64

rl_dedup *rl_dedup_make(const char *id, int64_t at_ms, int is_refund, const rl_decision *x,
                        const char *const *keys, const int64_t *interval_ns, int n_keys)
{
    if (n_keys > RL_DEDUP_MAX_KEYS || n_keys < 0)
        return NULL;
    const char *binding = x ? x->binding_rule : "";
    const char *reason = x ? x->reason : "";
    const char *provider = x ? x->provider : "";
    size_t idl = strlen(id) + 1;
    size_t extra = strlen(binding) + strlen(reason) + strlen(provider) + 4;
    for (int i = 0; i < n_keys; i++)
        extra += strlen(keys[i]) + 1;
    size_t ivoff = (sizeof(rl_dedup) + idl + extra + 7) & ~(size_t)7;
    rl_dedup *d = malloc(ivoff + sizeof(int64_t) * (size_t)n_keys);
    if (!d)
        return NULL;
    memset(d, 0, sizeof(*d));
    memcpy(d->id, id, idl);
    d->at_ms = at_ms;
    d->is_refund = (uint8_t)is_refund;
    d->extra = d->id + idl;
    d->interval_ns = (int64_t *)(void *)((char *)d + ivoff);
    d->n_keys = (uint8_t)n_keys;
    if (x) {
        d->verdict = (uint8_t)x->verdict;
        d->granted = x->granted;
        d->retry_after_ms = x->retry_after_ms;
    }
    char *p = d->extra;
    p += sprintf(p, "%s", binding) + 1;
    p += sprintf(p, "%s", reason) + 1;
    p += sprintf(p, "%s", provider) + 1;
    *p = '\0';
    for (int i = 0; i < n_keys; i++) {
        if (i)
            *p++ = '\n';
        size_t kl = strlen(keys[i]);
        memcpy(p, keys[i], kl + 1);
        p += kl;
        d->interval_ns[i] = interval_ns[i];
    }
    return d;
}

void rl_dedup_free(rl_dedup *d)
{
    free(d);
}

static const char *field(const rl_dedup *d, int i)
{
    const char *p = d->extra ? d->extra : "\0\0\0";
    while (i-- > 0)
        p += strlen(p) + 1;
    return p;
}

void rl_dedup_fill(const rl_dedup *d, rl_decision *out)
{
    memset(out, 0, offsetof(rl_decision, rules));
    out->verdict = (rl_verdict)d->verdict;
    out->granted = d->granted;
    out->retry_after_ms = d->retry_after_ms;
    snprintf(out->binding_rule, sizeof(out->binding_rule), "%s", field(d, 0));
    snprintf(out->reason, sizeof(out->reason), "%s", field(d, 1));
    snprintf(out->provider, sizeof(out->provider), "%s", field(d, 2));
    out->n_rules = 0;
    out->seq = d->seq;
}

int rl_dedup_key(const rl_dedup *d, int i, char *out, size_t size)
{
    const char *p = field(d, 3);
    while (i-- > 0) {
        p = strchr(p, '\n');
        if (!p)
            return -1;
        p++;
    }
    const char *end = strchr(p, '\n');
    size_t n = end ? (size_t)(end - p) : strlen(p);
    if (n >= size)
        return -1;
    memcpy(out, p, n);
    out[n] = '\0';
    return 0;
}

void rl_dedup_encode(const rl_dedup *d, rl_wbuf *w)
{
    rl_put_u8(w, d->is_refund);
    rl_put_u32(w, d->refunded);
    rl_put_u8(w, d->verdict);
    rl_put_u32(w, d->granted);
    rl_put_i64(w, d->retry_after_ms);
    rl_put_str(w, field(d, 0));
    rl_put_str(w, field(d, 1));
    rl_put_str(w, field(d, 2));
    rl_put_u8(w, d->n_keys);
    char key[1200];
    for (int i = 0; i < d->n_keys; i++) {
        if (rl_dedup_key(d, i, key, sizeof(key)) != 0)
            key[0] = '\0';
        rl_put_str(w, key);
        rl_put_i64(w, d->interval_ns[i]);
    }
}

rl_dedup *rl_dedup_decode(const char *id, int64_t at_ms, rl_rbuf *r)
{
    char binding[64], reason[256], provider[64];
    /* Every key is inside the blob, so blob length bounds their total. */
    /* Most blobs are small: a stack buffer spares a malloc per restored id. */
    char stackbuf[2048];
    size_t kcap = r->len + RL_DEDUP_MAX_KEYS + 1;
    char *keybuf = kcap <= sizeof(stackbuf) ? stackbuf : malloc(kcap);
    size_t used = 0;
    const char *keys[RL_DEDUP_MAX_KEYS];
    int64_t iv[RL_DEDUP_MAX_KEYS];
    if (!keybuf)
        return NULL;
    int is_refund = rl_get_u8(r);
    uint32_t refunded = rl_get_u32(r);
    rl_decision x;
    memset(&x, 0, offsetof(rl_decision, rules));
    x.verdict = (rl_verdict)rl_get_u8(r);
    x.granted = rl_get_u32(r);
    x.retry_after_ms = rl_get_i64(r);
    rl_get_str(r, binding, sizeof(binding));
    rl_get_str(r, reason, sizeof(reason));
    rl_get_str(r, provider, sizeof(provider));
    snprintf(x.binding_rule, sizeof(x.binding_rule), "%s", binding);
    snprintf(x.reason, sizeof(x.reason), "%s", reason);
    snprintf(x.provider, sizeof(x.provider), "%s", provider);
    int n = rl_get_u8(r);
    if (n > RL_DEDUP_MAX_KEYS)
        r->bad = 1;
    for (int i = 0; i < n && !r->bad; i++) {
        rl_get_str(r, keybuf + used, kcap - used);
        iv[i] = rl_get_i64(r);
        keys[i] = keybuf + used;
        used += strlen(keybuf + used) + 1;
    }
    rl_dedup *d = r->bad ? NULL : rl_dedup_make(id, at_ms, is_refund, &x, keys, iv, n);
    if (keybuf != stackbuf)
        free(keybuf);
    if (d)
        d->refunded = refunded;
    return d;
}
