/* vf_check.c: recipient checks (ValidateAddress, CheckRecipients).
 * Waiting for the shared address parser and resolver (xd/address.h,
 * xd/dns.h): until then both methods answer UNIMPLEMENTED and Diagnose skips
 * the address step. */
#include "verify.pb-c.h"
#include "vf_handlers.h"

vf_address_checker vf_diagnose_checker(vf_service *svc, void **ud)
{
    (void)svc;
    *ud = NULL;
    return NULL;
}

xd_code vf_h_validate_address(xd_call *call, const ProtobufCMessage *req, ProtobufCMessage *rep,
                              xd_err *err)
{
    (void)call, (void)req, (void)rep;
    return xd_err_set(err, XD_UNIMPLEMENTED, "ValidateAddress is not built yet");
}

xd_code vf_h_check_recipients(xd_call *call, const ProtobufCMessage *req, ProtobufCMessage *rep,
                              xd_err *err)
{
    (void)call, (void)req, (void)rep;
    return xd_err_set(err, XD_UNIMPLEMENTED, "CheckRecipients is not built yet");
}
