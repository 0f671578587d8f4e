/* rl_lease.c: simultaneous-connection leases with a TTL: acquire, renew
 * (refused once expired: no resurrection), idempotent release; see
 * rl_engine.h. A lease holds one slot in every matching connections rule. */
#include "rl_engine_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "xd/clock.h"
#include "xd/util.h"

const char *rl_lease_id_of(const void *v)
{
    return ((const rl_lease *)v)->id;
}

const char *rl_lease_req_of(const void *v)
{
    return ((const rl_lease *)v)->request_id;
}

void rl_lease_free(rl_lease *l)
{
    if (!l)
        return;
    for (int i = 0; i < l->n_keys; i++)
        free(l->keys[i]);
    free(l->keys);
    free(l);
}

void rl_lease_encode(const rl_lease *l, rl_wbuf *b)
{
    rl_put_str(b, l->request_id);
    rl_put_u64(b, l->lease_no);
    rl_put_i64(b, l->expires_ms);
    rl_put_i64(b, l->ttl_ms);
    rl_put_u32(b, l->messages);
    rl_put_u32(b, (uint32_t)l->n_keys);
    for (int i = 0; i < l->n_keys; i++)
        rl_put_str(b, l->keys[i]);
}

static int conn_reserve(rl_slot *s)
{
    if (s->n_conns < s->cap_conns)
        return 0;
    uint32_t ncap = s->cap_conns ? s->cap_conns * 2 : 4;
    rl_conn *nc = realloc(s->conns, ncap * sizeof(*nc));
    if (!nc)
        return -1;
    s->conns = nc;
    s->cap_conns = ncap;
    return 0;
}

static void conn_remove(rl_slot *s, uint64_t lease_no)
{
    for (uint32_t i = 0; i < s->n_conns; i++)
        if (s->conns[i].lease_no == lease_no) {
            s->conns[i] = s->conns[--s->n_conns];
            return;
        }
}

static void conn_set_expiry(rl_slot *s, uint64_t lease_no, int64_t expires_ms)
{
    for (uint32_t i = 0; i < s->n_conns; i++)
        if (s->conns[i].lease_no == lease_no)
            s->conns[i].expires_ms = expires_ms;
}

/* Adds l to the maps and its slots; 0, or -1 on OOM (nothing changed). */
static int lease_link_locked(rl_engine *e, rl_lease *l)
{
    rl_slot *slots[RL_MAX_RULES];
    for (int i = 0; i < l->n_keys; i++) {
        slots[i] = rl_slot_make_locked(e, l->keys[i], RL_KIND_CONNECTIONS);
        if (!slots[i] || conn_reserve(slots[i]) != 0)
            return -1;
    }
    if (rl_map_put(&e->leases, rl_hash(l->id, strlen(l->id)), l) != 0)
        return -1;
    if (l->request_id[0] &&
        rl_map_put(&e->lease_reqs, rl_hash(l->request_id, strlen(l->request_id)), l) != 0) {
        rl_map_del(&e->leases, l->id, rl_hash(l->id, strlen(l->id)));
        return -1;
    }
    for (int i = 0; i < l->n_keys; i++)
        slots[i]->conns[slots[i]->n_conns++] = (rl_conn){l->lease_no, l->expires_ms};
    return 0;
}

void rl_lease_drop_locked(rl_engine *e, rl_lease *l)
{
    for (int i = 0; i < l->n_keys; i++) {
        rl_slot *s = rl_slot_get_locked(e, l->keys[i]);
        if (s)
            conn_remove(s, l->lease_no);
    }
    rl_map_del(&e->leases, l->id, rl_hash(l->id, strlen(l->id)));
    if (l->request_id[0] && rl_map_get(&e->lease_reqs, l->request_id,
                                       rl_hash(l->request_id, strlen(l->request_id))) == l)
        rl_map_del(&e->lease_reqs, l->request_id, rl_hash(l->request_id, strlen(l->request_id)));
    rl_touch_locked(e, RL_ITEM_LEASE, l->id, NULL); /* absent now: a delete */
    rl_lease_free(l);
}

static void fill_grant(const rl_lease *l, rl_lease_grant *out)
{
    memset(out, 0, sizeof(*out));
    out->granted = 1;
    snprintf(out->lease_id, sizeof(out->lease_id), "%s", l->id);
    out->expires_at_ms = l->expires_ms;
    out->messages_per_connection = l->messages;
}

xd_code rl_engine_acquire(rl_engine *e, const char *request_id, const rl_subject *s, int64_t now_ms,
                          rl_lease_grant *out, xd_err *err)
{
    xd_code rc = rl_check_id(request_id, RL_ID_MAX, "request_id", err);
    if (rc != XD_OK)
        return rc;
    char key[RL_KEY_MAX];
    rl_req r;
    rl_lease *l = NULL;
    pthread_mutex_lock(&e->mu);
    int64_t now = rl_now_locked(e, now_ms);
    rl_lease *old = rl_map_get(&e->lease_reqs, request_id, rl_hash(request_id, strlen(request_id)));
    if (old) {
        fill_grant(old, out);
        out->seq = e->seq; /* durable once everything so far is */
        goto out;
    }
    if ((rc = rl_req_init_locked(e, s, &r, err)) != XD_OK)
        goto out;
    rl_req_scale_locked(e, &r, now);
    l = calloc(1, sizeof(*l));
    if (!l || !(l->keys = calloc(RL_MAX_RULES, sizeof(char *)))) {
        rc = xd_err_set(err, XD_RESOURCE_EXHAUSTED, "out of memory");
        goto out;
    }
    memset(out, 0, sizeof(*out));
    l->ttl_ms = 0;
    int denied = 0;
    for (int i = 0; i < e->policy->n_rules; i++) {
        const rl_rule *rule = &e->policy->rules[i];
        if (rule->kind != RL_KIND_CONNECTIONS || !rl_rule_key(rule, &r, key, sizeof(key)))
            continue;
        uint64_t limit = rl_effective(rule, &r, rule->limit);
        rl_slot *slot = rl_slot_get_locked(e, key);
        if (slot)
            rl_slot_purge_conns(slot, now);
        uint32_t live = slot ? slot->n_conns : 0;
        if (live >= limit) {
            int64_t retry = -1;
            for (uint32_t k = 0; limit > 0 && k < live; k++)
                if (retry < 0 || slot->conns[k].expires_ms - now < retry)
                    retry = slot->conns[k].expires_ms - now;
            if (!denied ||
                (out->retry_after_ms >= 0 && (retry < 0 || retry > out->retry_after_ms))) {
                out->retry_after_ms = retry;
                snprintf(out->binding_rule, sizeof(out->binding_rule), "%s", rule->name);
                snprintf(out->reason, sizeof(out->reason),
                         "rule %s: %u of %" PRIu64 " connections in use%s%.160s", rule->name, live,
                         limit, r.factor_permille != 1000 ? "; " : "",
                         r.factor_permille != 1000 ? r.why : "");
            }
            denied = 1;
            continue;
        }
        if (!(l->keys[l->n_keys] = strdup(key))) {
            rc = xd_err_set(err, XD_RESOURCE_EXHAUSTED, "out of memory");
            goto out;
        }
        l->n_keys++;
        if (l->ttl_ms == 0 || rule->ttl_ms < l->ttl_ms)
            l->ttl_ms = rule->ttl_ms;
        if (l->messages == 0 || rule->messages_per_connection < l->messages)
            l->messages = rule->messages_per_connection;
    }
    if (denied)
        goto out; /* a denial changes nothing and is not remembered */
    if (l->ttl_ms == 0)
        l->ttl_ms = 300000; /* no connections rule: a lease that limits nothing */
    xd_random_hex(l->id, 16);
    snprintf(l->request_id, sizeof(l->request_id), "%s", request_id);
    l->lease_no = e->next_lease_no++;
    l->expires_ms = now + l->ttl_ms;
    if (lease_link_locked(e, l) != 0) {
        rc = xd_err_set(err, XD_RESOURCE_EXHAUSTED,
                        "ratelimit holds its maximum of keys (or is out of memory)");
        goto out;
    }
    fill_grant(l, out);
    out->seq = rl_touch_locked(e, RL_ITEM_LEASE, l->id, &l->dirty);
    l = NULL;
out:
    pthread_mutex_unlock(&e->mu);
    rl_lease_free(l);
    return rc;
}

static rl_lease *find_locked(rl_engine *e, const char *lease_id)
{
    return rl_map_get(&e->leases, lease_id, rl_hash(lease_id, strlen(lease_id)));
}

xd_code rl_engine_renew(rl_engine *e, const char *lease_id, int64_t now_ms, int64_t *expires_at_ms,
                        uint64_t *seq, xd_err *err)
{
    xd_code rc = rl_check_id(lease_id, 32, "lease_id", err);
    if (rc != XD_OK)
        return rc;
    pthread_mutex_lock(&e->mu);
    int64_t now = rl_now_locked(e, now_ms);
    rl_lease *l = find_locked(e, lease_id);
    if (!l) {
        rc = xd_err_field(err, XD_NOT_FOUND, "lease_id",
                          "lease %s is unknown or released; acquire a new one", lease_id);
    } else if (l->expires_ms <= now) {
        char when[32];
        xd_format_rfc3339(l->expires_ms, when, sizeof(when));
        rc = xd_err_field(err, XD_FAILED_PRECONDITION, "lease_id",
                          "lease %s expired at %s and its slot was freed; acquire a new one",
                          lease_id, when);
        *seq = 0;
        rl_lease_drop_locked(e, l);
    } else {
        l->expires_ms = now + l->ttl_ms;
        for (int i = 0; i < l->n_keys; i++) {
            rl_slot *s = rl_slot_get_locked(e, l->keys[i]);
            if (s)
                conn_set_expiry(s, l->lease_no, l->expires_ms);
        }
        *expires_at_ms = l->expires_ms;
        *seq = rl_touch_locked(e, RL_ITEM_LEASE, l->id, &l->dirty);
    }
    pthread_mutex_unlock(&e->mu);
    return rc;
}

xd_code rl_engine_release(rl_engine *e, const char *lease_id, int64_t now_ms, int *released,
                          uint64_t *seq, xd_err *err)
{
    xd_code rc = rl_check_id(lease_id, 32, "lease_id", err);
    if (rc != XD_OK)
        return rc;
    pthread_mutex_lock(&e->mu);
    int64_t now = rl_now_locked(e, now_ms);
    rl_lease *l = find_locked(e, lease_id);
    *released = 0;
    *seq = 0;
    if (l) {
        *released = l->expires_ms > now;
        rl_lease_drop_locked(e, l);
        *seq = e->seq;
    }
    pthread_mutex_unlock(&e->mu);
    return XD_OK;
}

void rl_lease_restore_locked(rl_engine *e, const char *id, const unsigned char *blob, size_t len,
                             uint64_t *bad)
{
    rl_rbuf r = {blob, len, 0, 0};
    rl_lease *l = calloc(1, sizeof(*l));
    if (!l || !(l->keys = calloc(RL_MAX_RULES, sizeof(char *))))
        abort();
    snprintf(l->id, sizeof(l->id), "%s", id);
    rl_get_str(&r, l->request_id, sizeof(l->request_id));
    l->lease_no = rl_get_u64(&r);
    l->expires_ms = rl_get_i64(&r);
    l->ttl_ms = rl_get_i64(&r);
    l->messages = rl_get_u32(&r);
    uint32_t n = rl_get_u32(&r);
    if (n > RL_MAX_RULES)
        r.bad = 1;
    char key[RL_KEY_MAX];
    for (uint32_t i = 0; i < n && !r.bad; i++) {
        rl_get_str(&r, key, sizeof(key));
        if (!r.bad && !(l->keys[l->n_keys++] = strdup(key)))
            abort();
    }
    if (r.bad || strlen(id) != 32 || find_locked(e, id) || lease_link_locked(e, l) != 0) {
        (*bad)++;
        rl_lease_free(l);
        return;
    }
    if (l->lease_no >= e->next_lease_no)
        e->next_lease_no = l->lease_no + 1;
}
