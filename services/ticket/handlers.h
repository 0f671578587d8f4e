/*
 * handlers.h: the Ticket RPC methods: each maps its protobuf request to the
 * ticket logic (tk_*) and the result back, nothing more.
 * Memory: replies live in the call arena. Thread-safety: handlers run
 * concurrently; they share only the ticket_ctx.
 */
#ifndef TICKET_HANDLERS_H
#define TICKET_HANDLERS_H

#include "xd/rpc_server.h"

extern const xd_method_impl ticket_methods[];
extern const int ticket_method_count;

#endif
