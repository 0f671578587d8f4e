/*
 * rl_engine_int.h: the engine's internal state, shared by rl_engine.c,
 * rl_lease.c, rl_reputation.c and rl_explain.c. Not for other modules.
 *
 * Every object here is owned by the engine and reached through its maps;
 * everything is guarded by rl_engine.mu (functions named *_locked expect it
 * held).
 */
#ifndef RL_ENGINE_INT_H
#define RL_ENGINE_INT_H

#include <pthread.h>
#include <stdint.h>
#include "rl_codec.h"
#include "rl_dedup.h"
#include "rl_engine.h"
#include "rl_headroom.h"
#include "rl_map.h"
#include "rl_window.h"

#define RL_ID_MAX       128 /* request ids, event ids */
#define RL_KEY_MAX      1200
#define RL_SUBJ_KEY_MAX (RL_VALUE_MAX + 8)
#define RL_MAX_PEN      16

/* One live connection lease counted in a CONNECTIONS slot. */
typedef struct rl_conn {
    uint64_t lease_no;
    int64_t expires_ms;
} rl_conn;

/* The counter state for one (rule, scope values) key. */
typedef struct rl_slot {
    rl_window win;  /* WINDOW */
    int64_t tat_ns; /* GCRA */
    rl_conn *conns; /* CONNECTIONS */
    uint32_t n_conns, cap_conns;
    /* Headroom (rl_headroom.h), WINDOW and GCRA only. Units: recipients for
     * a window, ns of TAT for GCRA. */
    uint64_t used;       /* granted by this run */
    uint64_t hw;         /* used may reach this without a commit; RL_HW_UNSET */
    uint64_t next_h;     /* headroom for the next record: min(chunk, room left) */
    int64_t last_res_ms; /* when the last reservation was asked for */
    uint32_t chunk;      /* reservation size, recipients (adapts to the rate) */
    uint32_t gen;        /* tells a re-created key from the collected one */
    uint8_t kind;
    uint8_t dirty;
    char key[]; /* "<kind letter>:<rule>|o=..|i=..|d=..|p=.." */
} rl_slot;

typedef struct rl_lease {
    char id[33];
    char request_id[RL_ID_MAX + 1];
    uint64_t lease_no;
    int64_t expires_ms, ttl_ms;
    uint32_t messages;
    uint8_t dirty;
    int n_keys;
    char **keys; /* CONNECTIONS slot keys this lease holds */
} rl_lease;

typedef struct rl_penalty {
    char provider[RL_NAME_MAX]; /* "" = every provider */
    char pattern[RL_NAME_MAX];
    uint32_t permille;
    int64_t until_ms;
} rl_penalty;

/* Reputation of one sending subject ("org:<id>" or "ip:<addr>"). */
typedef struct rl_rep rl_rep;
struct rl_rep {
    rl_tier tier;
    int64_t created_ms, tier_since_ms;
    char why[128];
    int64_t day; /* UTC day number of the counters below */
    uint64_t vol, bounced, complaints, deferred;
    int violation;
    int clean_days;
    rl_penalty *pen;
    int n_pen;
    uint8_t dirty;
    char key[RL_SUBJ_KEY_MAX];
};

typedef struct rl_event {
    char id[RL_ID_MAX + 1];
    int64_t at_ms;
    uint8_t dirty;
    struct rl_event *next;
} rl_event;

typedef struct rl_dirty {
    int kind;
    char *key;
} rl_dirty;

struct rl_engine {
    pthread_mutex_t mu;
    pthread_cond_t work_cv, durable_cv;
    rl_engine_options opt;
    rl_policy *policy;
    char *policy_json;
    uint64_t policy_version;
    int policy_dirty;
    int64_t last_now_ms; /* clock never goes back inside the engine */

    rl_map slots, leases, lease_reqs, reps, dedup, events;
    rl_dedup *dedup_head, *dedup_tail;
    rl_event *event_head, *event_tail;
    uint64_t next_lease_no;
    size_t sweep_pos, lease_sweep_pos;

    /* Headroom: what a crashed run may have granted unseen (rl_headroom.h). */
    rl_epoch epoch;                       /* this run; epoch.until_ms as collected */
    int64_t until_durable;                /* no grant without a commit after this */
    rl_allow_table allow_durable;         /* this run's allowances as committed */
    uint64_t allow_by_rule[RL_MAX_RULES]; /* allow_durable for policy->rules[i] */
    uint8_t epoch_dirty;                  /* the epoch record waits in the dirty list */
    int restoring;
    uint32_t next_gen;
    int64_t last_grant_ms;

    rl_dirty *dirty;
    size_t n_dirty, cap_dirty;
    uint64_t seq, durable_seq;
    int store_attached, store_failed, wake;
    int flushing; /* a caller is committing for everyone */
    rl_flush_fn flush;
    void *flush_arg;
};

/* Monotonic engine time. */
int64_t rl_now_locked(rl_engine *e, int64_t now_ms);

/* Marks an object dirty (once per batch) and returns the new sequence. */
uint64_t rl_touch_locked(rl_engine *e, int kind, const char *key, uint8_t *flag);

rl_slot *rl_slot_get_locked(rl_engine *e, const char *key);
void rl_slot_free(rl_slot *s);
/* Adds a slot for a key known to be absent (a restore); NULL on OOM. */
rl_slot *rl_slot_insert_locked(rl_engine *e, const char *key, rl_kind kind);
/* Returns the slot, creating it empty; NULL on OOM or when max_keys is hit. */
rl_slot *rl_slot_make_locked(rl_engine *e, const char *key, rl_kind kind);
void rl_slot_purge_conns(rl_slot *s, int64_t now_ms);

/* Headroom (rl_reserve.c). After a grant of `units` on s (rule index i,
 * room = units still free under the limit, unit = units per recipient):
 * returns the sequence the caller must wait for, or 0 when the grant is
 * covered by durable headroom. Asks for more headroom in the background
 * when little is left. */
uint64_t rl_reserve_after_grant_locked(rl_engine *e, rl_slot *s, int rule_index, uint64_t units,
                                       uint64_t room, uint64_t unit, int64_t now);
/* Charges a slot restored from a record of run `run` (0 = absent) with what
 * crashed runs may have granted unseen: its headroom h and every phantom
 * allowance of runs >= run, each at that run's until_ms. 0, -1 on OOM. */
int rl_reserve_charge_locked(rl_engine *e, rl_slot *s, uint32_t run, uint64_t h);
/* Recomputes allow_by_rule after a policy or allowance change. */
void rl_reserve_refresh_locked(rl_engine *e);

/* Request context: validated, lower-cased subject and the provider. */
typedef struct rl_req {
    char org[RL_VALUE_MAX], ip[RL_VALUE_MAX], domain[RL_VALUE_MAX], provider[RL_NAME_MAX];
    struct rl_rep *org_rep, *ip_rep; /* looked up by rl_req_scale_locked */
    uint32_t factor_permille;        /* min of tiers and penalties */
    char why[512];
} rl_req;

/* Validates and normalises s into r (provider from mx_host when empty). */
xd_code rl_req_init_locked(rl_engine *e, const rl_subject *s, rl_req *r, xd_err *err);

/* Builds the slot key of rule for r; 0 when the rule does not apply. */
size_t rl_rule_key(const rl_rule *rule, const rl_req *r, char *out, size_t size);

/* Limit after scaling by r's factor. */
uint64_t rl_effective(const rl_rule *rule, const rl_req *r, uint64_t value);

/* Reputation (rl_reputation.c). */
rl_rep *rl_rep_get_locked(rl_engine *e, const char *kind, const char *id);
rl_rep *rl_rep_make_locked(rl_engine *e, const char *kind, const char *id, int64_t now_ms);
/* Tier factor of a subject (rep may be NULL: a subject never seen is new). */
uint32_t rl_rep_factor_locked(rl_engine *e, const char *subj_key, const rl_rep *rep, int64_t now_ms,
                              rl_tier *tier, char *why, size_t why_size);
/* Sets r->factor_permille and r->why from tiers and penalties. */
void rl_req_scale_locked(rl_engine *e, rl_req *r, int64_t now_ms);
void rl_rep_encode(const rl_rep *rep, rl_wbuf *b);
int rl_rep_decode(rl_rep *rep, rl_rbuf *rb);
void rl_rep_free(rl_rep *rep);

/* Leases (rl_lease.c). */
void rl_lease_encode(const rl_lease *l, rl_wbuf *b);
void rl_lease_restore_locked(rl_engine *e, const char *id, const unsigned char *blob, size_t len,
                             uint64_t *bad);
void rl_lease_free(rl_lease *l);
void rl_lease_drop_locked(rl_engine *e, rl_lease *l);

const char *rl_slot_key_of(const void *v);
const char *rl_lease_id_of(const void *v);
const char *rl_lease_req_of(const void *v);
const char *rl_rep_key_of(const void *v);
const char *rl_dedup_key_of(const void *v);
const char *rl_event_key_of(const void *v);

/* Checks an id (request, event, lease): 1..max printable ASCII, no spaces. */
xd_code rl_check_id(const char *id, size_t max, const char *field, xd_err *err);

#endif
