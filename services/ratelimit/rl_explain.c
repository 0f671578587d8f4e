/* rl_explain.c: Explain: every rule that applies to a subject with its key,
 * limits before and after scaling, current use, and the tiers and penalties
 * behind the scaling; see rl_engine.h. Read-only. */
#include "rl_engine_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include "xd/clock.h"

static void explain_rule(rl_engine *e, const rl_rule *rule, const rl_req *r, const char *key,
                         int64_t now, rl_rule_state *st)
{
    rl_slot *s = rl_slot_get_locked(e, key);
    snprintf(st->rule, sizeof(st->rule), "%s", rule->name);
    snprintf(st->key, sizeof(st->key), "%s", key);
    st->kind = rule->kind;
    st->base_limit = rule->limit;
    st->effective_limit = rl_effective(rule, r, rule->limit);
    st->period_ms = rule->kind == RL_KIND_CONNECTIONS ? rule->ttl_ms : rule->period_ms;
    switch (rule->kind) {
    case RL_KIND_PER_MESSAGE:
        st->used = 0;
        st->available = st->effective_limit;
        break;
    case RL_KIND_WINDOW:
        if (s)
            rl_window_expire(&s->win, now, rule->period_ms);
        st->used = s ? s->win.sum : 0;
        st->available = s ? rl_window_available(&s->win, st->effective_limit) : st->effective_limit;
        break;
    case RL_KIND_GCRA: {
        uint64_t burst = rule->scaled ? rl_effective(rule, r, rule->burst) : rule->burst;
        if (burst == 0 && st->effective_limit > 0)
            burst = 1;
        rl_gcra g = rl_gcra_params(st->effective_limit, rule->period_ms, burst);
        st->available = st->effective_limit ? rl_gcra_available(g, s ? s->tat_ns : 0, now) : 0;
        st->used = burst > st->available ? burst - st->available : 0;
        break;
    }
    case RL_KIND_CONNECTIONS:
        if (s)
            rl_slot_purge_conns(s, now);
        st->used = s ? s->n_conns : 0;
        st->available = st->effective_limit > st->used ? st->effective_limit - st->used : 0;
        break;
    }
    if (!rule->scaled)
        snprintf(st->why, sizeof(st->why), "not scaled by tiers");
    else if (r->factor_permille == 1000)
        snprintf(st->why, sizeof(st->why), "full limit");
    else
        snprintf(st->why, sizeof(st->why), "%s", r->why);
}

xd_code rl_engine_explain(rl_engine *e, const rl_subject *s, int64_t now_ms, rl_explain *out,
                          xd_err *err)
{
    rl_req r;
    char key[RL_KEY_MAX];
    xd_code rc;
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&e->mu);
    int64_t now = rl_now_locked(e, now_ms);
    if ((rc = rl_req_init_locked(e, s, &r, err)) != XD_OK)
        goto out;
    rl_req_scale_locked(e, &r, now);
    snprintf(out->provider, sizeof(out->provider), "%s", r.provider);
    out->policy_version = e->policy_version;
    for (int i = 0; i < e->policy->n_rules; i++) {
        const rl_rule *rule = &e->policy->rules[i];
        if (!rl_rule_key(rule, &r, key, sizeof(key)))
            continue;
        explain_rule(e, rule, &r, key, now, &out->rules[out->n_rules++]);
    }
    const char *kinds[2] = {"org", "ip"};
    const char *ids[2] = {r.org, r.ip};
    for (int k = 0; k < 2; k++) {
        if (!ids[k][0])
            continue;
        rl_rep *rep = rl_rep_get_locked(e, kinds[k], ids[k]);
        char sk[RL_SUBJ_KEY_MAX];
        snprintf(sk, sizeof(sk), "%s:%s", kinds[k], ids[k]);
        rl_tier t;
        rl_rep_factor_locked(e, sk, rep, now, &t, k ? out->ip_why : out->org_why,
                             sizeof(out->org_why));
        if (k == 0)
            out->org_tier = t;
        else
            out->ip_tier = t;
        for (int i = 0; rep && i < rep->n_pen && out->n_penalties < 16; i++) {
            const rl_penalty *pn = &rep->pen[i];
            if (pn->until_ms <= now)
                continue;
            char until[40];
            xd_format_rfc3339(pn->until_ms, until, sizeof(until));
            snprintf(out->penalties[out->n_penalties++], sizeof(out->penalties[0]),
                     "%s: %s %u permille until %s (%s)", sk,
                     pn->provider[0] ? pn->provider : "all providers", pn->permille, until,
                     pn->pattern);
        }
    }
out:
    pthread_mutex_unlock(&e->mu);
    return rc;
}
