/* rl_policy.c: parsing and validating the JSON policy; see rl_policy.h. */
#include "rl_policy.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char DEFAULT_POLICY[] =
    "{\n"
    " \"rules\": [\n"
    "  {\"name\": \"per-message\", \"kind\": \"per_message\", \"scope\": [], \"limit\": 100},\n"
    "  {\"name\": \"org-hour\", \"kind\": \"window\", \"scope\": [\"org\"], \"limit\": 2000,"
    " \"window_ms\": 3600000},\n"
    "  {\"name\": \"org-day\", \"kind\": \"window\", \"scope\": [\"org\"], \"limit\": 20000,"
    " \"window_ms\": 86400000},\n"
    "  {\"name\": \"ip-provider-pace\", \"kind\": \"gcra\", \"scope\": [\"ip\", \"provider\"],"
    " \"limit\": 600, \"period_ms\": 60000, \"burst\": 50},\n"
    "  {\"name\": \"ip-provider-conn\", \"kind\": \"connections\", \"scope\": [\"ip\", "
    "\"provider\"], \"limit\": 4, \"ttl_ms\": 300000, \"messages_per_connection\": 100}\n"
    " ],\n"
    " \"tiers\": {\"warmup_permille\": [50, 100, 200, 350, 500, 750], \"good_permille\": 1000,"
    " \"flagged_permille\": 250, \"suspended_permille\": 0},\n"
    " \"reputation\": {\"promote_after_clean_days\": 7, \"min_daily_volume\": 100,"
    " \"bounce_flag_permille\": 50, \"complaint_flag_permille\": 3,"
    " \"complaint_suspend_permille\": 10},\n"
    " \"feedback_patterns\": [\n"
    "  {\"name\": \"gmail-rate-4.7.28\", \"provider\": \"google\", \"enhanced_code\": \"4.7.28\","
    " \"factor_permille\": 250, \"duration_ms\": 3600000},\n"
    "  {\"name\": \"yahoo-ts\", \"provider\": \"yahoo\", \"text_contains\": \"TS0\","
    " \"factor_permille\": 250, \"duration_ms\": 14400000},\n"
    "  {\"name\": \"outlook-5.7.515\", \"provider\": \"microsoft\", \"enhanced_code\": \"5.7.515\","
    " \"factor_permille\": 0, \"duration_ms\": 3600000, \"demote_to\": \"flagged\"},\n"
    "  {\"name\": \"generic-4.7\", \"code\": \"4\", \"enhanced_code\": \"4.7.\","
    " \"factor_permille\": 500, \"duration_ms\": 1800000}\n"
    " ],\n"
    " \"providers\": [\n"
    "  {\"name\": \"google\", \"mx_suffixes\": [\"google.com\", \"googlemail.com\"]},\n"
    "  {\"name\": \"microsoft\", \"mx_suffixes\": [\"outlook.com\", \"hotmail.com\","
    " \"protection.outlook.com\"]},\n"
    "  {\"name\": \"yahoo\", \"mx_suffixes\": [\"yahoodns.net\", \"yahoo.com\"]},\n"
    "  {\"name\": \"apple\", \"mx_suffixes\": [\"icloud.com\", \"me.com\"]}\n"
    " ]\n"
    "}\n";

const char *rl_policy_default_json(void)
{
    return DEFAULT_POLICY;
}

const char *rl_kind_name(rl_kind kind)
{
    switch (kind) {
    case RL_KIND_PER_MESSAGE:
        return "per_message";
    case RL_KIND_WINDOW:
        return "window";
    case RL_KIND_GCRA:
        return "gcra";
    case RL_KIND_CONNECTIONS:
        return "connections";
    }
    return "?";
}

static const char *const TIER_NAMES[] = {"", "new", "good", "flagged", "suspended"};

const char *rl_tier_name(rl_tier tier)
{
    return (unsigned)tier < (sizeof(TIER_NAMES) / sizeof(TIER_NAMES[0])) ? TIER_NAMES[tier] : "?";
}

rl_tier rl_tier_parse(const char *name)
{
    for (int i = 1; i < 5; i++)
        if (strcmp(name, TIER_NAMES[i]) == 0)
            return (rl_tier)i;
    return RL_TIER_NONE;
}

/* Copies a string member (optional) with a length bound. */
static int get_str(json_t *obj, const char *key, char *out, size_t size, const char *path,
                   xd_err *err)
{
    json_t *v = json_object_get(obj, key);
    out[0] = '\0';
    if (!v)
        return 0;
    if (!json_is_string(v) || json_string_length(v) >= size) {
        xd_err_field(err, XD_INVALID_ARGUMENT, key, "%s.%s must be a string shorter than %zu", path,
                     key, size);
        return -1;
    }
    memcpy(out, json_string_value(v), json_string_length(v) + 1);
    return 0;
}

/* Reads an optional non-negative integer member within [min, max]. */
static int get_int(json_t *obj, const char *key, int64_t def, int64_t min, int64_t max,
                   int64_t *out, const char *path, xd_err *err)
{
    json_t *v = json_object_get(obj, key);
    if (!v) {
        *out = def;
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
        xd_err_field(err, XD_INVALID_ARGUMENT, key, "%s.%s must be an integer in [%lld, %lld]",
                     path, key, (long long)min, (long long)max);
        return -1;
    }
    *out = json_integer_value(v);
    return 0;
}

static int parse_scope(json_t *arr, unsigned *out, const char *path, xd_err *err)
{
    *out = 0;
    if (!arr)
        return 0;
    if (!json_is_array(arr)) {
        xd_err_field(err, XD_INVALID_ARGUMENT, "scope", "%s.scope must be an array", path);
        return -1;
    }
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        const char *s = json_is_string(v) ? json_string_value(v) : "";
        unsigned bit = strcmp(s, "org") == 0        ? RL_SCOPE_ORG
                       : strcmp(s, "ip") == 0       ? RL_SCOPE_IP
                       : strcmp(s, "domain") == 0   ? RL_SCOPE_DOMAIN
                       : strcmp(s, "provider") == 0 ? RL_SCOPE_PROVIDER
                                                    : 0;
        if (!bit) {
            xd_err_field(err, XD_INVALID_ARGUMENT, "scope",
                         "%s.scope[%zu] must be \"org\", \"ip\", \"domain\" or \"provider\"", path,
                         i);
            return -1;
        }
        *out |= bit;
    }
    return 0;
}

static int parse_rule(json_t *o, rl_rule *r, const char *path, xd_err *err)
{
    char kind[32];
    int64_t v;
    if (!json_is_object(o)) {
        xd_err_set(err, XD_INVALID_ARGUMENT, "%s must be an object", path);
        return -1;
    }
    if (get_str(o, "name", r->name, sizeof(r->name), path, err) ||
        get_str(o, "kind", kind, sizeof(kind), path, err))
        return -1;
    if (!r->name[0] || strchr(r->name, '|')) {
        xd_err_field(err, XD_INVALID_ARGUMENT, "name",
                     "%s.name is required and may not contain '|'", path);
        return -1;
    }
    r->kind = strcmp(kind, "per_message") == 0   ? RL_KIND_PER_MESSAGE
              : strcmp(kind, "window") == 0      ? RL_KIND_WINDOW
              : strcmp(kind, "gcra") == 0        ? RL_KIND_GCRA
              : strcmp(kind, "connections") == 0 ? RL_KIND_CONNECTIONS
                                                 : 0;
    if (!r->kind) {
        xd_err_field(err, XD_INVALID_ARGUMENT, "kind",
                     "%s.kind must be per_message, window, gcra or connections", path);
        return -1;
    }
    if (parse_scope(json_object_get(o, "scope"), &r->scope, path, err))
        return -1;
    json_t *match = json_object_get(o, "match");
    if (match &&
        (get_str(match, "provider", r->match_provider, sizeof(r->match_provider), path, err) ||
         get_str(match, "domain", r->match_domain, sizeof(r->match_domain), path, err)))
        return -1;
    if (get_int(o, "limit", -1, 0, 1000000000, &v, path, err))
        return -1;
    if (v < 0) {
        xd_err_field(err, XD_INVALID_ARGUMENT, "limit", "%s.limit is required", path);
        return -1;
    }
    r->limit = (uint64_t)v;
    if (r->kind == RL_KIND_WINDOW || r->kind == RL_KIND_GCRA) {
        const char *pk = r->kind == RL_KIND_WINDOW ? "window_ms" : "period_ms";
        if (get_int(o, pk, 0, 1, 31LL * 86400000, &r->period_ms, path, err))
            return -1;
        if (r->period_ms == 0) {
            xd_err_field(err, XD_INVALID_ARGUMENT, pk, "%s.%s is required (1 ms .. 31 days)", path,
                         pk);
            return -1;
        }
    }
    if (r->kind == RL_KIND_GCRA) {
        if (get_int(o, "burst", 1, 1, 1000000000, &v, path, err))
            return -1;
        r->burst = (uint64_t)v;
    }
    if (r->kind == RL_KIND_CONNECTIONS) {
        if (r->limit > 10000) {
            xd_err_field(err, XD_INVALID_ARGUMENT, "limit",
                         "%s.limit for connections must be at most 10000", path);
            return -1;
        }
        if (get_int(o, "ttl_ms", 300000, 1000, 86400000, &r->ttl_ms, path, err) ||
            get_int(o, "messages_per_connection", 100, 1, 1000000, &v, path, err))
            return -1;
        r->messages_per_connection = (uint32_t)v;
    }
    json_t *scaled = json_object_get(o, "scaled");
    if (scaled && !json_is_boolean(scaled)) {
        xd_err_field(err, XD_INVALID_ARGUMENT, "scaled", "%s.scaled must be true or false", path);
        return -1;
    }
    v = scaled ? json_is_true(scaled) : r->kind != RL_KIND_PER_MESSAGE;
    r->scaled = (int)v;
    return 0;
}

static int parse_permille_array(json_t *arr, uint32_t *out, int *n, const char *path, xd_err *err)
{
    if (!json_is_array(arr) || json_array_size(arr) == 0 ||
        json_array_size(arr) > RL_MAX_WARMUP_DAYS) {
        xd_err_field(err, XD_INVALID_ARGUMENT, "warmup_permille",
                     "%s must be an array of 1..%d integers 0..1000", path, RL_MAX_WARMUP_DAYS);
        return -1;
    }
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 1000) {
            xd_err_field(err, XD_INVALID_ARGUMENT, "warmup_permille",
                         "%s[%zu] must be an integer 0..1000", path, i);
            return -1;
        }
        out[i] = (uint32_t)json_integer_value(v);
    }
    *n = (int)json_array_size(arr);
    return 0;
}

static int parse_pattern(json_t *o, rl_pattern *pt, const char *path, xd_err *err)
{
    char demote[32];
    int64_t v;
    if (!json_is_object(o)) {
        xd_err_set(err, XD_INVALID_ARGUMENT, "%s must be an object", path);
        return -1;
    }
    if (get_str(o, "name", pt->name, sizeof(pt->name), path, err) ||
        get_str(o, "provider", pt->provider, sizeof(pt->provider), path, err) ||
        get_str(o, "code", pt->code_prefix, sizeof(pt->code_prefix), path, err) ||
        get_str(o, "enhanced_code", pt->enhanced_prefix, sizeof(pt->enhanced_prefix), path, err) ||
        get_str(o, "text_contains", pt->text_contains, sizeof(pt->text_contains), path, err) ||
        get_str(o, "demote_to", demote, sizeof(demote), path, err))
        return -1;
    if (!pt->name[0]) {
        xd_err_field(err, XD_INVALID_ARGUMENT, "name", "%s.name is required", path);
        return -1;
    }
    if (!pt->code_prefix[0] && !pt->enhanced_prefix[0] && !pt->text_contains[0]) {
        xd_err_set(err, XD_INVALID_ARGUMENT,
                   "%s needs at least one of code, enhanced_code, text_contains", path);
        return -1;
    }
    if (get_int(o, "factor_permille", 1000, 0, 1000, &v, path, err))
        return -1;
    pt->factor_permille = (uint32_t)v;
    if (get_int(o, "duration_ms", 0, 0, 31LL * 86400000, &pt->duration_ms, path, err))
        return -1;
    pt->demote_to = demote[0] ? rl_tier_parse(demote) : RL_TIER_NONE;
    if (demote[0] && (pt->demote_to != RL_TIER_FLAGGED && pt->demote_to != RL_TIER_SUSPENDED)) {
        xd_err_field(err, XD_INVALID_ARGUMENT, "demote_to",
                     "%s.demote_to must be \"flagged\" or \"suspended\"", path);
        return -1;
    }
    return 0;
}

static int parse_provider(json_t *o, rl_provider *pv, const char *path, xd_err *err)
{
    if (get_str(o, "name", pv->name, sizeof(pv->name), path, err))
        return -1;
    json_t *arr = json_object_get(o, "mx_suffixes");
    if (!pv->name[0] || !json_is_array(arr) || json_array_size(arr) == 0 ||
        json_array_size(arr) > RL_MAX_SUFFIXES) {
        xd_err_set(err, XD_INVALID_ARGUMENT, "%s needs a name and 1..%d mx_suffixes", path,
                   RL_MAX_SUFFIXES);
        return -1;
    }
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        if (!json_is_string(v) || json_string_length(v) == 0 ||
            json_string_length(v) >= RL_VALUE_MAX) {
            xd_err_set(err, XD_INVALID_ARGUMENT, "%s.mx_suffixes[%zu] must be a domain", path, i);
            return -1;
        }
        snprintf(pv->suffixes[i], RL_VALUE_MAX, "%s", json_string_value(v));
    }
    pv->n_suffixes = (int)json_array_size(arr);
    return 0;
}

static int parse_sections(json_t *root, rl_policy *p, xd_err *err)
{
    char path[64];
    int64_t v;
    json_t *rules = json_object_get(root, "rules");
    if (!json_is_array(rules) || json_array_size(rules) > RL_MAX_RULES) {
        xd_err_field(err, XD_INVALID_ARGUMENT, "rules", "rules must be an array of at most %d",
                     RL_MAX_RULES);
        return -1;
    }
    size_t i;
    json_t *o;
    json_array_foreach(rules, i, o)
    {
        snprintf(path, sizeof(path), "rules[%zu]", i);
        if (parse_rule(o, &p->rules[i], path, err))
            return -1;
        for (size_t j = 0; j < i; j++)
            if (strcmp(p->rules[j].name, p->rules[i].name) == 0) {
                xd_err_field(err, XD_INVALID_ARGUMENT, "name", "%s.name \"%s\" is used twice", path,
                             p->rules[i].name);
                return -1;
            }
        p->n_rules++;
    }
    json_t *tiers = json_object_get(root, "tiers");
    p->warmup_permille[0] = 1000;
    p->n_warmup = 1;
    p->good_permille = 1000;
    p->flagged_permille = 250;
    p->suspended_permille = 0;
    if (tiers) {
        json_t *w = json_object_get(tiers, "warmup_permille");
        if (w &&
            parse_permille_array(w, p->warmup_permille, &p->n_warmup, "tiers.warmup_permille", err))
            return -1;
        if (get_int(tiers, "good_permille", 1000, 0, 100000, &v, "tiers", err))
            return -1;
        p->good_permille = (uint32_t)v;
        if (get_int(tiers, "flagged_permille", 250, 0, 1000, &v, "tiers", err))
            return -1;
        p->flagged_permille = (uint32_t)v;
        if (get_int(tiers, "suspended_permille", 0, 0, 1000, &v, "tiers", err))
            return -1;
        p->suspended_permille = (uint32_t)v;
    }
    json_t *rep = json_object_get(root, "reputation");
    json_t *empty = json_object();
    if (!rep)
        rep = empty;
    int rc = -1;
    if (get_int(rep, "promote_after_clean_days", 7, 1, 365, &v, "reputation", err))
        goto out;
    p->promote_after_clean_days = (int)v;
    if (get_int(rep, "min_daily_volume", 100, 1, 1000000000, &v, "reputation", err))
        goto out;
    p->min_daily_volume = (uint64_t)v;
    if (get_int(rep, "bounce_flag_permille", 50, 1, 1000, &v, "reputation", err))
        goto out;
    p->bounce_flag_permille = (uint32_t)v;
    if (get_int(rep, "complaint_flag_permille", 3, 1, 1000, &v, "reputation", err))
        goto out;
    p->complaint_flag_permille = (uint32_t)v;
    if (get_int(rep, "complaint_suspend_permille", 10, 1, 1000, &v, "reputation", err))
        goto out;
    p->complaint_suspend_permille = (uint32_t)v;
    rc = 0;
out:
    json_decref(empty);
    return rc;
}

static int parse_lists(json_t *root, rl_policy *p, xd_err *err)
{
    char path[64];
    size_t i;
    json_t *o;
    json_t *pats = json_object_get(root, "feedback_patterns");
    if (pats && (!json_is_array(pats) || json_array_size(pats) > RL_MAX_PATTERNS)) {
        xd_err_field(err, XD_INVALID_ARGUMENT, "feedback_patterns",
                     "feedback_patterns must be an array of at most %d", RL_MAX_PATTERNS);
        return -1;
    }
    json_array_foreach(pats, i, o)
    {
        snprintf(path, sizeof(path), "feedback_patterns[%zu]", i);
        if (parse_pattern(o, &p->patterns[i], path, err))
            return -1;
        p->n_patterns++;
    }
    json_t *provs = json_object_get(root, "providers");
    if (provs && (!json_is_array(provs) || json_array_size(provs) > RL_MAX_PROVIDERS)) {
        xd_err_field(err, XD_INVALID_ARGUMENT, "providers",
                     "providers must be an array of at most %d", RL_MAX_PROVIDERS);
        return -1;
    }
    json_array_foreach(provs, i, o)
    {
        snprintf(path, sizeof(path), "providers[%zu]", i);
        if (parse_provider(o, &p->providers[i], path, err))
            return -1;
        p->n_providers++;
    }
    json_t *ovs = json_object_get(root, "tier_overrides");
    if (ovs && (!json_is_object(ovs) || json_object_size(ovs) > RL_MAX_OVERRIDES)) {
        xd_err_field(err, XD_INVALID_ARGUMENT, "tier_overrides",
                     "tier_overrides must be an object of at most %d subjects", RL_MAX_OVERRIDES);
        return -1;
    }
    const char *k;
    json_object_foreach(ovs, k, o)
    {
        rl_override *ov = &p->overrides[p->n_overrides];
        ov->tier = json_is_string(o) ? rl_tier_parse(json_string_value(o)) : RL_TIER_NONE;
        if ((strncmp(k, "org:", 4) != 0 && strncmp(k, "ip:", 3) != 0) ||
            strlen(k) >= sizeof(ov->subject) || ov->tier == RL_TIER_NONE) {
            xd_err_field(err, XD_INVALID_ARGUMENT, "tier_overrides",
                         "tier_overrides: keys are \"org:<id>\" or \"ip:<addr>\", values "
                         "new|good|flagged|suspended (bad entry \"%.64s\")",
                         k);
            return -1;
        }
        snprintf(ov->subject, sizeof(ov->subject), "%s", k);
        p->n_overrides++;
    }
    return 0;
}

xd_code rl_policy_parse(const char *json, rl_policy **out, xd_err *err)
{
    if (strlen(json) > RL_POLICY_MAX_JSON)
        return xd_err_field(err, XD_INVALID_ARGUMENT, "policy_json",
                            "policy is larger than %d bytes", RL_POLICY_MAX_JSON);
    json_error_t jerr;
    json_t *root = json_loads(json, JSON_REJECT_DUPLICATES, &jerr);
    if (!root || !json_is_object(root)) {
        json_decref(root);
        return xd_err_field(err, XD_INVALID_ARGUMENT, "policy_json",
                            "policy is not a JSON object (line %d: %s)", jerr.line, jerr.text);
    }
    rl_policy *p = calloc(1, sizeof(*p));
    if (!p) {
        json_decref(root);
        return xd_err_set(err, XD_RESOURCE_EXHAUSTED, "out of memory parsing the policy");
    }
    if (parse_sections(root, p, err) || parse_lists(root, p, err)) {
        json_decref(root);
        free(p);
        return err->code ? err->code : XD_INVALID_ARGUMENT;
    }
    json_decref(root);
    *out = p;
    return XD_OK;
}

const char *rl_policy_provider_for_mx(const rl_policy *p, const char *mx_host)
{
    size_t hl = strlen(mx_host);
    while (hl > 0 && mx_host[hl - 1] == '.') /* trailing root dot */
        hl--;
    for (int i = 0; i < p->n_providers; i++) {
        for (int j = 0; j < p->providers[i].n_suffixes; j++) {
            const char *suf = p->providers[i].suffixes[j];
            size_t sl = strlen(suf);
            if (sl > hl || strncasecmp(mx_host + hl - sl, suf, sl) != 0)
                continue;
            if (sl == hl || mx_host[hl - sl - 1] == '.')
                return p->providers[i].name;
        }
    }
    return NULL;
}
