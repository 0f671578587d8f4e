/*
 * e2e_flow.h: what the end-to-end test's steps share: the running suite and
 * its peers, the organizations and keys the operator made, and small
 * helpers that send mail and read status through the gateway (NNG) only.
 * Memory: replies live in g_e2e.arena until e2e_reset_arena.
 * Thread-safety: single-threaded test code.
 */
#ifndef E2E_FLOW_H
#define E2E_FLOW_H

#include "gateway.pb-c.h"
#include "xt_peers.h"
#include "xt_suite.h"

typedef struct e2e_state {
    xt_suite s;
    char peers[256];
    xt_dns dns;
    xt_sink sink;   /* 127.0.0.1: the MX of e2e.test */
    xt_sink reject; /* 127.0.0.2: the MX of rejects.test, 5xx to every RCPT */
    xt_relay relay; /* the organization's own server: STARTTLS + AUTH */
    char org_a[64], org_b[64];
    char *admin_a, *module_a, *support_a, *support_b, *module_b, *admin_b;
    char dkim_name[300];
    char dkim_chunks[512]; /* file: the TXT record's strings, one per line */
    char message_id[64];   /* the first SendEmail's message */
    char ticket_id[64];
    xd_arena *arena;
} e2e_state;

extern e2e_state g_e2e;

void e2e_reset_arena(void);

/* SendEmail over the gateway's NNG socket: module "registration", From
 * noreply@acme.test, client "client-42", transactional, per-recipient
 * copies, to the n addresses; idem = idempotency key (NULL = none). */
xd_code e2e_send(const char *key, const char *idem, const char *const *to, size_t n,
                 Xd__SendEmailReply **out, xd_err *err);

/* GetEmailStatus until every recipient of message_id is in a final state
 * (bounded by timeout_ms); the last reply, or NULL on timeout. */
Xd__GetMessageStatusReply *e2e_wait_final(const char *key, const char *message_id,
                                          size_t want_recipients, int64_t timeout_ms);

/* The record of one recipient in a status reply (NULL when absent). */
const Xd__RecipientRecord *e2e_record(const Xd__GetMessageStatusReply *r, const char *rcpt);

/* The sink's message file whose envelope names rcpt ("" when none yet). */
void e2e_sink_file(const xt_sink *k, const char *rcpt, char *out, size_t cap);

#endif
