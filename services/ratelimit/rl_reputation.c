/* rl_reputation.c: reputation tiers per organization and sending IP, moved
 * by Feedback: provider patterns (penalties, demotions), daily bounce and
 * complaint rates, promotion after K clean days; see rl_engine.h. */
#include "rl_engine_int.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "xd/clock.h"

#define DAY_MS 86400000LL

const char *rl_rep_key_of(const void *v)
{
    return ((const rl_rep *)v)->key;
}

void rl_rep_free(rl_rep *rep)
{
    if (!rep)
        return;
    free(rep->pen);
    free(rep);
}

static void subj_key(char *out, size_t size, const char *kind, const char *id)
{
    size_t kl = strlen(kind), il = strlen(id);
    if (kl + il + 2 > size)
        il = size - kl - 2; /* ids are bounded below this by validation */
    memcpy(out, kind, kl);
    out[kl] = ':';
    memcpy(out + kl + 1, id, il);
    out[kl + 1 + il] = '\0';
}

rl_rep *rl_rep_get_locked(rl_engine *e, const char *kind, const char *id)
{
    char key[RL_SUBJ_KEY_MAX];
    subj_key(key, sizeof(key), kind, id);
    return rl_map_get(&e->reps, key, rl_hash(key, strlen(key)));
}

rl_rep *rl_rep_make_locked(rl_engine *e, const char *kind, const char *id, int64_t now_ms)
{
    rl_rep *rep = rl_rep_get_locked(e, kind, id);
    if (rep)
        return rep;
    rep = calloc(1, sizeof(*rep));
    if (!rep)
        return NULL;
    subj_key(rep->key, sizeof(rep->key), kind, id);
    rep->tier = RL_TIER_NEW;
    rep->created_ms = rep->tier_since_ms = now_ms;
    rep->day = now_ms / DAY_MS;
    snprintf(rep->why, sizeof(rep->why), "first seen");
    if (rl_map_put(&e->reps, rl_hash(rep->key, strlen(rep->key)), rep) != 0) {
        free(rep);
        return NULL;
    }
    rl_touch_locked(e, RL_ITEM_REP, rep->key, &rep->dirty);
    return rep;
}

static rl_tier override_for(const rl_policy *p, const char *subj_key_s)
{
    for (int i = 0; i < p->n_overrides; i++)
        if (strcmp(p->overrides[i].subject, subj_key_s) == 0)
            return p->overrides[i].tier;
    return RL_TIER_NONE;
}

uint32_t rl_rep_factor_locked(rl_engine *e, const char *subj_key_s, const rl_rep *rep,
                              int64_t now_ms, rl_tier *tier, char *why, size_t why_size)
{
    const rl_policy *p = e->policy;
    rl_tier t = override_for(p, subj_key_s);
    int overridden = t != RL_TIER_NONE;
    if (!overridden)
        t = rep ? rep->tier : RL_TIER_NEW;
    uint32_t f = 1000;
    switch (t) {
    case RL_TIER_NEW: {
        int64_t created = rep ? rep->created_ms : now_ms;
        int64_t day = (now_ms - created) / DAY_MS;
        if (day < 0)
            day = 0;
        int idx = day >= p->n_warmup ? p->n_warmup - 1 : (int)day;
        f = p->warmup_permille[idx];
        if (why)
            snprintf(why, why_size, "%s: tier new, warm-up day %" PRId64 " -> %u permille%s",
                     subj_key_s, day, f, overridden ? " (policy override)" : "");
        break;
    }
    case RL_TIER_GOOD:
    case RL_TIER_FLAGGED:
    case RL_TIER_SUSPENDED:
    default:
        f = t == RL_TIER_GOOD      ? p->good_permille
            : t == RL_TIER_FLAGGED ? p->flagged_permille
                                   : p->suspended_permille;
        if (why)
            snprintf(why, why_size, "%s: tier %s -> %u permille (%s)", subj_key_s, rl_tier_name(t),
                     f, overridden ? "policy override" : (rep ? rep->why : ""));
        break;
    }
    *tier = t;
    return f;
}

void rl_req_scale_locked(rl_engine *e, rl_req *r, int64_t now_ms)
{
    char why[160];
    char key[RL_SUBJ_KEY_MAX];
    rl_tier t;
    r->factor_permille = 1000;
    r->why[0] = '\0';
    r->org_rep = r->ip_rep = NULL;
    const char *kinds[2] = {"org", "ip"};
    const char *ids[2] = {r->org, r->ip};
    for (int k = 0; k < 2; k++) {
        if (!ids[k][0])
            continue;
        subj_key(key, sizeof(key), kinds[k], ids[k]);
        rl_rep *rep = rl_map_get(&e->reps, key, rl_hash(key, strlen(key)));
        if (k == 0)
            r->org_rep = rep;
        else
            r->ip_rep = rep;
        /* The explanation is only formatted when it matters (a reduced limit). */
        uint32_t f = rl_rep_factor_locked(e, key, rep, now_ms, &t, NULL, 0);
        if (f < r->factor_permille) {
            r->factor_permille = f;
            rl_rep_factor_locked(e, key, rep, now_ms, &t, why, sizeof(why));
            snprintf(r->why, sizeof(r->why), "%s", why);
        }
        for (int i = 0; rep && i < rep->n_pen; i++) {
            const rl_penalty *pn = &rep->pen[i];
            if (pn->until_ms <= now_ms ||
                (pn->provider[0] && strcmp(pn->provider, r->provider) != 0))
                continue;
            if (pn->permille < r->factor_permille) {
                r->factor_permille = pn->permille;
                snprintf(r->why, sizeof(r->why), "%.64s: penalty %s for %s -> %u permille", key,
                         pn->pattern, pn->provider[0] ? pn->provider : "all providers",
                         pn->permille);
            }
        }
    }
}

/* Closes the previous day: a clean day with traffic extends the streak, a
 * day with a violation resets it; enough clean days promote. */
static void roll_day(const rl_policy *p, rl_rep *rep, int64_t now_ms)
{
    int64_t day = now_ms / DAY_MS;
    if (day <= rep->day)
        return;
    if (rep->violation)
        rep->clean_days = 0;
    else if (rep->vol > 0)
        rep->clean_days++;
    if (rep->clean_days >= p->promote_after_clean_days &&
        (rep->tier == RL_TIER_NEW || rep->tier == RL_TIER_FLAGGED)) {
        snprintf(rep->why, sizeof(rep->why), "promoted from %s after %d clean days",
                 rl_tier_name(rep->tier), rep->clean_days);
        rep->tier = RL_TIER_GOOD;
        rep->tier_since_ms = now_ms;
        rep->clean_days = 0;
    }
    rep->day = day;
    rep->vol = rep->bounced = rep->complaints = rep->deferred = 0;
    rep->violation = 0;
}

/* Moves a subject down to `to` (flagged or suspended). Suspension sticks
 * until an operator overrides it in the policy. */
static void demote(rl_rep *rep, rl_tier to, int64_t now_ms, const char *why)
{
    if (rep->tier == RL_TIER_SUSPENDED || rep->tier == to)
        return;
    rep->tier = to;
    rep->tier_since_ms = now_ms;
    rep->clean_days = 0;
    snprintf(rep->why, sizeof(rep->why), "%s", why);
}

static void add_penalty(rl_rep *rep, const rl_pattern *pt, const char *provider, int64_t now_ms)
{
    const char *pv = pt->provider[0] ? pt->provider : provider;
    rl_penalty *slot = NULL;
    for (int i = 0; i < rep->n_pen; i++)
        if (strcmp(rep->pen[i].pattern, pt->name) == 0 && strcmp(rep->pen[i].provider, pv) == 0)
            slot = &rep->pen[i];
    if (!slot) {
        for (int i = 0; i < rep->n_pen && !slot; i++)
            if (rep->pen[i].until_ms <= now_ms)
                slot = &rep->pen[i];
    }
    if (!slot && rep->n_pen < RL_MAX_PEN) {
        rl_penalty *np = realloc(rep->pen, sizeof(*np) * (size_t)(rep->n_pen + 1));
        if (!np)
            return; /* keep the old penalties; the tier logic still applies */
        rep->pen = np;
        slot = &rep->pen[rep->n_pen++];
    }
    if (!slot) { /* full: replace the one ending first */
        slot = &rep->pen[0];
        for (int i = 1; i < rep->n_pen; i++)
            if (rep->pen[i].until_ms < slot->until_ms)
                slot = &rep->pen[i];
    }
    snprintf(slot->provider, sizeof(slot->provider), "%s", pv);
    snprintf(slot->pattern, sizeof(slot->pattern), "%s", pt->name);
    slot->permille = pt->factor_permille;
    slot->until_ms = now_ms + pt->duration_ms;
}

static int ci_contains(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay; hay++)
        if (strncasecmp(hay, needle, n) == 0)
            return 1;
    return n == 0;
}

static int pattern_matches(const rl_pattern *pt, const char *provider, uint32_t code,
                           const char *enhanced, const char *text)
{
    char cs[16];
    snprintf(cs, sizeof(cs), "%u", code);
    if (pt->provider[0] && strcmp(pt->provider, provider) != 0)
        return 0;
    if (pt->code_prefix[0] && strncmp(cs, pt->code_prefix, strlen(pt->code_prefix)) != 0)
        return 0;
    if (pt->enhanced_prefix[0] &&
        strncmp(enhanced, pt->enhanced_prefix, strlen(pt->enhanced_prefix)) != 0)
        return 0;
    if (pt->text_contains[0] && !ci_contains(text, pt->text_contains))
        return 0;
    return 1;
}

static void apply_rates(const rl_policy *p, rl_rep *rep, int64_t now_ms)
{
    if (rep->vol < p->min_daily_volume)
        return;
    uint64_t cpm = rep->complaints * 1000 / rep->vol;
    uint64_t bpm = rep->bounced * 1000 / rep->vol;
    char why[128];
    if (cpm >= p->complaint_suspend_permille) {
        rep->violation = 1;
        snprintf(why, sizeof(why), "complaint rate %" PRIu64 " permille >= %u (suspend)", cpm,
                 p->complaint_suspend_permille);
        demote(rep, RL_TIER_SUSPENDED, now_ms, why);
    } else if (cpm >= p->complaint_flag_permille || bpm >= p->bounce_flag_permille) {
        rep->violation = 1;
        snprintf(why, sizeof(why),
                 "bounce rate %" PRIu64 " permille (flag at %u), complaint rate %" PRIu64
                 " permille (flag at %u)",
                 bpm, p->bounce_flag_permille, cpm, p->complaint_flag_permille);
        demote(rep, RL_TIER_FLAGGED, now_ms, why);
    }
}

xd_code rl_engine_feedback(rl_engine *e, const char *event_id, const rl_subject *s,
                           rl_feedback_kind kind, uint32_t smtp_code, const char *enhanced,
                           const char *text, uint32_t recipients, int64_t now_ms,
                           rl_feedback_result *out, xd_err *err)
{
    xd_code rc = rl_check_id(event_id, RL_ID_MAX, "event_id", err);
    if (rc != XD_OK)
        return rc;
    if (kind < RL_FB_DELIVERED || kind > RL_FB_COMPLAINT)
        return xd_err_field(err, XD_INVALID_ARGUMENT, "kind",
                            "kind must be DELIVERED, DEFERRED, BOUNCED or COMPLAINT");
    if (smtp_code > 599 || (enhanced && strlen(enhanced) > 15) || (text && strlen(text) > 4096))
        return xd_err_field(err, XD_INVALID_ARGUMENT, "smtp",
                            "smtp.code must be 0..599, enhanced_code at most 15 characters, "
                            "text at most 4096");
    if (recipients > 1000000)
        return xd_err_field(err, XD_INVALID_ARGUMENT, "recipients",
                            "recipients must be 0..1000000");
    if (recipients == 0)
        recipients = 1;
    rl_req r;
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&e->mu);
    int64_t now = rl_now_locked(e, now_ms);
    if ((rc = rl_req_init_locked(e, s, &r, err)) != XD_OK)
        goto out;
    if (!r.org[0] && !r.ip[0]) {
        rc = xd_err_field(err, XD_INVALID_ARGUMENT, "subject",
                          "feedback needs subject.org_id or subject.ip (who sent)");
        goto out;
    }
    const rl_policy *p = e->policy;
    int replay = rl_map_get(&e->events, event_id, rl_hash(event_id, strlen(event_id))) != NULL;
    const char *kinds[2] = {"org", "ip"};
    const char *ids[2] = {r.org, r.ip};
    for (int k = 0; k < 2; k++) {
        if (!ids[k][0])
            continue;
        rl_rep *rep = rl_rep_make_locked(e, kinds[k], ids[k], now);
        if (!rep) {
            rc = xd_err_set(err, XD_RESOURCE_EXHAUSTED, "out of memory");
            goto out;
        }
        if (!replay) {
            roll_day(p, rep, now);
            rep->vol += recipients;
            if (kind == RL_FB_BOUNCED)
                rep->bounced += recipients;
            else if (kind == RL_FB_COMPLAINT)
                rep->complaints += recipients;
            else if (kind == RL_FB_DEFERRED)
                rep->deferred += recipients;
        }
        for (int i = 0; i < p->n_patterns; i++) {
            const rl_pattern *pt = &p->patterns[i];
            if (kind == RL_FB_DELIVERED || kind == RL_FB_COMPLAINT ||
                !pattern_matches(pt, r.provider, smtp_code, enhanced ? enhanced : "",
                                 text ? text : ""))
                continue;
            if (k == 0 || !r.org[0]) { /* report each pattern once */
                if (out->n_matched < 8)
                    snprintf(out->matched[out->n_matched++], RL_NAME_MAX, "%s", pt->name);
            }
            if (replay)
                continue;
            rep->violation = 1;
            if (pt->duration_ms > 0)
                add_penalty(rep, pt, r.provider, now);
            if (pt->demote_to != RL_TIER_NONE) {
                char why[128];
                snprintf(why, sizeof(why), "feedback pattern %s (%u %s)", pt->name, smtp_code,
                         enhanced ? enhanced : "");
                demote(rep, pt->demote_to, now, why);
            }
        }
        if (!replay)
            apply_rates(p, rep, now);
        char key[RL_SUBJ_KEY_MAX];
        char why[160];
        rl_tier t;
        subj_key(key, sizeof(key), kinds[k], ids[k]);
        rl_rep_factor_locked(e, key, rep, now, &t, why, sizeof(why));
        if (k == 0)
            out->org_tier = t;
        else
            out->ip_tier = t;
        if (!replay)
            out->seq = rl_touch_locked(e, RL_ITEM_REP, rep->key, &rep->dirty);
    }
    if (replay) {
        out->seq = e->seq;
        goto out;
    }
    rl_event *ev = calloc(1, sizeof(*ev));
    if (!ev) {
        rc = xd_err_set(err, XD_RESOURCE_EXHAUSTED, "out of memory");
        goto out;
    }
    snprintf(ev->id, sizeof(ev->id), "%s", event_id);
    ev->at_ms = now;
    if (rl_map_put(&e->events, rl_hash(ev->id, strlen(ev->id)), ev) != 0) {
        free(ev);
        rc = xd_err_set(err, XD_RESOURCE_EXHAUSTED, "out of memory");
        goto out;
    }
    if (e->event_tail)
        e->event_tail->next = ev;
    else
        e->event_head = ev;
    e->event_tail = ev;
    out->seq = rl_touch_locked(e, RL_ITEM_EVENT, ev->id, &ev->dirty);
out:
    pthread_mutex_unlock(&e->mu);
    return rc;
}

void rl_rep_encode(const rl_rep *rep, rl_wbuf *b)
{
    rl_put_u8(b, (uint8_t)rep->tier);
    rl_put_i64(b, rep->created_ms);
    rl_put_i64(b, rep->tier_since_ms);
    rl_put_str(b, rep->why);
    rl_put_i64(b, rep->day);
    rl_put_u64(b, rep->vol);
    rl_put_u64(b, rep->bounced);
    rl_put_u64(b, rep->complaints);
    rl_put_u64(b, rep->deferred);
    rl_put_u8(b, (uint8_t)rep->violation);
    rl_put_u32(b, (uint32_t)rep->clean_days);
    rl_put_u32(b, (uint32_t)rep->n_pen);
    for (int i = 0; i < rep->n_pen; i++) {
        rl_put_str(b, rep->pen[i].provider);
        rl_put_str(b, rep->pen[i].pattern);
        rl_put_u32(b, rep->pen[i].permille);
        rl_put_i64(b, rep->pen[i].until_ms);
    }
}

int rl_rep_decode(rl_rep *rep, rl_rbuf *r)
{
    rep->tier = (rl_tier)rl_get_u8(r);
    rep->created_ms = rl_get_i64(r);
    rep->tier_since_ms = rl_get_i64(r);
    rl_get_str(r, rep->why, sizeof(rep->why));
    rep->day = rl_get_i64(r);
    rep->vol = rl_get_u64(r);
    rep->bounced = rl_get_u64(r);
    rep->complaints = rl_get_u64(r);
    rep->deferred = rl_get_u64(r);
    rep->violation = rl_get_u8(r);
    rep->clean_days = (int)rl_get_u32(r);
    uint32_t n = rl_get_u32(r);
    if (r->bad || n > RL_MAX_PEN || rep->tier < RL_TIER_NEW || rep->tier > RL_TIER_SUSPENDED)
        return -1;
    if (n > 0 && !(rep->pen = calloc(n, sizeof(*rep->pen))))
        return -1;
    for (uint32_t i = 0; i < n && !r->bad; i++) {
        rl_get_str(r, rep->pen[i].provider, sizeof(rep->pen[i].provider));
        rl_get_str(r, rep->pen[i].pattern, sizeof(rep->pen[i].pattern));
        rep->pen[i].permille = rl_get_u32(r);
        rep->pen[i].until_ms = rl_get_i64(r);
        rep->n_pen++;
    }
    return r->bad ? -1 : 0;
}
