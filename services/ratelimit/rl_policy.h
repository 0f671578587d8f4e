/*
 * rl_policy.h: the ratelimit policy as data: rules, tier factors, warm-up
 * schedule, reputation thresholds, feedback patterns and the provider table,
 * parsed from JSON (the policy file and SetPolicy share one format; see
 * README.md).
 *
 * An rl_policy is immutable once parsed; the engine owns the current one and
 * frees it when replaced. Thread-safety: read-only after parse.
 */
#ifndef RL_POLICY_H
#define RL_POLICY_H

#include <stdint.h>
#include "xd/status.h"

#define RL_NAME_MAX        64
#define RL_VALUE_MAX       256 /* longest org id, ip, domain, provider, mx host */
#define RL_MAX_RULES       64
#define RL_MAX_PATTERNS    64
#define RL_MAX_PROVIDERS   64
#define RL_MAX_SUFFIXES    16
#define RL_MAX_WARMUP_DAYS 60
#define RL_MAX_OVERRIDES   256
#define RL_POLICY_MAX_JSON (1 << 20)

typedef enum rl_kind {
    RL_KIND_PER_MESSAGE = 1,
    RL_KIND_WINDOW = 2,
    RL_KIND_GCRA = 3,
    RL_KIND_CONNECTIONS = 4,
} rl_kind;

/* Scope dimensions, as bits. */
enum {
    RL_SCOPE_ORG = 1,
    RL_SCOPE_IP = 2,
    RL_SCOPE_DOMAIN = 4,
    RL_SCOPE_PROVIDER = 8,
};

typedef enum rl_tier {
    RL_TIER_NONE = 0,
    RL_TIER_NEW = 1,
    RL_TIER_GOOD = 2,
    RL_TIER_FLAGGED = 3,
    RL_TIER_SUSPENDED = 4,
} rl_tier;

typedef struct rl_rule {
    char name[RL_NAME_MAX];
    rl_kind kind;
    unsigned scope;                   /* RL_SCOPE_* bits forming the key */
    char match_provider[RL_NAME_MAX]; /* "" = any */
    char match_domain[RL_VALUE_MAX];  /* "" = any */
    uint64_t limit;                   /* recipients (connections for CONNECTIONS) */
    int64_t period_ms;                /* WINDOW length / GCRA period */
    uint64_t burst;                   /* GCRA */
    int64_t ttl_ms;                   /* CONNECTIONS lease TTL */
    uint32_t messages_per_connection; /* CONNECTIONS */
    int scaled;                       /* tiers and penalties scale the limit */
} rl_rule;

typedef struct rl_pattern {
    char name[RL_NAME_MAX];
    char provider[RL_NAME_MAX];      /* "" = any provider */
    char code_prefix[8];             /* "4", "421", "" = any */
    char enhanced_prefix[16];        /* "4.7.28", "4.7.", "" = any */
    char text_contains[RL_NAME_MAX]; /* case-insensitive, "" = any */
    uint32_t factor_permille;        /* limit factor while the penalty lasts */
    int64_t duration_ms;             /* 0 = no penalty */
    rl_tier demote_to;               /* RL_TIER_NONE = no demotion */
} rl_pattern;

typedef struct rl_provider {
    char name[RL_NAME_MAX];
    char suffixes[RL_MAX_SUFFIXES][RL_VALUE_MAX];
    int n_suffixes;
} rl_provider;

typedef struct rl_override {
    char subject[RL_VALUE_MAX + 8]; /* "org:<id>" or "ip:<addr>" */
    rl_tier tier;
} rl_override;

typedef struct rl_policy {
    rl_rule rules[RL_MAX_RULES];
    int n_rules;
    uint32_t warmup_permille[RL_MAX_WARMUP_DAYS]; /* NEW tier factor by day */
    int n_warmup;
    uint32_t good_permille, flagged_permille, suspended_permille;
    int promote_after_clean_days;
    uint64_t min_daily_volume;
    uint32_t bounce_flag_permille, complaint_flag_permille, complaint_suspend_permille;
    rl_pattern patterns[RL_MAX_PATTERNS];
    int n_patterns;
    rl_provider providers[RL_MAX_PROVIDERS];
    int n_providers;
    rl_override overrides[RL_MAX_OVERRIDES];
    int n_overrides;
} rl_policy;

/* Parses JSON text; on success writes a new *out (free with free()). On
 * error returns INVALID_ARGUMENT with err naming the JSON path. */
xd_code rl_policy_parse(const char *json, rl_policy **out, xd_err *err);

/* The built-in default policy (the defaults documented in README.md). */
const char *rl_policy_default_json(void);

/* Provider for an MX host by suffix on a label boundary; NULL if none. */
const char *rl_policy_provider_for_mx(const rl_policy *p, const char *mx_host);

const char *rl_kind_name(rl_kind kind);
const char *rl_tier_name(rl_tier tier);
rl_tier rl_tier_parse(const char *name); /* RL_TIER_NONE when unknown */

#endif
