/* vf_check.c: ValidateAddress and CheckRecipients handlers, and the address
 * step of Diagnose, on top of vf_addrcheck. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "verify.pb-c.h"
#include "vf_addrcheck.h"
#include "vf_handlers.h"
#include "xd/arena.h"
#include "xd/util.h"

#define VF_MAX_ADDRESSES 1000

static Xd__AddressCheck *check_msg(xd_arena *a, const char *address, const char *org,
                                   const vf_addr_result *r)
{
    Xd__AddressCheck *m = xd_arena_message(a, &xd__address_check__descriptor);
    m->address = xd_arena_strdup(a, address);
    m->verdict = r->verdict;
    m->normalized = xd_arena_strdup(a, r->normalized);
    m->syntax_diagnosis = xd_arena_strdup(a, r->diagnosis);
    m->suggestion = xd_arena_strdup(a, r->suggestion);
    m->role_account = r->role;
    m->domain_status = r->domain_status;
    m->mx_hosts = (char **)xd_arena_ptrs(a, (size_t)r->n_mx + 1);
    for (int i = 0; i < r->n_mx; i++)
        m->mx_hosts[m->n_mx_hosts++] = xd_arena_strdup(a, r->mx[i]);
    if (r->suppressed) {
        Xd__Suppression *s = xd_arena_message(a, &xd__suppression__descriptor);
        s->org_id = xd_arena_strdup(a, org);
        s->address = xd_arena_strdup(a, r->normalized);
        s->scope = xd_arena_strdup(a, r->sup_scope);
        s->reason = r->sup_reason;
        s->created_ms = r->sup_created_ms;
        s->expires_ms = r->sup_expires_ms;
        s->source = xd_arena_strdup(a, r->sup_source);
        s->detail = xd_arena_strdup(a, r->sup_detail);
        m->suppression = s;
    }
    m->recent_bounces = r->recent_bounces;
    m->summary = xd_arena_strdup(a, r->summary);
    return m;
}

static xd_code check_category(const char *category, xd_err *err)
{
    size_t n = category ? strlen(category) : 0;
    if (n > 64 || (n && xd_has_crlf_nul(category, n)))
        return xd_err_field(err, XD_INVALID_ARGUMENT, "category",
                            "category must be one line of at most 64 bytes");
    return XD_OK;
}

xd_code vf_h_validate_address(xd_call *call, const ProtobufCMessage *req_, ProtobufCMessage *rep_,
                              xd_err *err)
{
    const Xd__ValidateAddressRequest *req = (const void *)req_;
    Xd__ValidateAddressReply *rep = (void *)rep_;
    const char *org = NULL;
    xd_code rc = vf_resolve_org(call, req->org_id, &org, err);
    if (rc == XD_OK)
        rc = check_category(req->category, err);
    if (rc != XD_OK)
        return rc;
    if (req->address && strlen(req->address) > 1024)
        return xd_err_field(err, XD_INVALID_ARGUMENT, "address",
                            "address is longer than 1024 bytes");
    vf_service *svc = xd_call_service(call);
    vf_addr_result r;
    rc = vf_check_address(svc->store, svc->dns, org, req->address, req->category, req->check_dns,
                          &r, err);
    if (rc != XD_OK)
        return rc;
    rep->check = check_msg(xd_call_arena(call), req->address, org, &r);
    return XD_OK;
}

xd_code vf_h_check_recipients(xd_call *call, const ProtobufCMessage *req_, ProtobufCMessage *rep_,
                              xd_err *err)
{
    const Xd__CheckRecipientsRequest *req = (const void *)req_;
    Xd__CheckRecipientsReply *rep = (void *)rep_;
    const char *org = NULL;
    xd_code rc = vf_resolve_org(call, req->org_id, &org, err);
    if (rc == XD_OK)
        rc = check_category(req->category, err);
    if (rc != XD_OK)
        return rc;
    if (req->n_addresses == 0)
        return xd_err_field(err, XD_INVALID_ARGUMENT, "addresses", "give at least one address");
    if (req->n_addresses > VF_MAX_ADDRESSES)
        return xd_err_field(err, XD_INVALID_ARGUMENT, "addresses",
                            "%zu addresses; check at most %d per call", req->n_addresses,
                            VF_MAX_ADDRESSES);
    vf_service *svc = xd_call_service(call);
    xd_arena *a = xd_call_arena(call);
    rep->checks = (Xd__AddressCheck **)xd_arena_ptrs(a, req->n_addresses);
    vf_addr_result *r = malloc(sizeof *r);
    if (!r)
        return xd_err_set(err, XD_RESOURCE_EXHAUSTED, "out of memory");
    for (size_t i = 0; i < req->n_addresses; i++) {
        /* Give up politely when the caller's deadline is near (DNS can be slow). */
        if (xd_call_remaining_ms(call) < 50) {
            free(r);
            return xd_err_set(err, XD_DEADLINE_EXCEEDED,
                              "checked %zu of %zu addresses before the deadline; send fewer "
                              "per call or allow more time",
                              i, req->n_addresses);
        }
        const char *addr = req->addresses[i];
        if (strlen(addr) > 1024) {
            free(r);
            return xd_err_field(err, XD_INVALID_ARGUMENT, "addresses",
                                "addresses[%zu] is longer than 1024 bytes", i);
        }
        rc = vf_check_address(svc->store, svc->dns, org, addr, req->category, req->check_dns, r,
                              err);
        if (rc != XD_OK) {
            free(r);
            return rc;
        }
        rep->checks[rep->n_checks++] = check_msg(a, addr, org, r);
    }
    free(r);
    return XD_OK;
}

/* Diagnose's address step: syntax, then whether the domain takes mail. */
static int address_step(void *ud, const char *address, char *finding, size_t size)
{
    vf_service *svc = ud;
    vf_addr_result *r = malloc(sizeof *r);
    if (!r) {
        snprintf(finding, size, "Could not check the address (out of memory).");
        return -1;
    }
    xd_err err;
    int verdict = -1;
    if (vf_check_address(NULL, svc->dns, NULL, address, "", svc->dns != NULL, r, &err) == XD_OK) {
        snprintf(finding, size, "%s", r->summary);
        verdict = (r->verdict == XD__ADDRESS_VERDICT__ADDRESS_VERDICT_INVALID_SYNTAX ||
                   r->verdict == XD__ADDRESS_VERDICT__ADDRESS_VERDICT_NO_MAIL_DOMAIN)
                      ? 1
                  : r->verdict == XD__ADDRESS_VERDICT__ADDRESS_VERDICT_DNS_UNAVAILABLE ? -1
                                                                                       : 0;
        if (verdict == 0 && r->suggestion[0])
            snprintf(finding, size, "%s", r->summary);
    } else {
        snprintf(finding, size, "Could not check the address: %s", err.message);
    }
    free(r);
    return verdict;
}

vf_address_checker vf_diagnose_checker(vf_service *svc, void **ud)
{
    *ud = svc;
    return address_step;
}
