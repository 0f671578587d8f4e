/* rl_engine.c: engine core: state maps, request context, Consume/Check/Refund
 * and SetPolicy; see rl_engine.h. Leases, reputation and Explain live in
 * their own files. */
#include "rl_engine_int.h"
#include "xd/util.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *rl_slot_key_of(const void *v)
{
    return ((const rl_slot *)v)->key;
}
const char *rl_dedup_key_of(const void *v)
{
    return ((const rl_dedup *)v)->id;
}
const char *rl_event_key_of(const void *v)
{
    return ((const rl_event *)v)->id;
}

xd_code rl_engine_new(const rl_engine_options *opt, rl_policy *policy, const char *policy_json,
                      uint64_t policy_version, rl_engine **out, xd_err *err)
{
    rl_engine *e = calloc(1, sizeof(*e));
    if (!e) {
        free(policy);
        return xd_err_set(err, XD_RESOURCE_EXHAUSTED, "out of memory creating the engine");
    }
    if (opt)
        e->opt = *opt;
    if (!e->opt.window_max_entries)
        e->opt.window_max_entries = 256;
    if (e->opt.window_max_entries < 2)
        e->opt.window_max_entries = 2;
    if (!e->opt.max_keys)
        e->opt.max_keys = 4000000;
    if (!e->opt.dedup_max)
        e->opt.dedup_max = 1000000;
    if (!e->opt.dedup_ttl_ms)
        e->opt.dedup_ttl_ms = 24LL * 3600 * 1000;
    if (!policy) {
        policy_json = rl_policy_default_json();
        xd_code rc = rl_policy_parse(policy_json, &policy, err);
        if (rc != XD_OK) {
            free(e);
            return rc;
        }
    }
    e->policy = policy;
    e->policy_json = strdup(policy_json ? policy_json : "{}");
    e->policy_version = policy_version;
    pthread_mutex_init(&e->mu, NULL);
    pthread_cond_init(&e->work_cv, NULL);
    pthread_cond_init(&e->durable_cv, NULL);
    rl_map_init(&e->slots, rl_slot_key_of);
    rl_map_init(&e->leases, rl_lease_id_of);
    rl_map_init(&e->lease_reqs, rl_lease_req_of);
    rl_map_init(&e->reps, rl_rep_key_of);
    rl_map_init(&e->dedup, rl_dedup_key_of);
    rl_map_init(&e->events, rl_event_key_of);
    e->next_lease_no = 1;
    *out = e;
    return XD_OK;
}

void rl_slot_free(rl_slot *s)
{
    rl_window_free(&s->win);
    free(s->conns);
    free(s);
}

void rl_engine_free(rl_engine *e)
{
    if (!e)
        return;
    size_t pos = 0;
    void *v;
    while ((v = rl_map_next(&e->slots, &pos)))
        rl_slot_free(v);
    pos = 0;
    while ((v = rl_map_next(&e->leases, &pos)))
        rl_lease_free(v);
    pos = 0;
    while ((v = rl_map_next(&e->reps, &pos)))
        rl_rep_free(v);
    for (rl_dedup *d = e->dedup_head, *n; d; d = n) {
        n = d->next;
        rl_dedup_free(d);
    }
    for (rl_event *ev = e->event_head, *n; ev; ev = n) {
        n = ev->next;
        free(ev);
    }
    rl_map_free(&e->slots);
    rl_map_free(&e->leases);
    rl_map_free(&e->lease_reqs);
    rl_map_free(&e->reps);
    rl_map_free(&e->dedup);
    rl_map_free(&e->events);
    for (size_t i = 0; i < e->n_dirty; i++)
        free(e->dirty[i].key);
    free(e->dirty);
    free(e->policy);
    free(e->policy_json);
    pthread_mutex_destroy(&e->mu);
    pthread_cond_destroy(&e->work_cv);
    pthread_cond_destroy(&e->durable_cv);
    free(e);
}

int64_t rl_now_locked(rl_engine *e, int64_t now_ms)
{
    if (now_ms > e->last_now_ms)
        e->last_now_ms = now_ms;
    return e->last_now_ms;
}

uint64_t rl_touch_locked(rl_engine *e, int kind, const char *key, uint8_t *flag)
{
    if (e->store_attached && (!flag || !*flag)) {
        if (e->n_dirty == e->cap_dirty) {
            size_t ncap = e->cap_dirty ? e->cap_dirty * 2 : 256;
            rl_dirty *nd = realloc(e->dirty, ncap * sizeof(*nd));
            if (!nd)
                abort(); /* cannot journal: refuse to continue silently */
            e->dirty = nd;
            e->cap_dirty = ncap;
        }
        char *k = strdup(key);
        if (!k)
            abort();
        e->dirty[e->n_dirty++] = (rl_dirty){kind, k};
        if (flag)
            *flag = 1;
        pthread_cond_signal(&e->work_cv);
    }
    return ++e->seq;
}

rl_slot *rl_slot_get_locked(rl_engine *e, const char *key)
{
    return rl_map_get(&e->slots, key, rl_hash(key, strlen(key)));
}

static rl_slot *slot_new_locked(rl_engine *e, const char *key, size_t n, uint64_t h, rl_kind kind)
{
    rl_slot *s = calloc(1, sizeof(*s) + n + 1);
    if (!s)
        return NULL;
    memcpy(s->key, key, n + 1);
    s->kind = (uint8_t)kind;
    s->hw = RL_HW_UNSET;
    s->gen = ++e->next_gen ? e->next_gen : ++e->next_gen;
    /* A key the database does not hold may have granted in a crashed run
     * before its first record: charge what those runs allowed. */
    if ((!e->restoring && rl_reserve_charge_locked(e, s, 0, 0) != 0) ||
        rl_map_put(&e->slots, h, s) != 0) {
        rl_slot_free(s);
        return NULL;
    }
    return s;
}

rl_slot *rl_slot_insert_locked(rl_engine *e, const char *key, rl_kind kind)
{
    size_t n = strlen(key);
    return slot_new_locked(e, key, n, rl_hash(key, n), kind);
}

rl_slot *rl_slot_make_locked(rl_engine *e, const char *key, rl_kind kind)
{
    size_t n = strlen(key);
    uint64_t h = rl_hash(key, n);
    rl_slot *s = rl_map_get(&e->slots, key, h);
    if (s)
        return s;
    if (e->slots.count >= e->opt.max_keys)
        return NULL;
    return slot_new_locked(e, key, n, h, kind);
}

void rl_slot_purge_conns(rl_slot *s, int64_t now_ms)
{
    uint32_t j = 0;
    for (uint32_t i = 0; i < s->n_conns; i++)
        if (s->conns[i].expires_ms > now_ms)
            s->conns[j++] = s->conns[i];
    s->n_conns = j;
}

xd_code rl_check_id(const char *id, size_t max, const char *field, xd_err *err)
{
    size_t n = id ? strlen(id) : 0;
    if (n == 0 || n > max)
        return xd_err_field(err, XD_INVALID_ARGUMENT, field,
                            "%s is required: 1..%zu printable characters", field, max);
    for (size_t i = 0; i < n; i++)
        if (id[i] <= ' ' || id[i] > '~')
            return xd_err_field(err, XD_INVALID_ARGUMENT, field,
                                "%s may only hold printable ASCII without spaces", field);
    return XD_OK;
}

/* Copies a subject field lower-cased (when lower) after checking it. */
static xd_code norm_field(const char *in, char *out, size_t size, int lower, const char *field,
                          xd_err *err)
{
    size_t n = in ? strlen(in) : 0;
    if (n >= size)
        return xd_err_field(err, XD_INVALID_ARGUMENT, field, "subject.%s is longer than %zu", field,
                            size - 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c < 0x21 || c == 0x7f || c == '|')
            return xd_err_field(err, XD_INVALID_ARGUMENT, field,
                                "subject.%s may not contain spaces, control characters or '|'",
                                field);
        out[i] = lower ? (char)tolower(c) : (char)c;
    }
    out[n] = '\0';
    return XD_OK;
}

xd_code rl_req_init_locked(rl_engine *e, const rl_subject *s, rl_req *r, xd_err *err)
{
    char mx[RL_VALUE_MAX];
    xd_code rc;
    if ((rc = norm_field(s->org_id, r->org, sizeof(r->org), 0, "org_id", err)) ||
        (rc = norm_field(s->ip, r->ip, sizeof(r->ip), 1, "ip", err)) ||
        (rc = norm_field(s->domain, r->domain, sizeof(r->domain), 1, "domain", err)) ||
        (rc = norm_field(s->provider, r->provider, sizeof(r->provider), 1, "provider", err)) ||
        (rc = norm_field(s->mx_host, mx, sizeof(mx), 1, "mx_host", err)))
        return rc;
    if (!r->provider[0] && mx[0]) {
        const char *p = rl_policy_provider_for_mx(e->policy, mx);
        if (p)
            xd_strlcpy(r->provider, p, sizeof(r->provider));
    }
    r->factor_permille = 1000;
    r->why[0] = '\0';
    return XD_OK;
}

static const char KIND_LETTER[] = "?mwgc";

/* Appends tag and value to out at *len; 0, or -1 when it would not fit. */
static int key_part(char *out, size_t size, size_t *len, const char *tag, const char *value)
{
    size_t tl = strlen(tag), vl = strlen(value);
    if (*len + tl + vl + 1 > size)
        return -1;
    memcpy(out + *len, tag, tl);
    memcpy(out + *len + tl, value, vl);
    *len += tl + vl;
    return 0;
}

size_t rl_rule_key(const rl_rule *rule, const rl_req *r, char *out, size_t size)
{
    if (rule->match_provider[0] && strcmp(rule->match_provider, r->provider) != 0)
        return 0;
    if (rule->match_domain[0] && strcasecmp(rule->match_domain, r->domain) != 0)
        return 0;
    if (((rule->scope & RL_SCOPE_ORG) && !r->org[0]) ||
        ((rule->scope & RL_SCOPE_IP) && !r->ip[0]) ||
        ((rule->scope & RL_SCOPE_DOMAIN) && !r->domain[0]) ||
        ((rule->scope & RL_SCOPE_PROVIDER) && !r->provider[0]))
        return 0;
    /* Built by hand: this runs for every rule of every decision. */
    char head[3] = {KIND_LETTER[rule->kind], ':', '\0'};
    size_t len = 0;
    if (key_part(out, size, &len, head, rule->name) ||
        ((rule->scope & RL_SCOPE_ORG) && key_part(out, size, &len, "|o=", r->org)) ||
        ((rule->scope & RL_SCOPE_IP) && key_part(out, size, &len, "|i=", r->ip)) ||
        ((rule->scope & RL_SCOPE_DOMAIN) && key_part(out, size, &len, "|d=", r->domain)) ||
        ((rule->scope & RL_SCOPE_PROVIDER) && key_part(out, size, &len, "|p=", r->provider)))
        return 0;
    out[len] = '\0';
    return len;
}

uint64_t rl_effective(const rl_rule *rule, const rl_req *r, uint64_t value)
{
    if (!rule->scaled || r->factor_permille == 1000)
        return value;
    return value * r->factor_permille / 1000;
}

/* One rule's part in a decision. */
typedef struct applied {
    const rl_rule *rule;
    int rule_index;
    rl_slot *slot; /* NULL in Check when the key has no state yet */
    uint64_t limit, burst;
    rl_gcra gcra;
    uint64_t avail;
} applied;

static void evaluate(rl_engine *e, applied *a, int64_t now)
{
    const rl_rule *rule = a->rule;
    rl_slot *s = a->slot;
    if (rule->kind == RL_KIND_WINDOW) {
        if (s)
            rl_window_expire(&s->win, now, rule->period_ms);
        a->avail = s ? rl_window_available(&s->win, a->limit) : a->limit;
    } else {
        a->gcra = rl_gcra_params(a->limit, rule->period_ms, a->burst);
        a->avail = a->limit == 0 ? 0 : rl_gcra_available(a->gcra, s ? s->tat_ns : 0, now);
    }
    (void)e;
}

static int64_t retry_for(const applied *a, int64_t now, uint64_t need)
{
    if (a->limit == 0)
        return -1;
    if (a->rule->kind == RL_KIND_WINDOW) {
        if (!a->slot)
            return need <= a->limit ? 0 : -1;
        return rl_window_retry_ms(&a->slot->win, now, a->rule->period_ms, a->limit, need);
    }
    return rl_gcra_retry_ms(a->gcra, a->slot ? a->slot->tat_ns : 0, now, need);
}

static int later(int64_t a, int64_t b) /* -1 (never) is the latest */
{
    if (a < 0)
        return b >= 0;
    return b >= 0 && a > b;
}

static void dedup_evict_locked(rl_engine *e, int64_t now)
{
    while (
        e->dedup_head && !e->dedup_head->dirty &&
        (e->dedup.count > e->opt.dedup_max || now - e->dedup_head->at_ms >= e->opt.dedup_ttl_ms)) {
        rl_dedup *d = e->dedup_head;
        e->dedup_head = d->next;
        if (!e->dedup_head)
            e->dedup_tail = NULL;
        rl_map_del(&e->dedup, d->id, rl_hash(d->id, strlen(d->id)));
        rl_dedup_free(d);
    }
}

static int dedup_add_locked(rl_engine *e, rl_dedup *d)
{
    if (rl_map_put(&e->dedup, rl_hash(d->id, strlen(d->id)), d) != 0)
        return -1;
    if (e->dedup_tail)
        e->dedup_tail->next = d;
    else
        e->dedup_head = d;
    e->dedup_tail = d;
    return 0;
}

static rl_dedup *dedup_get_locked(rl_engine *e, const char *id)
{
    return rl_map_get(&e->dedup, id, rl_hash(id, strlen(id)));
}

/* Stores the answer under request_id (with the keys it consumed). */
static rl_dedup *remember_locked(rl_engine *e, const char *request_id, const rl_decision *d,
                                 const applied *ap, int n_ap, int64_t now)
{
    const char *keys[RL_MAX_RULES];
    int64_t iv[RL_MAX_RULES];
    int n = 0;
    for (int i = 0; i < n_ap && d->granted > 0; i++) {
        if (ap[i].rule->kind == RL_KIND_PER_MESSAGE || !ap[i].slot)
            continue;
        keys[n] = ap[i].slot->key;
        iv[n] = ap[i].rule->kind == RL_KIND_GCRA ? ap[i].gcra.interval_ns : 0;
        n++;
    }
    rl_dedup *r = rl_dedup_make(request_id, now, 0, d, keys, iv, n);
    if (!r || dedup_add_locked(e, r) != 0) {
        rl_dedup_free(r);
        return NULL;
    }
    return r;
}

static void describe(rl_decision *d, const applied *a, uint64_t asked)
{
    const char *unit = a->rule->kind == RL_KIND_WINDOW ? "in the trailing window of"
                       : a->rule->kind == RL_KIND_GCRA ? "of pacing burst, period"
                                                       : "per message";
    snprintf(d->reason, sizeof(d->reason),
             "rule %s (%s): %" PRIu64 " of %" PRIu64 " recipients available %s %" PRId64
             " ms; %" PRIu64 " asked",
             a->rule->name, rl_kind_name(a->rule->kind), a->avail, a->limit, unit,
             a->rule->period_ms, asked);
}

xd_code rl_engine_consume(rl_engine *e, const char *request_id, const rl_subject *s,
                          uint32_t recipients, int allow_partial, int commit, int64_t now_ms,
                          rl_decision *out, xd_err *err)
{
    xd_code rc = XD_OK;
    if (recipients == 0 || recipients > 1000000)
        return xd_err_field(err, XD_INVALID_ARGUMENT, "recipients",
                            "recipients must be 1..1000000, got %u", recipients);
    if (commit && (rc = rl_check_id(request_id, RL_ID_MAX, "request_id", err)) != XD_OK)
        return rc;
    applied ap[RL_MAX_RULES];
    char key[RL_KEY_MAX];
    rl_req r;
    pthread_mutex_lock(&e->mu);
    int64_t now = rl_now_locked(e, now_ms);
    if (commit) {
        dedup_evict_locked(e, now);
        rl_dedup *old = dedup_get_locked(e, request_id);
        if (old) {
            if (old->is_refund) {
                rc = xd_err_field(err, XD_INVALID_ARGUMENT, "request_id",
                                  "request_id %s was used by a Refund; use a fresh id", request_id);
                goto out;
            }
            rl_dedup_fill(old, out);
            out->replayed = 1;
            out->seq = old->seq;
            goto out;
        }
    }
    if ((rc = rl_req_init_locked(e, s, &r, err)) != XD_OK)
        goto out;
    rl_req_scale_locked(e, &r, now);
    memset(out, 0, offsetof(rl_decision, rules));
    xd_strlcpy(out->provider, r.provider, sizeof(out->provider));
    int n_ap = 0;
    uint64_t want = recipients;
    const applied *cap_rule = NULL;
    for (int i = 0; i < e->policy->n_rules; i++) {
        const rl_rule *rule = &e->policy->rules[i];
        if (rule->kind == RL_KIND_CONNECTIONS || !rl_rule_key(rule, &r, key, sizeof(key)))
            continue;
        applied *a = &ap[n_ap++];
        memset(a, 0, sizeof(*a));
        a->rule = rule;
        a->rule_index = i;
        a->limit = rl_effective(rule, &r, rule->limit);
        if (rule->kind == RL_KIND_PER_MESSAGE) {
            a->avail = a->limit;
            if (a->limit < want) {
                want = a->limit;
                cap_rule = a;
            }
            continue;
        }
        a->burst = rule->burst;
        if (rule->kind == RL_KIND_GCRA && rule->scaled) {
            a->burst = rl_effective(rule, &r, rule->burst);
            if (a->burst == 0 && a->limit > 0)
                a->burst = 1;
        }
        a->slot = commit ? rl_slot_make_locked(e, key, rule->kind) : rl_slot_get_locked(e, key);
        if (commit &&
            (!a->slot || (rule->kind == RL_KIND_WINDOW &&
                          rl_window_reserve_one(&a->slot->win, e->opt.window_max_entries) != 0))) {
            rc = xd_err_set(err, XD_RESOURCE_EXHAUSTED,
                            "ratelimit holds its maximum of %" PRIu64
                            " keys (or is out of memory); raise max_keys",
                            e->opt.max_keys);
            goto out;
        }
        evaluate(e, a, now);
    }
    /* The grant: the per-message cap, then what every counting rule admits. */
    uint64_t fit = want;
    const applied *tight = cap_rule;
    for (int i = 0; i < n_ap; i++) {
        if (ap[i].rule->kind == RL_KIND_PER_MESSAGE)
            continue;
        if (ap[i].avail < fit) {
            fit = ap[i].avail;
            tight = &ap[i];
        }
    }
    uint64_t grant = 0;
    if (want > 0 && fit == want)
        grant = want;
    else if (want > 0 && allow_partial && fit > 0)
        grant = fit;
    if (grant == 0) {
        /* Denied: when would the request (or one recipient) fit everywhere? */
        int64_t retry = -1;
        const applied *bind = cap_rule;
        if (want > 0) {
            uint64_t need = allow_partial ? 1 : want;
            retry = 0;
            bind = NULL;
            for (int i = 0; i < n_ap; i++) {
                if (ap[i].rule->kind == RL_KIND_PER_MESSAGE)
                    continue;
                int64_t t = retry_for(&ap[i], now, need);
                if (t != 0 && (!bind || later(t, retry))) {
                    retry = t;
                    bind = &ap[i];
                }
            }
        }
        out->verdict = RL_DENIED;
        out->retry_after_ms = retry;
        if (bind) {
            snprintf(out->binding_rule, sizeof(out->binding_rule), "%s", bind->rule->name);
            describe(out, bind, want);
        }
    } else {
        out->granted = (uint32_t)grant;
        out->verdict = grant == recipients ? RL_GRANTED : RL_PARTIAL;
        if (out->verdict == RL_PARTIAL && tight) {
            snprintf(out->binding_rule, sizeof(out->binding_rule), "%s", tight->rule->name);
            describe(out, tight, recipients);
            /* The rest may start once every rule admits one more recipient. */
            int64_t retry = 0;
            for (int i = 0; i < n_ap; i++) {
                if (ap[i].rule->kind == RL_KIND_PER_MESSAGE || ap[i].avail > grant)
                    continue;
                int64_t t = retry_for(&ap[i], now, grant + 1);
                if (later(t, retry))
                    retry = t;
            }
            out->retry_after_ms = retry;
        }
    }
    if (r.factor_permille != 1000 && out->verdict != RL_GRANTED &&
        strlen(out->reason) + strlen(r.why) + 3 < sizeof(out->reason))
        strcat(strcat(out->reason, "; "), r.why);
    out->n_rules = n_ap;
    for (int i = 0; i < n_ap; i++) {
        rl_rule_outcome *o = &out->rules[i];
        xd_strlcpy(o->rule, ap[i].rule->name, sizeof(o->rule));
        o->kind = ap[i].rule->kind;
        o->effective_limit = ap[i].limit;
        o->available = ap[i].avail;
        if (ap[i].rule->kind == RL_KIND_PER_MESSAGE)
            o->retry_after_ms = want > 0 ? 0 : -1;
        else
            o->retry_after_ms = retry_for(&ap[i], now, want > 0 ? want : 1);
    }
    if (!commit)
        goto out;
    /* Apply (memory was reserved above, so this cannot fail half-way). */
    uint64_t seq = 0;
    for (int i = 0; i < n_ap && grant > 0; i++) {
        applied *a = &ap[i];
        rl_slot *sl = a->slot;
        uint64_t units, room, unit;
        if (a->rule->kind == RL_KIND_WINDOW) {
            rl_window_add(&sl->win, now, grant, e->opt.window_max_entries,
                          rl_window_granule_ms(a->rule->period_ms, e->opt.window_max_entries));
            units = grant;
            unit = 1;
            room = sl->win.sum < a->limit ? a->limit - sl->win.sum : 0;
        } else if (a->rule->kind == RL_KIND_GCRA) {
            sl->tat_ns = rl_gcra_take(a->gcra, sl->tat_ns, now, grant);
            unit = (uint64_t)a->gcra.interval_ns;
            units = grant > UINT64_MAX / unit ? UINT64_MAX : grant * unit; /* unit >= 1 */
            /* Credit left: burst * I - (tat - now), in ns. */
            __int128 left = (__int128)a->gcra.burst * a->gcra.interval_ns -
                            ((__int128)sl->tat_ns - (__int128)now * 1000000);
            room = left <= 0 ? 0 : left > (__int128)UINT64_MAX ? UINT64_MAX : (uint64_t)left;
        } else {
            continue;
        }
        uint64_t w = rl_reserve_after_grant_locked(e, sl, a->rule_index, units, room, unit, now);
        if (w > seq)
            seq = w;
    }
    if (grant > 0) {
        /* First grant fixes a subject's warm-up start. */
        if (r.org[0] && !r.org_rep)
            rl_rep_make_locked(e, "org", r.org, now);
        if (r.ip[0] && !r.ip_rep)
            rl_rep_make_locked(e, "ip", r.ip, now);
    }
    rl_dedup *rec = remember_locked(e, request_id, out, ap, n_ap, now);
    if (!rec) {
        /* The grant stands in memory (conservative); the caller must not
         * claim success without the record. */
        rc = xd_err_set(err, XD_RESOURCE_EXHAUSTED, "out of memory recording request_id");
        goto out;
    }
    /* The request id is journaled in the background: replies do not wait
     * for it (README, Durability). A replay waits for what the first
     * answer waited for. */
    rl_touch_locked(e, RL_ITEM_DEDUP, rec->id, &rec->dirty);
    if (!e->store_attached)
        seq = e->seq;
    rec->seq = seq;
    out->seq = seq;
out:
    pthread_mutex_unlock(&e->mu);
    return rc;
}

xd_code rl_engine_refund(rl_engine *e, const char *request_id, const char *consume_request_id,
                         uint32_t recipients, int64_t now_ms, uint32_t *refunded, uint64_t *seq,
                         xd_err *err)
{
    xd_code rc;
    if ((rc = rl_check_id(request_id, RL_ID_MAX, "request_id", err)) ||
        (rc = rl_check_id(consume_request_id, RL_ID_MAX, "consume_request_id", err)))
        return rc;
    if (recipients == 0 || recipients > 1000000)
        return xd_err_field(err, XD_INVALID_ARGUMENT, "recipients",
                            "recipients must be 1..1000000, got %u", recipients);
    pthread_mutex_lock(&e->mu);
    int64_t now = rl_now_locked(e, now_ms);
    rl_dedup *old = dedup_get_locked(e, request_id);
    if (old) {
        if (!old->is_refund)
            rc = xd_err_field(err, XD_INVALID_ARGUMENT, "request_id",
                              "request_id %s was used by a Consume; use a fresh id", request_id);
        *refunded = old->refunded;
        *seq = old->seq;
        goto out;
    }
    rl_dedup *c = dedup_get_locked(e, consume_request_id);
    if (!c || c->is_refund) {
        rc = xd_err_field(err, XD_NOT_FOUND, "consume_request_id",
                          "no Consume with request_id %s is remembered (too old or unknown)",
                          consume_request_id);
        goto out;
    }
    uint32_t left = c->granted - c->refunded;
    if (recipients > left) {
        rc = xd_err_field(err, XD_FAILED_PRECONDITION, "recipients",
                          "only %u recipients of %s are left to refund, %u asked", left,
                          consume_request_id, recipients);
        goto out;
    }
    rl_dedup *rec = rl_dedup_make(request_id, now, 1, NULL, NULL, NULL, 0);
    if (!rec || dedup_add_locked(e, rec) != 0) {
        rl_dedup_free(rec);
        rc = xd_err_set(err, XD_RESOURCE_EXHAUSTED, "out of memory");
        goto out;
    }
    rec->refunded = recipients;
    char key[RL_KEY_MAX];
    for (int i = 0; i < c->n_keys; i++) {
        if (rl_dedup_key(c, i, key, sizeof(key)) != 0)
            continue;
        rl_slot *s = rl_slot_get_locked(e, key);
        if (!s)
            continue; /* already expired and swept */
        if (s->kind == RL_KIND_WINDOW)
            rl_window_remove(&s->win, recipients);
        else if (s->kind == RL_KIND_GCRA)
            s->tat_ns =
                rl_gcra_give_back((rl_gcra){c->interval_ns[i], 1}, s->tat_ns, now, recipients);
        rl_touch_locked(e, RL_ITEM_SLOT, s->key, &s->dirty);
    }
    c->refunded += recipients;
    rl_touch_locked(e, RL_ITEM_DEDUP, c->id, &c->dirty);
    rec->seq = rl_touch_locked(e, RL_ITEM_DEDUP, rec->id, &rec->dirty);
    *refunded = recipients;
    *seq = rec->seq;
out:
    pthread_mutex_unlock(&e->mu);
    return rc;
}

xd_code rl_engine_set_policy(rl_engine *e, const char *json, uint64_t expected_version,
                             uint64_t *version, uint32_t *n_rules, uint64_t *seq, xd_err *err)
{
    rl_policy *p = NULL;
    xd_code rc = rl_policy_parse(json ? json : "", &p, err);
    if (rc != XD_OK)
        return rc;
    char *copy = strdup(json);
    if (!copy) {
        free(p);
        return xd_err_set(err, XD_RESOURCE_EXHAUSTED, "out of memory");
    }
    pthread_mutex_lock(&e->mu);
    *seq = 0;
    if (strcmp(copy, e->policy_json) == 0) {
        free(copy);
        free(p);
    } else if (expected_version && expected_version != e->policy_version) {
        rc = xd_err_field(err, XD_FAILED_PRECONDITION, "expected_version",
                          "policy is at version %" PRIu64 ", not %" PRIu64 "; re-read it and retry",
                          e->policy_version, expected_version);
        free(copy);
        free(p);
    } else {
        free(e->policy);
        free(e->policy_json);
        e->policy = p;
        e->policy_json = copy;
        e->policy_version++;
        e->policy_dirty = 1;
        /* This run's allowances cover the new rules once the epoch record
         * with them is durable; until then new rules allow nothing cold. */
        rl_allow_table t;
        rl_allow_from_policy(p, &t);
        rl_allow_merge_max(&e->epoch.allow, &t);
        rl_reserve_refresh_locked(e);
        rl_touch_locked(e, RL_ITEM_EPOCH, "epoch", &e->epoch_dirty);
        *seq = rl_touch_locked(e, RL_ITEM_POLICY, "current", NULL);
    }
    *version = e->policy_version;
    *n_rules = (uint32_t)e->policy->n_rules;
    pthread_mutex_unlock(&e->mu);
    return rc;
}

void rl_engine_counts(rl_engine *e, uint64_t *keys, uint64_t *leases, uint64_t *dedup)
{
    pthread_mutex_lock(&e->mu);
    *keys = e->slots.count;
    *leases = e->leases.count;
    *dedup = e->dedup.count;
    pthread_mutex_unlock(&e->mu);
}

void rl_engine_sweep(rl_engine *e, int64_t now_ms, size_t max_visit)
{
    pthread_mutex_lock(&e->mu);
    int64_t now = rl_now_locked(e, now_ms);
    dedup_evict_locked(e, now);
    while (e->event_head && !e->event_head->dirty &&
           now - e->event_head->at_ms >= e->opt.dedup_ttl_ms) {
        rl_event *ev = e->event_head;
        e->event_head = ev->next;
        if (!e->event_head)
            e->event_tail = NULL;
        rl_map_del(&e->events, ev->id, rl_hash(ev->id, strlen(ev->id)));
        free(ev);
    }
    /* Expired leases first, so their connection slots can empty. */
    for (size_t i = 0; i < max_visit && e->leases.count > 0; i++) {
        if (e->lease_sweep_pos >= e->leases.cap)
            e->lease_sweep_pos = 0;
        rl_lease *l = e->leases.slots[e->lease_sweep_pos].value;
        if (l && l->expires_ms <= now) {
            rl_lease_drop_locked(e, l); /* backward shift may move an entry here */
            continue;
        }
        e->lease_sweep_pos++;
    }
    for (size_t i = 0; i < max_visit && e->slots.count > 0; i++) {
        if (e->sweep_pos >= e->slots.cap)
            e->sweep_pos = 0;
        rl_slot *s = e->slots.slots[e->sweep_pos].value;
        int idle = 0;
        if (s) {
            if (s->kind == RL_KIND_WINDOW) {
                /* Longest window of any rule is the safe horizon. */
                int64_t horizon = 0;
                for (int k = 0; k < e->policy->n_rules; k++)
                    if (e->policy->rules[k].period_ms > horizon)
                        horizon = e->policy->rules[k].period_ms;
                if (s->win.n > 0 && now - rl_window_at(&s->win, s->win.n - 1).ts_ms >= horizon)
                    rl_window_expire(&s->win, now, horizon);
                idle = s->win.n == 0;
            } else if (s->kind == RL_KIND_GCRA) {
                idle = s->tat_ns <= now * 1000000;
            } else {
                rl_slot_purge_conns(s, now);
                idle = s->n_conns == 0;
            }
        }
        if (idle) {
            rl_map_del(&e->slots, s->key, rl_hash(s->key, strlen(s->key)));
            if (s->kind != RL_KIND_CONNECTIONS)
                rl_touch_locked(e, RL_ITEM_SLOT, s->key, NULL);
            rl_slot_free(s);
            continue;
        }
        e->sweep_pos++;
    }
    pthread_mutex_unlock(&e->mu);
}
