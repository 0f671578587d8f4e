/*
 * tk_service.h: the ticket operations that take more than one step, free of
 * NNG and protobuf: Create (validate, repeat check, intake check, store).
 *
 * Memory: a tk_service borrows its store, clock and diagnose context.
 * Results live in the arena passed. Thread-safety: any number of threads may
 * call at once (the store serialises its own access).
 */
#ifndef TK_SERVICE_H
#define TK_SERVICE_H

#include "tk_access.h"
#include "tk_recheck.h"
#include "tk_store.h"
#include "tk_validate.h"

typedef struct tk_service {
    tk_store *store;
    const xd_clock *clock;
    tk_diagnose_fn diagnose;
    void *diagnose_ctx;
    tk_recheck_options recheck;
    char staff_org[TK_ORG_MAX + 1];
} tk_service;

/* Files a ticket for scope (staff must name the organization in
 * requested_org). Returns INVALID_ARGUMENT with *problems listing every
 * offending field and err->message naming them; ALREADY_EXISTS when the key
 * was used for other details. On XD_OK *out is the stored ticket (or the
 * earlier one, *created = 0, for a repeat). request_id keys the Create when
 * no idempotency key is given; parent is the RPC call (deadline) or NULL. */
xd_code tk_service_create(const tk_service *svc, const tk_scope *scope, const tk_create_input *in,
                          const char *request_id, void *parent, xd_arena *arena, tk_ticket **out,
                          int *created, tk_problems *problems, xd_err *err);

/* Hex FNV-1a of every detail of in and the org (detects a key reused for a
 * different ticket; not a security measure). out: at least 17 bytes. */
void tk_create_fingerprint(const char *org_id, const tk_create_input *in, char *out);

#endif
