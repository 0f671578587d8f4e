/*
 * vf_addrcheck.h: checks one recipient address before sending: RFC 5321
 * syntax with a diagnosis (xd/address.h), typo suggestions for common
 * provider domains, role accounts, the domain over DNS (xd/dns.h: MX, A/AAAA
 * fallback, null MX, NXDOMAIN; cached by the resolver), suppression and the
 * address's recent bounces. NNG-free: handlers map the result to protobuf.
 * Memory: the caller owns vf_addr_result; no allocation outlives a call.
 * Thread-safety: safe from many threads (the store and resolver are).
 */
#ifndef VF_ADDRCHECK_H
#define VF_ADDRCHECK_H

#include "vf_store.h"
#include "xd/dns.h"

#define VF_ADDR_MAX_MX 10

typedef struct vf_addr_result {
    Xd__AddressVerdict verdict;
    char normalized[320];
    char diagnosis[256];  /* syntax problem in plain words, "" when fine */
    char suggestion[320]; /* likely intended address, "" when none */
    int role;
    Xd__DomainStatus domain_status;
    int n_mx;
    char mx[VF_ADDR_MAX_MX][256];
    int suppressed;
    char sup_scope[80], sup_source[80], sup_detail[520];
    Xd__SuppressionReason sup_reason;
    int64_t sup_created_ms, sup_expires_ms;
    unsigned recent_bounces;
    char summary[512];
} vf_addr_result;

/* store may be NULL (no suppression/bounce checks), dns may be NULL (no DNS
 * step). Returns XD_OK with the verdict in *out for any address text; an
 * error only when the store fails. */
xd_code vf_check_address(vf_store *store, xd_dns *dns, const char *org_id, const char *address,
                         const char *category, int check_dns, vf_addr_result *out, xd_err *err);

/* The closest common provider domain within a small edit distance, or NULL. */
const char *vf_typo_domain(const char *domain);

/* 1 when the local part is a role account (postmaster, info, sales, ...). */
int vf_is_role_account(const char *local);

#endif
