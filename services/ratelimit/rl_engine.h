/*
 * rl_engine.h: the ratelimit decision engine: all state in memory, changes
 * journaled for the store (rl_store.h) by a background writer.
 *
 * Flow of a mutating call: the engine decides under its mutex, applies the
 * change in memory, marks the touched objects dirty and returns a sequence
 * number the caller must wait for before replying (0 = none). The store's
 * writer collects dirty objects into one SQLite transaction (group commit)
 * and then declares that sequence durable.
 *
 * Consume does not wait for a commit when the grant is covered by durable
 * headroom (rl_headroom.h): each counter key's record promises how much more
 * it may grant, and the run's epoch record until when; a restore after an
 * unclean stop charges those promises in full, so it never over-admits.
 * Leases, Refund, Feedback and SetPolicy wait for their commit. Request ids
 * are journaled in the background. Without a store attached every sequence
 * is durable at once (unit tests, the in-process benchmark).
 *
 * Memory: the engine owns its policy and state; outputs are caller-owned
 * structs filled by copy. Thread-safety: every function is safe from any
 * thread (one mutex inside).
 */
#ifndef RL_ENGINE_H
#define RL_ENGINE_H

#include <stdint.h>
#include "rl_policy.h"
#include "xd/status.h"

typedef struct rl_engine rl_engine;

typedef struct rl_engine_options {
    uint32_t window_max_entries; /* window granule = window / this (min 1 ms); 0 = 256 */
    uint64_t max_keys;           /* counter keys in memory; 0 = 4,000,000 */
    uint32_t dedup_max;          /* remembered request ids; 0 = 1,000,000 */
    int64_t dedup_ttl_ms;        /* how long a request id is remembered; 0 = 24 h */
} rl_engine_options;

/* What a request is about; NULL or "" = not given. */
typedef struct rl_subject {
    const char *org_id, *ip, *domain, *provider, *mx_host;
} rl_subject;

typedef enum rl_verdict {
    RL_GRANTED = 1,
    RL_PARTIAL = 2,
    RL_DENIED = 3,
} rl_verdict;

typedef struct rl_rule_outcome {
    char rule[RL_NAME_MAX];
    rl_kind kind;
    uint64_t effective_limit;
    uint64_t available;
    int64_t retry_after_ms;
} rl_rule_outcome;

typedef struct rl_decision {
    rl_verdict verdict;
    uint32_t granted;
    char binding_rule[RL_NAME_MAX];
    int64_t retry_after_ms; /* 0 granted, -1 never at current limits */
    char reason[256];
    char provider[RL_NAME_MAX];
    int replayed;
    int n_rules;
    rl_rule_outcome rules[RL_MAX_RULES];
    uint64_t seq; /* wait for this before replying */
} rl_decision;

typedef struct rl_lease_grant {
    int granted;
    char lease_id[33];
    int64_t expires_at_ms;
    uint32_t messages_per_connection; /* 0 = no cap */
    int64_t retry_after_ms;
    char binding_rule[RL_NAME_MAX];
    char reason[256];
    uint64_t seq;
} rl_lease_grant;

typedef enum rl_feedback_kind {
    RL_FB_DELIVERED = 1,
    RL_FB_DEFERRED = 2,
    RL_FB_BOUNCED = 3,
    RL_FB_COMPLAINT = 4,
} rl_feedback_kind;

typedef struct rl_feedback_result {
    char matched[8][RL_NAME_MAX];
    int n_matched;
    rl_tier org_tier, ip_tier;
    uint64_t seq;
} rl_feedback_result;

typedef struct rl_rule_state {
    char rule[RL_NAME_MAX];
    rl_kind kind;
    char key[1200];
    uint64_t base_limit, effective_limit, used, available;
    int64_t period_ms;
    char why[512];
} rl_rule_state;

typedef struct rl_explain {
    int n_rules;
    rl_rule_state rules[RL_MAX_RULES];
    rl_tier org_tier, ip_tier;
    char org_why[512], ip_why[512];
    char penalties[16][512];
    int n_penalties;
    char provider[RL_NAME_MAX];
    uint64_t policy_version;
} rl_explain;

/* Creates an engine with policy (taken over; NULL = the default policy),
 * its JSON text (copied) and version. On success writes *out. */
xd_code rl_engine_new(const rl_engine_options *opt, rl_policy *policy, const char *policy_json,
                      uint64_t policy_version, rl_engine **out, xd_err *err);
void rl_engine_free(rl_engine *e);

/* Consume (commit=1) or Check (commit=0) `recipients` for subject. A
 * request_id (required when commit) seen before returns the stored answer
 * with replayed=1. A denial is an answer too (OK with verdict DENIED). */
xd_code rl_engine_consume(rl_engine *e, const char *request_id, const rl_subject *s,
                          uint32_t recipients, int allow_partial, int commit, int64_t now_ms,
                          rl_decision *out, xd_err *err);

/* Gives back up to `recipients` of consume_request_id's grant. */
xd_code rl_engine_refund(rl_engine *e, const char *request_id, const char *consume_request_id,
                         uint32_t recipients, int64_t now_ms, uint32_t *refunded, uint64_t *seq,
                         xd_err *err);

xd_code rl_engine_acquire(rl_engine *e, const char *request_id, const rl_subject *s, int64_t now_ms,
                          rl_lease_grant *out, xd_err *err);
/* NOT_FOUND for an unknown lease; FAILED_PRECONDITION for an expired one. */
xd_code rl_engine_renew(rl_engine *e, const char *lease_id, int64_t now_ms, int64_t *expires_at_ms,
                        uint64_t *seq, xd_err *err);
/* Idempotent: *released = 1 only when this call freed a live slot. */
xd_code rl_engine_release(rl_engine *e, const char *lease_id, int64_t now_ms, int *released,
                          uint64_t *seq, xd_err *err);

xd_code rl_engine_feedback(rl_engine *e, const char *event_id, const rl_subject *s,
                           rl_feedback_kind kind, uint32_t smtp_code, const char *enhanced,
                           const char *text, uint32_t recipients, int64_t now_ms,
                           rl_feedback_result *out, xd_err *err);

/* Replaces the policy; identical JSON keeps the version (idempotent). */
xd_code rl_engine_set_policy(rl_engine *e, const char *json, uint64_t expected_version,
                             uint64_t *version, uint32_t *n_rules, uint64_t *seq, xd_err *err);

xd_code rl_engine_explain(rl_engine *e, const rl_subject *s, int64_t now_ms, rl_explain *out,
                          xd_err *err);

/* Drops state that no longer matters (empty windows, idle GCRA, expired
 * leases), visiting at most max_visit keys from a rolling cursor. */
void rl_engine_sweep(rl_engine *e, int64_t now_ms, size_t max_visit);

/* Active counter keys, leases, remembered request ids. */
void rl_engine_counts(rl_engine *e, uint64_t *keys, uint64_t *leases, uint64_t *dedup);

/* --- durability (used by rl_store) --- */

/* Kinds of persisted items (the store's `kind` column). */
enum {
    RL_ITEM_POLICY = 1,
    RL_ITEM_SLOT = 2,
    RL_ITEM_LEASE = 3,
    RL_ITEM_REP = 4,
    RL_ITEM_DEDUP = 5,
    RL_ITEM_EVENT = 6,
    RL_ITEM_EPOCH = 7,
};

typedef struct rl_item {
    int kind;
    char *key;           /* owned */
    int64_t at_ms;       /* creation time (dedup/event pruning) */
    unsigned char *blob; /* owned; NULL = delete the item */
    size_t blob_len;
    uint32_t gen; /* SLOT: the collected key's generation (0 = none) */
    uint64_t hw;  /* SLOT: the key's high-water mark once this is durable */
} rl_item;

struct rl_allow_table;

typedef struct rl_batch {
    rl_item *items;
    size_t n, cap;
    uint64_t seq;                 /* durable once committed */
    int64_t until_ms;             /* the epoch promise in this batch (when allow) */
    struct rl_allow_table *allow; /* owned; the allowances in this batch, or NULL */
} rl_batch;

void rl_batch_free(rl_batch *b);

/* Commits what is dirty now (collect + write + rl_engine_durable); returns
 * 0 on success. Called by a waiting caller (leader-based group commit: the
 * first waiter commits for everyone, with no hand-off to another thread)
 * and by the store's background thread. */
typedef int (*rl_flush_fn)(void *arg);

/* Attaches a store: from now on sequences become durable only through
 * rl_engine_durable; flush commits on a waiter's behalf. */
void rl_engine_attach_store(rl_engine *e, rl_flush_fn flush, void *arg);

/* Waits up to timeout_ms until something is dirty (or rl_engine_wake). */
void rl_engine_wait_work(rl_engine *e, int64_t timeout_ms);

/* Moves every dirty object, serialized, into b (appending) and sets b->seq.
 * Returns 1 when b got items. */
int rl_engine_collect(rl_engine *e, rl_batch *b);

/* Declares b committed (ok=1: its sequence is durable and its headroom may
 * be used) or the store failing (ok=0, b may be NULL). */
void rl_engine_durable(rl_engine *e, const rl_batch *b, int ok);

/* Waits until seq is durable. 0 on success; -1 when the store failed or
 * timeout_ms passed (the caller answers UNAVAILABLE). */
int rl_engine_wait_durable(rl_engine *e, uint64_t seq, int64_t timeout_ms);

/* Loads one persisted item at start-up (policy items first). A later item
 * for the same (kind, key) replaces the earlier one; blob NULL deletes it.
 * Unreadable items are skipped and counted in *bad. fresh = 1 promises that
 * (kind, key) was not restored before (skips the lookups). */
void rl_engine_restore(rl_engine *e, int kind, const char *key, int64_t at_ms,
                       const unsigned char *blob, size_t len, int fresh, uint64_t *bad);

/* Sizes the tables before a restore of about n_slots keys and n_dedup ids
 * and starts this run from the stored epoch record (NULL = none): a run
 * that did not stop cleanly is charged to every restored or new key. Call
 * before the first rl_engine_restore. */
void rl_engine_restore_begin(rl_engine *e, size_t n_slots, size_t n_dedup,
                             const unsigned char *epoch, size_t epoch_len, int64_t now_ms);

/* Restores a snapshot chunk (rl_engine_snapshot's format); counts items
 * into *items and unreadable ones into *bad. */
void rl_engine_restore_chunk(rl_engine *e, const unsigned char *p, size_t len, uint64_t *items,
                             uint64_t *bad);

/* Called with each encoded snapshot chunk; returns 0 to go on. */
typedef int (*rl_chunk_fn)(void *arg, const unsigned char *p, size_t len, uint64_t n_items);

/* Serializes the whole state (exact: no headroom) in chunks of about
 * chunk_bytes for a clean stop. Returns 0, or the callback's failure. The
 * epoch record to store with it (clean) goes to *epoch (owned by caller). */
int rl_engine_snapshot(rl_engine *e, size_t chunk_bytes, rl_chunk_fn fn, void *arg,
                       unsigned char **epoch, size_t *epoch_len);

/* The policy item (version + JSON) as stored; owned by the caller. */
void rl_engine_policy_blob(rl_engine *e, unsigned char **blob, size_t *len);

/* Ends a restore: orders remembered request ids by age and trims them to
 * dedup_max. */
void rl_engine_restore_done(rl_engine *e);

/* Journals the current policy (after start-up picked a new one). */
void rl_engine_journal_policy(rl_engine *e);

/* Wakes the writer so it exits its wait (shutdown). */
void rl_engine_wake(rl_engine *e);

#endif
