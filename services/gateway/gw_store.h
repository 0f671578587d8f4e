/*
 * gw_store.h: the gateway's SQLite file (<data_dir>/gateway.db):
 * organizations with their status, API keys (hashed), idempotency keys.
 *
 * Every mutation commits (WAL, synchronous=FULL) before it returns XD_OK.
 * Output structs are filled by copy; the caller owns them. Messages in errors
 * never contain a key secret. Thread-safety: one connection guarded by a
 * mutex; every function may be called from any thread.
 */
#ifndef GW_STORE_H
#define GW_STORE_H

#include <stddef.h>
#include <stdint.h>
#include "xd/clock.h"
#include "xd/status.h"
#include "gw_key.h"

#define GW_ORG_ID_MAX      32
#define GW_ORG_NAME_MAX    100
#define GW_REASON_MAX      500
#define GW_LABEL_MAX       100
#define GW_IDEM_KEY_MAX    128
#define GW_DIGEST_LEN      32
#define GW_OPERATOR_ORG    "Xenegrade"
#define GW_OPERATOR_ORG_ID "xenegrade" /* = ticket's default staff_org_id */

/* Values as in gateway.proto OrgStatus. */
enum { GW_ORG_ENABLED = 1, GW_ORG_SUSPENDED = 2 };

typedef struct gw_org {
    char id[GW_ORG_ID_MAX + 1];
    char name[GW_ORG_NAME_MAX + 1];
    int status;
    char reason[GW_REASON_MAX + 1];
    int64_t status_since_ms;
    char status_changed_by[GW_ORG_ID_MAX + 1];
    int64_t created_ms;
    int operator_org;
} gw_org;

typedef struct gw_api_key {
    char id[GW_KEY_ID_HEX + 1];
    char org_id[GW_ORG_ID_MAX + 1];
    int role; /* envelope.proto Role */
    char label[GW_LABEL_MAX + 1];
    int64_t created_ms;
    char created_by[GW_ORG_ID_MAX + 1];
    int64_t revoked_ms; /* 0 = active */
} gw_api_key;

typedef struct gw_store gw_store;

/* Opens (creating, migrating) db_path and loads the pepper at pepper_path
 * (created when absent). clock is borrowed and must outlive the store. */
xd_code gw_store_open(const char *db_path, const char *pepper_path, const xd_clock *clock,
                      gw_store **out, xd_err *err);
void gw_store_close(gw_store *store);

/* ---- organizations ---- */
/* ALREADY_EXISTS (naming the existing id) when the name is taken. */
xd_code gw_store_create_org(gw_store *s, const char *name, int operator_org, gw_org *out,
                            xd_err *err);
xd_code gw_store_get_org(gw_store *s, const char *org_id, gw_org *out, xd_err *err);
/* Orgs with id > after_id in id order, at most max; *n_out = how many. */
xd_code gw_store_list_orgs(gw_store *s, const char *after_id, int max, gw_org *out, int *n_out,
                           xd_err *err);
xd_code gw_store_set_org_status(gw_store *s, const char *org_id, int status, const char *reason,
                                const char *changed_by, gw_org *out, xd_err *err);

/* Suspends org_id only while it is still ENABLED with the status_since_ms
 * the caller judged (a compare-and-set: an operator's change in between
 * wins). *changed = 1 when it was suspended, 0 when the row had moved on. */
xd_code gw_store_auto_suspend(gw_store *s, const char *org_id, int64_t expected_since_ms,
                              const char *reason, const char *changed_by, int *changed,
                              xd_err *err);

/* ---- API keys ---- */
/* Makes a key; writes the row and the full key text (shown once). */
xd_code gw_store_create_key(gw_store *s, const char *org_id, int role, const char *label,
                            const char *created_by, gw_api_key *out, char *key_text,
                            size_t key_text_size, xd_err *err);
/* UNAUTHENTICATED for a malformed, unknown, wrong or revoked key (the message
 * does not say which beyond "revoked", and never echoes the secret). */
xd_code gw_store_authenticate(gw_store *s, const char *key_text, gw_api_key *out, xd_err *err);
xd_code gw_store_get_key(gw_store *s, const char *key_id, gw_api_key *out, xd_err *err);
xd_code gw_store_list_keys(gw_store *s, const char *org_id, int include_revoked, gw_api_key *out,
                           int max, int *n_out, xd_err *err);
/* Idempotent: revoking a revoked key returns it unchanged. */
xd_code gw_store_revoke_key(gw_store *s, const char *key_id, gw_api_key *out, xd_err *err);

/* Creates the operator organization when absent and one OPERATOR key in it
 * (created_by "bootstrap"): the first key of a fresh install. */
xd_code gw_store_bootstrap_operator(gw_store *s, const char *label, gw_api_key *out, char *key_text,
                                    size_t key_text_size, xd_err *err);

/* ---- idempotency keys ---- */
typedef enum gw_idem_state {
    GW_IDEM_NEW = 0,         /* reserved for this caller: run, then finish or abandon */
    GW_IDEM_REPLAY = 1,      /* same key, same digest: *reply_out holds the first reply */
    GW_IDEM_MISMATCH = 2,    /* same key, different request */
    GW_IDEM_IN_PROGRESS = 3, /* same key, same digest, first call still running */
} gw_idem_state;

/* Looks up (org, key). A reservation older than stale_ms, or made before
 * this process opened the store, is taken over (its process died). *reply_out is malloc'd for
 * REPLAY (caller frees); *first_ms is when the key was first used. */
xd_code gw_store_idem_begin(gw_store *s, const char *org_id, const char *key,
                            const unsigned char digest[GW_DIGEST_LEN], int64_t ttl_ms,
                            int64_t stale_ms, gw_idem_state *state, unsigned char **reply_out,
                            size_t *reply_len, int64_t *first_ms, xd_err *err);
/* Stores the reply of a NEW reservation (committed before returning). */
xd_code gw_store_idem_finish(gw_store *s, const char *org_id, const char *key,
                             const unsigned char *reply, size_t reply_len, xd_err *err);
/* Drops a NEW reservation whose call failed, so a retry runs again. */
void gw_store_idem_abandon(gw_store *s, const char *org_id, const char *key);
/* Deletes expired entries; returns how many. */
int gw_store_idem_expire(gw_store *s);

#endif
