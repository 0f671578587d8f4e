/*
 * vf_handlers.h: what handlers.c shares with vf_check.c (the recipient-check
 * handlers and the Diagnose address checker live there).
 * Thread-safety: handlers run on many threads; see vf_service.h.
 */
#ifndef VF_HANDLERS_H
#define VF_HANDLERS_H

#include "vf_diagnose.h"
#include "vf_service.h"

/* The organization a request acts for (the caller's; operators and suite
 * services may name one). */
xd_code vf_resolve_org(xd_call *call, const char *requested, const char **org, xd_err *err);

xd_code vf_h_validate_address(xd_call *call, const ProtobufCMessage *req, ProtobufCMessage *rep,
                              xd_err *err);
xd_code vf_h_check_recipients(xd_call *call, const ProtobufCMessage *req, ProtobufCMessage *rep,
                              xd_err *err);

/* The checker Diagnose uses for its address step; NULL = step skipped. */
vf_address_checker vf_diagnose_checker(vf_service *svc, void **ud);

#endif
