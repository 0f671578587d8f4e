/*
 * ticket_client.h: calling xd-ticket as the gateway would (a caller with an
 * organization and a role), plus a raw envelope call that shows the error
 * details. Memory: replies live in the arena given. Thread-safety: one
 * test thread.
 */
#ifndef TICKET_CLIENT_H
#define TICKET_CLIENT_H

#include "envelope.pb-c.h"
#include "ticket.pb-c.h"
#include "xd/rpc_client.h"

/* Calls method as (org, role); *out in arena. */
xd_code tc_call(xd_client *c, const char *org, int role, const char *method,
                const ProtobufCMessage *req, const ProtobufCMessageDescriptor *reply_desc,
                xd_arena *arena, void *out, xd_err *err);

/* Sends one envelope by hand to url and returns the decoded reply (free
 * with xd__reply__free_unpacked), or NULL. */
Xd__Reply *tc_raw(const char *url, const char *org, int role, const char *method,
                  const ProtobufCMessage *req);

/* unix_ms as "2026-11-27T10:15:00+01:00" (a per-thread buffer, 8 in rotation). */
const char *tc_occurred_at(int64_t unix_ms);

/* A complete, valid Create request (strings are constants). */
Xd__CreateTicketRequest tc_valid_create(const char *recipient, const char *key);

/* Writes t the way support reads it, when XD_SHOW_TICKETS is set (the
 * README shows this output). */
void tc_show_ticket(const char *title, const Xd__SupportTicket *t);

#endif
